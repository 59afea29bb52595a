// Shared pieces of the native API's schemas. Zod schemas are the single source for request validation,
// TypeScript types and the OpenAPI document.
import { z } from 'zod';
import type { FastifyReply } from 'fastify';
import { ACCOUNT_TYPES } from '../providers/types.ts';
import { ID_PATTERN } from '../security/ids.ts';

export const ErrorBody = z
  .object({
    success: z.literal(false),
    error: z.string(),
    code: z.string().describe('Stable, machine-readable: branch on this, not on `error`'),
    message: z.string().optional(),
    details: z.unknown().optional(),
  })
  .meta({ id: 'Error' });

/** `{success: true, data}`; `example` (of `data`) becomes the response's example in the document. */
export const success = <T extends z.ZodType>(data: T, example?: z.output<T>) => {
  const schema = z.object({ success: z.literal(true), data });
  return example === undefined ? schema : schema.meta({ examples: [{ success: true, data: example }] });
};

/** A page of `item`s; `example` (one item) becomes the response's example in the document. */
export const listOf = <T extends z.ZodType>(item: T, example?: z.output<T>) => {
  const schema = z.object({
    success: z.literal(true),
    data: z.array(item),
    count: z.number().int(),
    limit: z.number().int(),
    offset: z.number().int(),
    next_cursor: z.string().nullable().optional(),
  });
  return example === undefined ? schema : schema.meta({ examples: [{ success: true, data: [example], count: 1, limit: 50, offset: 0, next_cursor: null }] });
};

export const IdParam = z.object({ id: z.string().min(1).max(64) });

/** A keyset cursor: the id (security/ids.ts) of the last row of the previous page. */
export const Cursor = z.string().regex(ID_PATTERN, 'is not a cursor this API gave out (use next_cursor of the previous page)');

export const TENANT_ID = /^[A-Za-z0-9_-]{1,128}$/;
export const TenantId = z.string().regex(TENANT_ID, 'may contain only letters, digits, underscores and hyphens (1–128)');

export const SocialAccount = z
  .object({
    id: z.string(),
    network: z.string(),
    network_unique_id: z.string(),
    username: z.string().nullable(),
    nickname: z.string().nullable(),
    profile_picture_url: z.string().nullable(),
    account_type: z.enum(ACCOUNT_TYPES),
    tenant_id: z.string().nullable(),
    workspace_id: z.string().nullable(),
    status: z.enum(['active', 'reauth_required', 'disconnected']),
    token_expires_at: z.string().nullable(),
    scopes: z.array(z.string()),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'SocialAccount' });
export type SocialAccountView = z.infer<typeof SocialAccount>;

/** The example account of the OpenAPI document. */
export const SOCIAL_ACCOUNT_EXAMPLE: SocialAccountView = {
  id: 'acc_01jf3k2n8q9x4b7c6d5e',
  network: 'linkedin',
  network_unique_id: 'urn:li:person:8f3kd92',
  username: 'ada-lovelace',
  nickname: 'Ada Lovelace',
  profile_picture_url: 'https://media.licdn.com/dms/image/ada.jpg',
  account_type: 'personal',
  tenant_id: 'customer_42',
  workspace_id: null,
  status: 'active',
  token_expires_at: '2027-02-05T16:00:00.000Z',
  scopes: ['openid', 'profile', 'w_member_social'],
  created_at: '2026-12-07T15:58:12.000Z',
  updated_at: '2026-12-07T15:58:12.000Z',
};

/**
 * Sends a body that is already JSON (the list's page, written by listAccountsJson), bypassing the route's
 * serializer. The route's schema still documents it; its tests hold the text to the same shape as the
 * serialized routes.
 * The parts are written straight into one Buffer: joined as strings, a page would be copied on the JS heap
 * twice more on its way out (flattened for Content-Length, then joined to the headers by node:http), and those
 * copies were most of the garbage per listed page (bench/list-accounts.ts).
 */
export function sendSerialized(reply: FastifyReply, ...jsonParts: string[]) {
  const body = Buffer.allocUnsafe(jsonParts.reduce((n, part) => n + Buffer.byteLength(part), 0));
  let offset = 0;
  for (const part of jsonParts) offset += body.write(part, offset);
  return reply.type('application/json; charset=utf-8').send(body);
}
