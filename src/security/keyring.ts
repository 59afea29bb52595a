// Encryption at rest: AES-256-GCM, every ciphertext carrying the id of the key that made it and bound
// to its place (row and column) through additional authenticated data, so a ciphertext copied into
// another row or column fails to decrypt. The first key encrypts; every key decrypts (rotation).
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config.ts';
import { secureRandomBytes } from './secrets.ts';

const FORMAT = 'v1';

export class DecryptionError extends Error {}

export class Keyring {
  private readonly keys: Map<string, Buffer>;
  readonly primaryKeyId: string;

  constructor(keys: Array<{ id: string; key: Buffer }>) {
    if (keys.length === 0) throw new ConfigError('At least one encryption key is required');
    this.keys = new Map(keys.map((k) => [k.id, k.key]));
    this.primaryKeyId = keys[0].id;
  }

  /** Parses `SWITCHBOARD_ENCRYPTION_KEYS`: comma-separated `id:base64key`, 32-byte keys. */
  static parse(spec: string): Keyring {
    const keys = spec
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean)
      .map((part) => {
        const colon = part.indexOf(':');
        const id = part.slice(0, colon);
        const key = Buffer.from(part.slice(colon + 1), 'base64');
        if (colon < 1 || !/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
          throw new ConfigError('SWITCHBOARD_ENCRYPTION_KEYS: each entry must be "id:base64key" (id: letters, digits, _ or -)');
        }
        if (key.length !== 32) throw new ConfigError(`SWITCHBOARD_ENCRYPTION_KEYS: key "${id}" must decode to 32 bytes (got ${key.length})`);
        return { id, key };
      });
    return new Keyring(keys);
  }

  /**
   * The keyring for this process. With an explicit spec, that; in embedded mode without one, a key generated
   * once and kept in `DATA_DIR/encryption.key` (mode 0600); with an external database, refusing to start.
   */
  static resolve(opts: { spec?: string; dataDir: string; embedded: boolean }): Keyring {
    if (opts.spec) return Keyring.parse(opts.spec);
    if (!opts.embedded) {
      throw new ConfigError(
        'SWITCHBOARD_ENCRYPTION_KEYS is required when DATABASE_URL is set. Generate one with:\n' +
          '  node -e "console.log(\'k1:\' + require(\'crypto\').randomBytes(32).toString(\'base64\'))"',
      );
    }
    const file = join(opts.dataDir, 'encryption.key');
    if (!existsSync(file)) {
      mkdirSync(opts.dataDir, { recursive: true });
      writeFileSync(file, `k1:${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    }
    chmodSync(file, 0o600);
    return Keyring.parse(readFileSync(file, 'utf8'));
  }

  encrypt(plaintext: string, context: string): string {
    return this.encryptBytes(Buffer.from(plaintext, 'utf8'), context);
  }

  decrypt(ciphertext: string, context: string): string {
    return this.decryptBytes(ciphertext, context).toString('utf8');
  }

  /** The same format for bytes: for compact binary payloads (the sealed start links of connect/start-links.ts). */
  encryptBytes(plaintext: Buffer, context: string): string {
    // From the pooled CSPRNG (secrets.ts): a randomBytes call per ciphertext was a sixth of sealing a start link.
    const iv = secureRandomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.primaryKeyId)!, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const blob = Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
    return `${FORMAT}.${this.primaryKeyId}.${blob}`;
  }

  decryptBytes(ciphertext: string, context: string): Buffer {
    const [format, keyId, blob] = ciphertext.split('.');
    const key = this.keys.get(keyId);
    if (format !== FORMAT || !blob) throw new DecryptionError('Unrecognised ciphertext format');
    if (!key) throw new DecryptionError(`Ciphertext was made with key "${keyId}", which is not in SWITCHBOARD_ENCRYPTION_KEYS`);
    const raw = Buffer.from(blob, 'base64url');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
    } catch {
      throw new DecryptionError('Ciphertext failed authentication (wrong key or moved from another row)');
    }
  }

  /**
   * What installations used to derive their internal secrets from (the first key). Only for carrying those
   * values over into `internal_secrets` (internal-secrets.ts): a secret derived from whichever key is first
   * changes when a new key is put first, so nothing new may use this.
   */
  legacyDerivedSecret(label: string): string {
    return createHmac('sha256', this.keys.get(this.primaryKeyId)!).update(`switchboard:${label}`).digest('base64url');
  }

  /** The key id a stored ciphertext was made with (`keys reencrypt` rewrites those not made with the first). */
  static keyIdOf(ciphertext: string): string {
    return ciphertext.split('.')[1] ?? '';
  }
}
