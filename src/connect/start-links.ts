// The start of a connection flow, sealed into its start URL: auth-url writes nothing, the flow's row is made when
// the link is opened (flows.ts#beginFlow). Most start URLs are made ahead of time and never opened.
//
// The link is the keyring's AES-256-GCM ciphertext (security/keyring.ts: key id, random IV, tag; AAD below) of a
// compact binary payload, so nothing in it is readable or can be changed, and a link sealed with an older key
// opens while that key is still in SWITCHBOARD_ENCRYPTION_KEYS. It names the network configuration, not its
// secrets, and the redirect URI by a fingerprint, checked against the configuration's allowlist when the link is
// opened (which keeps the link short whatever the URI's length). Its random nonce makes it single use: the flow
// row stores the nonce's hash under a unique index, and only one opening can insert it.
//
// Layout (version 1):
//   u8 version · u8 flags (1 headless, 2 start page, 4 redirect) · u32 expiry (Unix seconds) · 16 nonce bytes
//   · [8 bytes: SHA-256 of the redirect URI, prefix] · text org · text network config · text workspace
//   · text account · text tenant
// where text is u8 length (0: none, 255: an id of security/ids.ts packed into 15 bytes) and that many UTF-8 bytes.
import { hash } from 'node:crypto';
import { ID_ALPHABET, ID_PATTERN } from '../security/ids.ts';
import type { Keyring } from '../security/keyring.ts';
import { secureRandomBytes } from '../security/secrets.ts';

/** Additional authenticated data of every start link: a ciphertext made for anything else never opens as one. */
const CONTEXT = 'connect:start_link';
const VERSION = 1;
const NONCE_BYTES = 16;
const REDIRECT_FINGERPRINT_BYTES = 8;
const FLAG_HEADLESS = 1;
const FLAG_START_PAGE = 2;
const FLAG_REDIRECT = 4;
const PACKED_ID = 255;
const ID_BYTES = 15;
/** The longest text field, in UTF-8 bytes (a length byte of 255 means a packed id). */
const MAX_TEXT_BYTES = 254;
const MAX_PAYLOAD_BYTES = 6 + NONCE_BYTES + REDIRECT_FINGERPRINT_BYTES + 5 * (1 + MAX_TEXT_BYTES);

/** What the flow will be, once the link is opened. */
export interface StartLink {
  orgId: string;
  networkConfigId: string;
  workspaceId?: string;
  accountId?: string;
  tenantId?: string;
  /** SHA-256 prefix of the redirect URI (see redirectFingerprint), or none. */
  redirectFingerprint?: string;
  selection: 'hosted' | 'headless';
  startPage: boolean;
  /** Whole seconds: the expiry the auth-url response reports is exactly the one sealed. */
  expiresAt: Date;
  /** base64url of 16 random bytes: the flow row stores its hash, once. */
  nonce: string;
}

/** What sealStartLink is given: the redirect URI itself, the nonce made here. */
export type StartLinkInput = Omit<StartLink, 'nonce' | 'redirectFingerprint'> & { redirectUri?: string };

// An organization asks for links to the same few redirect URIs over and over: their fingerprints are remembered.
const fingerprints = new Map<string, Buffer>();
function fingerprintBytes(uri: string): Buffer {
  let known = fingerprints.get(uri);
  if (!known) {
    if (fingerprints.size >= 10_000) fingerprints.clear();
    known = hash('sha256', uri, 'buffer').subarray(0, REDIRECT_FINGERPRINT_BYTES);
    fingerprints.set(uri, known);
  }
  return known;
}

/** How a link names its redirect URI among its configuration's `redirect_uris`. */
export const redirectFingerprint = (uri: string): string => fingerprintBytes(uri).toString('base64url');

export function sealStartLink(keyring: Keyring, link: StartLinkInput): { token: string; expiresAt: Date; nonce: string } {
  const expirySeconds = Math.floor(link.expiresAt.getTime() / 1000);
  // One buffer, written in place: this runs on every auth-url request.
  const out = Buffer.allocUnsafe(MAX_PAYLOAD_BYTES);
  out[0] = VERSION;
  out[1] = (link.selection === 'headless' ? FLAG_HEADLESS : 0) | (link.startPage ? FLAG_START_PAGE : 0) | (link.redirectUri ? FLAG_REDIRECT : 0);
  out.writeUInt32BE(expirySeconds, 2);
  const nonce = secureRandomBytes(NONCE_BYTES);
  nonce.copy(out, 6);
  let at = 6 + NONCE_BYTES;
  if (link.redirectUri) at += fingerprintBytes(link.redirectUri).copy(out, at);
  for (const text of [link.orgId, link.networkConfigId, link.workspaceId, link.accountId, link.tenantId]) at = writeText(out, at, text);
  return {
    token: keyring.encryptBytes(out.subarray(0, at), CONTEXT),
    expiresAt: new Date(expirySeconds * 1000),
    nonce: nonce.toString('base64url'),
  };
}

