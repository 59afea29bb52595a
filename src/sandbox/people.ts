// Who exists in the sandbox: every valid username is a user, and everything about them is derived from the name,
// so nothing but the OAuth grants needs storing.

/** Usernames typed on the consent page (after lowercasing). */
export const USERNAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,39}$/;

/** Users whose name starts with this have no pages: a login that yields exactly one profile. */
const SOLO_PREFIX = 'solo';
const PAGES_PER_USER = 3;

export interface SandboxIdentity {
  id: string;
  username: string;
  name: string;
  picture: string;
}

/** `alice` → `Alice`, `solo-erin` → `Solo-erin`. */
export function displayName(username: string): string {
  return username.charAt(0).toUpperCase() + username.slice(1);
}

export function avatarUrl(publicUrl: string, id: string): string {
  return `${publicUrl}/sandbox/avatar/${encodeURIComponent(id)}.svg`;
}

export function userIdentity(publicUrl: string, username: string): SandboxIdentity {
  return { id: username, username, name: displayName(username), picture: avatarUrl(publicUrl, username) };
}

export function pagesOf(publicUrl: string, username: string): SandboxIdentity[] {
  if (username.startsWith(SOLO_PREFIX)) return [];
  return Array.from({ length: PAGES_PER_USER }, (_, i) => {
    const id = `${username}-page-${i + 1}`;
    return { id, username: id, name: `${displayName(username)} Page ${i + 1}`, picture: avatarUrl(publicUrl, id) };
  });
}

/** Who may see a post. A page speaks to the public only; a user may also post for their followers alone. */
export const VISIBILITIES = ['public', 'followers'] as const;
export type Visibility = (typeof VISIBILITIES)[number];

export function visibilitiesOf(kind: 'user' | 'page'): Visibility[] {
  return kind === 'page' ? ['public'] : [...VISIBILITIES];
}
