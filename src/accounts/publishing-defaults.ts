// An account's publishing defaults: the options a post to it gets when the post does not give them (a Pinterest
// account's board, a TikTok creator's privacy level and post mode, a YouTube channel's privacy and category). They
// are checked by the adapter's `optionsSchema`, the one a post's options go through, and stored as given: the
// post's own options are laid over them field by field (`withDefaults`) and the result goes through preflight as
// any post's options do, so a default and a post's option can never mean different things.
import { and, eq } from 'drizzle-orm';
import type { z } from 'zod';
import type { DbOrTx } from '../db/database.ts';
import { socialAccounts } from '../db/schema.ts';
import type { NetworkAdapter } from '../providers/types.ts';
import type { AccountRow } from './accounts.ts';

export type PublishingDefaults = Record<string, unknown>;

/** One reason a set of defaults cannot be stored: the field (its path; empty for the whole) and plain words. */
export interface DefaultsProblem {
  path: Array<string | number>;
  message: string;
}

export class DefaultsRefused extends Error {
  constructor(readonly problems: DefaultsProblem[]) {
    super('Invalid publishing defaults');
  }
}

/**
 * Checks defaults against the adapter's options schema. Every option is optional there (a required one is asked
 * for by the adapter's `check`, after the merge), so a partial set of defaults parses as a post's options would.
 * The raw values are what is stored: the schema runs again on the merged options of every post.
 */
export function checkDefaults(adapter: NetworkAdapter, defaults: PublishingDefaults): void {
  const publishing = adapter.publishing;
  if (!publishing) throw new DefaultsRefused([{ path: [], message: `Publishing to ${adapter.displayName} is not available, so it has no publishing defaults` }]);
  const schema = publishing.optionsSchema as z.ZodType<Record<string, unknown>> | undefined;
  if (!schema) {
    if (Object.keys(defaults).length) throw new DefaultsRefused([{ path: [], message: `${adapter.displayName} takes no publishing options` }]);
    return;
  }
  const parsed = schema.safeParse(defaults);
  if (parsed.success) return;
  throw new DefaultsRefused(
    parsed.error.issues.flatMap((issue): DefaultsProblem[] => {
      const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
      // An unknown key is reported under that key (zod puts it on the parent), so the caller sees what to remove.
      if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ path: [...path, key], message: `${adapter.displayName} has no such option` }));
      return [{ path, message: issue.message }];
    }),
  );
}

/** The options one target gets: the post's own for the account's network, over the account's defaults. */
export function withDefaults(account: Pick<AccountRow, 'publishingDefaults'>, given: Record<string, unknown> | undefined): Record<string, unknown> {
  return { ...account.publishingDefaults, ...given };
}

/** Replaces the account's defaults (already checked); `{}` clears them. The row as stored, or undefined if gone. */
export async function saveDefaults(db: DbOrTx, account: AccountRow, defaults: PublishingDefaults): Promise<AccountRow | undefined> {
  const [row] = await db
    .update(socialAccounts)
    .set({ publishingDefaults: defaults, updatedAt: new Date() })
    .where(and(eq(socialAccounts.orgId, account.orgId), eq(socialAccounts.id, account.id)))
    .returning();
  return row;
}
