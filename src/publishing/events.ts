// The post events (webhooks/events.ts POST_EVENTS, emitted by outcome.ts when every target of a post is done) as
// the OpenAPI document shows them: `data.post` is the post as GET /v1/posts/{id} shows it (views.ts).
import { z } from 'zod';
import { EXAMPLE_TIMESTAMP, eventPayload, type EventDoc } from '../webhooks/event-docs.ts';
import { FAILED_TARGET_EXAMPLE, POST_EXAMPLE, PostView } from './schemas.ts';

const data = z.object({ post: PostView });

export const postEventDocs: EventDoc[] = [
  {
    type: 'post.published',
    summary: 'A post went out to every account',
    description: 'Every target of the post is published: each has its platformPostId and platformPostUrl.',
    schema: eventPayload('post.published', data, 'PostPublishedEvent'),
    example: { type: 'post.published', timestamp: EXAMPLE_TIMESTAMP, data: { post: POST_EXAMPLE } },
  },
  {
    type: 'post.partial',
    summary: 'A post went out to some accounts and failed on others',
    description: 'Every target is done; some published, some failed (each failed target has its error and errorCategory). POST /v1/posts/{id}/retry publishes again to the failed ones only.',
    schema: eventPayload('post.partial', data, 'PostPartialEvent'),
    example: {
      type: 'post.partial',
      timestamp: EXAMPLE_TIMESTAMP,
      data: { post: { ...POST_EXAMPLE, status: 'partial', socialAccounts: [...POST_EXAMPLE.socialAccounts, FAILED_TARGET_EXAMPLE] } },
    },
  },
  {
    type: 'post.error',
    summary: 'A post failed on every account',
    description: 'Every target failed (each with its error and errorCategory); the post\'s status is `failed`.',
    schema: eventPayload('post.error', data, 'PostErrorEvent'),
    example: {
      type: 'post.error',
      timestamp: EXAMPLE_TIMESTAMP,
      data: { post: { ...POST_EXAMPLE, status: 'failed', publishedAt: null, socialAccounts: [FAILED_TARGET_EXAMPLE] } },
    },
  },
];
