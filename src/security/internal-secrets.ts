// Secrets the installation makes for itself: the sandbox network's client secret, its cookie key, page-token key
// and signing-key seed; the key that signs media upload URLs and makes media's public URLs unguessable. They used to be derived from the first encryption key, so putting a new key first changed
// them all (page tokens stopped verifying, the client secret changed under running processes). Now each is made
// once, stored in `internal_secrets` encrypted like any other secret, and read by every process at start: it no
// longer depends on which key is first, and `keys reencrypt` moves it to a new key like everything else.
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { inArray } from 'drizzle-orm';
import { ConfigError } from '../config.ts';
import type { DbOrTx } from '../db/database.ts';
import { internalSecrets, organizations } from '../db/schema.ts';
import { contexts } from './encrypted-columns.ts';
import type { Keyring } from './keyring.ts';

export interface InternalSecrets {
  sandboxClientSecret: string;
  /** oidc-provider's cookie signing key. */
  sandboxCookieKey: string;
  /** HMAC key of the sandbox's page tokens (base64url, 32 bytes). */
  sandboxPageTokenKey: string;
  /** Seed of the sandbox's Ed25519 signing key (base64url, 32 bytes). */
  sandboxSigningKeySeed: string;
  /** HMAC key of media's presigned upload URLs and unguessable public URLs (base64url, 32 bytes; media/urls.ts). */
  mediaUrlKey: string;
}

const random = () => randomBytes(32).toString('base64url');

/**
 * What an installation that predates the table had: everything derived from the first key, the cookie secret
 * being the root of the page-token key and the signing seed (as sandbox/page-tokens.ts and provider.ts did).
 */
function legacyValues(keyring: Keyring): Partial<InternalSecrets> {
  const cookieSecret = keyring.legacyDerivedSecret('sandbox-cookies');
  return {
    sandboxClientSecret: keyring.legacyDerivedSecret('sandbox-client'),
    sandboxCookieKey: cookieSecret,
    sandboxPageTokenKey: createHmac('sha256', cookieSecret).update('sandbox page tokens').digest('base64url'),
    sandboxSigningKeySeed: Buffer.from(hkdfSync('sha256', cookieSecret, 'switchboard-sandbox', 'jwks signing key', 32)).toString('base64url'),
  };
}

/** Stored names (the rows' primary keys); renaming one makes a new secret. */
const NAMES: Record<keyof InternalSecrets, string> = {
  sandboxClientSecret: 'sandbox_client_secret',
  sandboxCookieKey: 'sandbox_cookie_key',
  sandboxPageTokenKey: 'sandbox_page_token_key',
  sandboxSigningKeySeed: 'sandbox_signing_key_seed',
  // Newer than the table: random on every installation (no legacy value to keep).
  mediaUrlKey: 'media_url_key',
};
const FIELDS = Object.keys(NAMES) as Array<keyof InternalSecrets>;

/**
 * The installation's internal secrets, made on first use. Safe when several processes start at once: each
 * inserts what it found missing with ON CONFLICT DO NOTHING and then everyone reads what won.
 */
export async function loadInternalSecrets(db: DbOrTx, keyring: Keyring): Promise<InternalSecrets> {
  let rows = await readRows(db);
  const missing = FIELDS.filter((field) => !rows.has(NAMES[field]));
  if (missing.length) {
    // On an installation that already has data, the values it has been using all along (sandbox accounts' page
    // tokens and sessions keep working); on a new one, random values that owe nothing to any encryption key.
    const existing = await db.select({ id: organizations.id }).from(organizations).limit(1);
    const legacy = existing.length ? legacyValues(keyring) : undefined;
    await db
      .insert(internalSecrets)
      .values(missing.map((field) => ({ name: NAMES[field], valueEnc: keyring.encrypt(legacy?.[field] ?? random(), contexts.internalSecret(NAMES[field])) })))
      .onConflictDoNothing();
    rows = await readRows(db);
  }
  const secrets = {} as InternalSecrets;
  for (const field of FIELDS) {
    const name = NAMES[field];
    try {
      secrets[field] = keyring.decrypt(rows.get(name)!, contexts.internalSecret(name));
    } catch (err) {
      throw new ConfigError(
        `The internal secret "${name}" cannot be decrypted: ${(err as Error).message}. Start with the key it was made with ` +
          'in SWITCHBOARD_ENCRYPTION_KEYS (run "switchboard keys reencrypt" before removing a key).',
      );
    }
  }
  return secrets;
}

async function readRows(db: DbOrTx): Promise<Map<string, string>> {
  const rows = await db.select().from(internalSecrets).where(inArray(internalSecrets.name, Object.values(NAMES)));
  return new Map(rows.map((r) => [r.name, r.valueEnc]));
}
