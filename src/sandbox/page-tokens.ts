// Page access tokens, like Facebook Page tokens obtained from a long-lived user token: they never expire but die
// with the user's grant. They are stateless — `sbp.<base64url pageId>.<grantId>.<HMAC>` — and checked against the
// grant on every use, so revoking the grant (or reusing a rotated refresh token) kills them at once.
import { createHmac } from 'node:crypto';
import { safeEqual } from '../security/secrets.ts';

const PREFIX = 'sbp';

export class PageTokens {
  /** A key of its own (not the cookie key), so that a page token can never be mistaken for a signed cookie. */
  constructor(private readonly key: Buffer) {}

  issue(pageId: string, grantId: string): string {
    return [PREFIX, Buffer.from(pageId).toString('base64url'), grantId, this.mac(pageId, grantId)].join('.');
  }

  static looksLikeOne(token: string): boolean {
    return token.startsWith(`${PREFIX}.`);
  }

  /** The page and grant a token names, if we signed it; whether the grant still exists is the caller's check. */
  open(token: string): { pageId: string; grantId: string } | undefined {
    const parts = token.split('.');
    if (parts.length !== 4 || parts[0] !== PREFIX) return undefined;
    const [, encodedPageId, grantId, mac] = parts;
    const pageId = Buffer.from(encodedPageId, 'base64url').toString();
    return safeEqual(mac, this.mac(pageId, grantId)) ? { pageId, grantId } : undefined;
  }

  private mac(pageId: string, grantId: string): string {
    return createHmac('sha256', this.key).update(`${pageId}\n${grantId}`).digest('base64url');
  }
}
