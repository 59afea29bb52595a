// Redirect URIs, webhook URLs and other caller-chosen URLs on loopback or private addresses are refused unless
// SWITCHBOARD_ALLOW_PRIVATE_URLS=true (tests, local development): they would let a tenant aim our server or its
// users' browsers at internal hosts. This is the check that can be made when a URL is saved, without DNS: names that
// always mean a private host, and address literals in any form the URL parser accepts (`[::ffff:127.0.0.1]`,
// `2130706433`, `0x7f.1`). A name that *resolves* to a private address is refused when it is called
// (`security/outbound-http.ts`), since DNS can change after the URL is saved.
import { isIP } from 'node:net';
import { isPrivateName, refusedRange } from './addresses.ts';

export const PRIVATE_URL_PROBLEM =
  'must not point to a loopback or private address (set SWITCHBOARD_ALLOW_PRIVATE_URLS=true for local development)';

/** A hostname as `URL#hostname` gives it (IPv6 in brackets, IPv4 already normalised by the URL parser). */
export function isPrivateHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) return refusedRange(host) !== undefined;
  return isPrivateName(host);
}

/** Why a user-supplied URL is not acceptable, or `undefined` when it is. */
export function urlProblem(value: string, allowPrivate: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must use http or https';
  if (url.username || url.password) return 'must not contain credentials';
  if (url.hash) return 'must not contain a fragment';
  if (!allowPrivate && isPrivateHost(url.hostname)) return PRIVATE_URL_PROBLEM;
  return undefined;
}
