// The `/v1/posts` request and response schemas: one source for validation, types and the OpenAPI document.
import { z } from 'zod';
import { NETWORKS, ERROR_CATEGORIES } from '../providers/types.ts';
import { POST_STATUSES, TARGET_STATUSES } from '../db/schema.ts';
import { TenantId } from '../http/schemas.ts';

const MediaRef = z.union([
  z.object({ id: z.string().min(1).max(64), alt: z.string().max(2000).optional() }),
  z.object({ url: z.string().url().max(2048), filename: z.string().min(1).max(255).optional(), alt: z.string().max(2000).optional() }),
]);
export type MediaRefInput = z.infer<typeof MediaRef>;

export const ContainerInput = z.object({
  content: z.string().max(100_000).optional(),
  media: z.array(MediaRef).max(35).optional(),
});
export type ContainerBody = z.infer<typeof ContainerInput>;

/** Per-network options under the network's name (`"x": {…}`), each checked by its adapter's own schema. */
const networkOptions = Object.fromEntries(
  NETWORKS.map((n) => [n, z.record(z.string(), z.unknown()).optional().describe(`Options for ${n} targets (its adapter's schema)`)]),
) as Record<(typeof NETWORKS)[number], z.ZodOptional<z.ZodRecord<z.ZodString, z.ZodUnknown>>>;

const Timestamp = z.iso.datetime({ offset: true });

export const CreatePostBody = z.object({
  content: z.string().max(100_000).optional().describe('The simple form: one container of text'),
  containers: z.array(ContainerInput).min(1).max(25).optional().describe('The first is the post; the rest its thread (or comments)'),
  accounts: z
    .array(z.string().min(1).max(128))
    .max(100)
    .optional()
    .describe('Account ids, network names (every active account of that network) or usernames; none → a draft'),
  scheduledAt: Timestamp.optional().describe('In the past or absent → publish now'),
  isDraft: z.boolean().optional(),
  tenant_id: TenantId.optional().describe('Only accounts of this tenant match network names and usernames'),
  ...networkOptions,
});
export type CreatePostBody = z.infer<typeof CreatePostBody>;

export const UpdatePostBody = z.object({
  scheduledAt: Timestamp.nullable().optional(),
  containers: z.array(ContainerInput).min(1).max(25).optional().describe('Replaces every container'),
  isDraft: z.boolean().optional(),
});

export const ListPostsQuery = z.object({
  social_account_id: z.string().max(64).optional(),
  tenant_id: TenantId.optional(),
  tenantId: TenantId.optional(),
  status: z.enum(POST_STATUSES).optional(),
  created_after: Timestamp.optional(),
  created_before: Timestamp.optional(),
  scheduled_after: Timestamp.optional(),
  scheduled_before: Timestamp.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

const TargetView = z.object({
  id: z.string().describe('The account id'),
  network: z.string(),
  username: z.string().nullable(),
  nickname: z.string().nullable(),
  tenant_id: z.string().nullable(),
  status: z.enum(TARGET_STATUSES),
  error: z.string().nullable(),
  errorCategory: z.enum(ERROR_CATEGORIES).nullable().or(z.string().nullable()),
  platformPostId: z.string().nullable().describe("The first post's id at the network (a thread's first post)"),
  platformPostUrl: z.string().nullable(),
  platformPostIds: z.array(z.string()).describe('Every part at the network, in order'),
  publishedAt: z.string().nullable(),
  attempts: z.number().int(),
  remoteDeletedAt: z.string().nullable(),
});

export const PostView = z
  .object({
    id: z.string(),
    orgId: z.string(),
    status: z.enum(POST_STATUSES),
    isDraft: z.boolean(),
    scheduledAt: z.string().nullable(),
    publishedAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    tenant_id: z.string().nullable(),
    workspace_id: z.string().nullable(),
    containers: z.array(
      z.object({
        id: z.string(),
        content: z.string(),
        media: z.array(z.object({ id: z.string(), url: z.string().nullable(), filename: z.string().nullable(), content_type: z.string().nullable(), alt: z.string().nullable() })),
      }),
    ),
    socialAccounts: z.array(TargetView),
  })
  .meta({ id: 'Post' });

type PostViewShape = z.output<typeof PostView>;
type TargetShape = PostViewShape['socialAccounts'][number];

const TARGET_EXAMPLE: TargetShape = {
  id: 'acc_01jf3k2n8q9x4b7c6d5e',
  network: 'linkedin',
  username: 'ada-lovelace',
  nickname: 'Ada Lovelace',
  tenant_id: 'customer_42',
  status: 'published',
  error: null,
  errorCategory: null,
  platformPostId: 'urn:li:share:7140000000000000000',
  platformPostUrl: 'https://www.linkedin.com/feed/update/urn:li:share:7140000000000000000',
  platformPostIds: ['urn:li:share:7140000000000000000'],
  publishedAt: '2026-12-07T16:00:04.000Z',
  attempts: 1,
  remoteDeletedAt: null,
};

/** The example posts of the OpenAPI document: one published to one account, and the other outcomes from it. */
export const POST_EXAMPLE: PostViewShape = {
  id: 'post_01jf3m7v2c8d9e0f1g2h',
  orgId: 'org_01jf3h0a1b2c3d4e5f6g',
  status: 'published',
  isDraft: false,
  scheduledAt: '2026-12-07T16:00:00.000Z',
  publishedAt: '2026-12-07T16:00:04.000Z',
  createdAt: '2026-12-07T15:59:00.000Z',
  updatedAt: '2026-12-07T16:00:04.000Z',
  tenant_id: 'customer_42',
  workspace_id: null,
  containers: [
    {
      id: 'ctr_01jf3m7v2c8d9e0f1g2j',
      content: 'We just shipped scheduled posts 🎉',
      media: [{ id: 'med_01jf3k9p0q1r2s3t4u5v', url: 'https://api.example.com/media/tok_3kd92/launch.png', filename: 'launch.png', content_type: 'image/png', alt: 'The new scheduler' }],
    },
  ],
  socialAccounts: [TARGET_EXAMPLE],
};

export const SCHEDULED_POST_EXAMPLE: PostViewShape = {
  ...POST_EXAMPLE,
  status: 'scheduled',
  publishedAt: null,
  updatedAt: POST_EXAMPLE.createdAt,
  socialAccounts: [{ ...TARGET_EXAMPLE, status: 'pending', platformPostId: null, platformPostUrl: null, platformPostIds: [], publishedAt: null, attempts: 0 }],
};

export const FAILED_TARGET_EXAMPLE: TargetShape = {
  ...TARGET_EXAMPLE,
  id: 'acc_01jf3k5x6y7z8a9b0c1d',
  network: 'x',
  username: 'ada',
  nickname: 'Ada',
  status: 'failed',
  error: 'The account has posted this text already',
  errorCategory: 'duplicate',
  platformPostId: null,
  platformPostUrl: null,
  platformPostIds: [],
  publishedAt: null,
  attempts: 1,
};

export const PostResponse = z.object({ success: z.literal(true), post: PostView });
export const postResponse = (example: PostViewShape = POST_EXAMPLE) => PostResponse.meta({ examples: [{ success: true, post: example }] });
