// The two URLs a media file has, both signed with the installation's `media_url_key` (security/internal-secrets.ts),
// so neither needs a column or a lookup to be checked:
// - the presigned upload URL `${PUBLIC_URL}/media/upload/{id}?expires=…&signature=…`: it is its own credential
//   (no API key), for one media id, until `expires` (Unix seconds, one hour after it was made);
// - the public URL `${PUBLIC_URL}/media/{id}.{mac}/{filename}` that networks fetching by URL read: unguessable
//   (256-bit HMAC of the id), so knowing one media's URL tells nothing about another's.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AppContext } from '../context.ts';
import { ID_PATTERN } from '../security/ids.ts';

export const UPLOAD_URL_SECONDS = 3600;

function mac(ctx: AppContext, purpose: string, ...parts: string[]): string {
  // The purpose keeps an upload signature from ever being valid as a public token, and the other way round.
  return createHmac('sha256', Buffer.from(ctx.internalSecrets.mediaUrlKey, 'base64url'))
    .update([purpose, ...parts].join('\n'))
    .digest('base64url');
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function uploadUrl(ctx: AppContext, mediaId: string, now = Date.now()): { url: string; expiresIn: number } {
  const expires = Math.floor(now / 1000) + UPLOAD_URL_SECONDS;
  const signature = mac(ctx, 'media-upload', mediaId, String(expires));
  return { url: `${ctx.config.publicUrl}/media/upload/${mediaId}?expires=${expires}&signature=${signature}`, expiresIn: UPLOAD_URL_SECONDS };
}

/** Whether an upload URL's query is one we made for this id, and still in time. */
export function checkUploadSignature(ctx: AppContext, mediaId: string, expires: string, signature: string, now = Date.now()): 'valid' | 'expired' | 'forged' {
  if (!/^\d{1,12}$/.test(expires) || !same(signature, mac(ctx, 'media-upload', mediaId, expires))) return 'forged';
  return Number(expires) * 1000 < now ? 'expired' : 'valid';
}

export function publicToken(ctx: AppContext, mediaId: string): string {
  return `${mediaId}.${mac(ctx, 'media-public', mediaId)}`;
}

/** The media id a public token stands for, or undefined when the token is not one we made. */
export function mediaIdFromToken(ctx: AppContext, token: string): string | undefined {
  const dot = token.indexOf('.');
  if (dot < 0) return undefined;
  const id = token.slice(0, dot);
  if (!ID_PATTERN.test(id)) return undefined;
  return same(token.slice(dot + 1), mac(ctx, 'media-public', id)) ? id : undefined;
}