// The keyring's format, strictly: Node's base64url decoder skips characters it does not know, and a link that
// decodes to the same bytes under another spelling must not count as another link.
const TOKEN_PATTERN = /^v1\.[A-Za-z0-9_-]{1,32}\.([A-Za-z0-9_-]+)$/;

/** The link's contents, or undefined for anything that is not a link this installation sealed with a key it has. */
export function openStartLink(keyring: Keyring, token: string): StartLink | undefined {
  const blob = TOKEN_PATTERN.exec(token)?.[1];
  if (!blob || Buffer.from(blob, 'base64url').toString('base64url') !== blob) return undefined;
  let bytes: Buffer;
  try {
    bytes = keyring.decryptBytes(token, CONTEXT);
  } catch {
    return undefined;
  }
  // Authenticated, so made by sealStartLink: a layout it does not know is a version this code cannot read.
  if (bytes[0] !== VERSION) return undefined;
  const flags = bytes[1];
  const reader = { bytes, at: 6 + NONCE_BYTES };
  const fingerprint = flags & FLAG_REDIRECT ? bytes.subarray(reader.at, (reader.at += REDIRECT_FINGERPRINT_BYTES)).toString('base64url') : undefined;
  const [orgId, networkConfigId, workspaceId, accountId, tenantId] = Array.from({ length: 5 }, () => decodeText(reader));
  if (!orgId || !networkConfigId) return undefined;
  return {
    orgId,
    networkConfigId,
    workspaceId,
    accountId,
    tenantId,
    redirectFingerprint: fingerprint,
    selection: flags & FLAG_HEADLESS ? 'headless' : 'hosted',
    startPage: Boolean(flags & FLAG_START_PAGE),
    expiresAt: new Date(bytes.readUInt32BE(2) * 1000),
    nonce: bytes.subarray(6, 6 + NONCE_BYTES).toString('base64url'),
  };
}

function writeText(out: Buffer, at: number, text: string | undefined): number {
  if (text === undefined || text === '') {
    out[at] = 0;
    return at + 1;
  }
  if (ID_PATTERN.test(text)) {
    out[at] = PACKED_ID;
    packId(text, out, at + 1);
    return at + 1 + ID_BYTES;
  }
  const length = out.write(text, at + 1, MAX_TEXT_BYTES + 1, 'utf8');
  // Every field is bounded well below this by its schema (tenant ids: 128 characters).
  if (length > MAX_TEXT_BYTES) throw new Error('A start link field is too long');
  out[at] = length;
  return at + 1 + length;
}

function decodeText(reader: { bytes: Buffer; at: number }): string | undefined {
  const length = reader.bytes[reader.at++];
  if (!length) return undefined;
  if (length === PACKED_ID) return unpackId(reader.bytes.subarray(reader.at, (reader.at += ID_BYTES)));
  return reader.bytes.subarray(reader.at, (reader.at += length)).toString('utf8');
}

/** Each id character's value (ID_PATTERN has already said it is one of ID_ALPHABET). */
const ID_DIGITS = new Uint8Array(128);
for (let i = 0; i < ID_ALPHABET.length; i++) ID_DIGITS[ID_ALPHABET.charCodeAt(i)] = i;

/** 24 base32 characters (5 bits each) into 15 bytes at `at`, 8 characters (40 bits, exact in a double) at a time. */
function packId(id: string, out: Buffer, at: number) {
  for (let chunk = 0; chunk < 3; chunk++) {
    let value = 0;
    for (let i = chunk * 8; i < chunk * 8 + 8; i++) value = value * 32 + ID_DIGITS[id.charCodeAt(i)];
    out.writeUIntBE(value, at + chunk * 5, 5);
  }
}

function unpackId(bytes: Buffer): string {
  let id = '';
  for (let chunk = 0; chunk < 3; chunk++) {
    let value = bytes.readUIntBE(chunk * 5, 5);
    let part = '';
    for (let i = 0; i < 8; i++, value = Math.floor(value / 32)) part = ID_ALPHABET[value % 32] + part;
    id += part;
  }
  return id;
}
