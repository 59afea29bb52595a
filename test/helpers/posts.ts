// Waiting for the worker: a post read through the API until every target is done.
import type { TestServer } from './server.ts';

const DONE = ['published', 'partial', 'failed'];

/** The post as `GET /v1/posts/{id}` shows it once it is published, partial or failed (polled every 100 ms). */
export async function settledPost(t: TestServer, id: string, tries = 300) {
  for (let i = 0; i < tries; i++) {
    const { body } = await t.api('GET', `/v1/posts/${id}`);
    if (DONE.includes(body.post.status)) return body.post;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`post ${id} did not settle`);
}
