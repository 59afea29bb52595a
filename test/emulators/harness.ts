// Building blocks for network emulators: small HTTP servers in the test tree that enforce a network's documented
// OAuth contract (parameter names, client authentication, PKCE, single-use codes, rotating refresh tokens) and
// answer with its documented bodies. Real adapters reach them only through SWITCHBOARD_UPSTREAMS.
import { createHash, randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyFormbody from '@fastify/formbody';

export interface Emulator {
  /** `http://127.0.0.1:<port>`: map the network's real origins here with SWITCHBOARD_UPSTREAMS. */
  origin: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** Starts a Fastify server on a free loopback port with JSON and form bodies parsed; `register` adds the routes. */
export async function startEmulator(register: (app: FastifyInstance) => void | Promise<void>): Promise<Emulator> {
  const app = Fastify();
  await app.register(fastifyFormbody);
  // Media bytes and multipart bodies arrive as Buffers (`multipartFields` reads the latter); other unknown types are
  // kept as text for the emulator to reject.
  app.addContentTypeParser(/^(image|video|audio|application\/octet-stream|multipart)\b/, { parseAs: 'buffer', bodyLimit: 1024 ** 3 }, (_req, body, done) => done(null, body));
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  await register(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { origin: `http://127.0.0.1:${port}`, app, close: () => app.close() };
}

/** The fields of a `multipart/form-data` body (parsed by the platform's own Web `Request`), or undefined if it is not one. */
export async function multipartFields(req: FastifyRequest): Promise<FormData | undefined> {
  const type = String(req.headers['content-type'] ?? '');
  if (!type.startsWith('multipart/form-data') || !Buffer.isBuffer(req.body)) return undefined;
  try {
    return await new Request('http://emulator.invalid/', { method: 'POST', headers: { 'content-type': type }, body: req.body }).formData();
  } catch {
    return undefined;
  }
}

export function opaque(prefix: string): string {
  return `${prefix}${randomBytes(24).toString('base64url')}`;
}

/** `Authorization: Basic` credentials (RFC 6749 §2.3.1: each part form-urlencoded), or undefined. */
export function basicCredentials(req: FastifyRequest): { id: string; secret: string } | undefined {
  const header = req.headers.authorization;
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { id: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
}

export function bearer(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice(7) : undefined;
}

export function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/** The request's form body, or undefined when it was not `application/x-www-form-urlencoded`. */
export function formBody(req: FastifyRequest): Record<string, string> | undefined {
  if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return undefined;
  return req.body as Record<string, string>;
}

export interface IssuedCode<T> {
  data: T;
  redirectUri: string;
  codeChallenge?: string;
  expiresAt: number;
}

/** Authorization codes: short-lived and single use. */
export class CodeStore<T> {
  private readonly codes = new Map<string, IssuedCode<T> & { used: boolean }>();

  issue(data: T, redirectUri: string, codeChallenge?: string, ttlMs = 60_000): string {
    const code = opaque('code_');
    this.codes.set(code, { data, redirectUri, codeChallenge, expiresAt: Date.now() + ttlMs, used: false });
    return code;
  }

  /** `reused` when the code was already redeemed; `unknown` for anything else that is not a live code. */
  redeem(code: string | undefined): IssuedCode<T> | 'unknown' | 'reused' {
    const entry = code ? this.codes.get(code) : undefined;
    if (!entry || entry.expiresAt < Date.now()) return 'unknown';
    if (entry.used) return 'reused';
    entry.used = true;
    return entry;
  }
}

export interface Grant<U> {
  user: U;
  scopes: string[];
  accessToken: string;
  accessExpiresAt: number;
  refreshToken?: string;
  revoked: boolean;
}

/**
 * Access and refresh tokens of one emulated network. Rotating refresh tokens: each refresh returns a new one and
 * kills the old; presenting a dead one revokes the whole grant (as OAuth 2.0 Security BCP recommends).
 */
export class TokenStore<U> {
  private readonly byAccess = new Map<string, Grant<U>>();
  private readonly byRefresh = new Map<string, Grant<U>>();
  private readonly usedRefresh = new Map<string, Grant<U>>();
  /** How many refresh grants were served: tests assert "exactly one refresh". */
  refreshCount = 0;

  constructor(
    private readonly opts: { accessTtlSeconds: number; rotateRefresh: boolean; issueRefresh: boolean; prefix: string },
  ) {}

  issue(user: U, scopes: string[]): Grant<U> {
    const grant: Grant<U> = {
      user,
      scopes,
      accessToken: opaque(`${this.opts.prefix}at_`),
      accessExpiresAt: Date.now() + this.opts.accessTtlSeconds * 1000,
      refreshToken: this.opts.issueRefresh ? opaque(`${this.opts.prefix}rt_`) : undefined,
      revoked: false,
    };
    this.byAccess.set(grant.accessToken, grant);
    if (grant.refreshToken) this.byRefresh.set(grant.refreshToken, grant);
    return grant;
  }

  /** The live grant behind an access token. */
  access(token: string | undefined): Grant<U> | undefined {
    const grant = token ? this.byAccess.get(token) : undefined;
    return grant && !grant.revoked && grant.accessExpiresAt > Date.now() ? grant : undefined;
  }

  /** `reused` revokes the grant; `unknown` for tokens never issued or of a revoked grant. */
  refresh(token: string | undefined): Grant<U> | 'unknown' | 'reused' {
    if (!token) return 'unknown';
    const reused = this.usedRefresh.get(token);
    if (reused) {
      this.revoke(reused);
      return 'reused';
    }
    const grant = this.byRefresh.get(token);
    if (!grant || grant.revoked) return 'unknown';
    this.refreshCount++;
    this.byAccess.delete(grant.accessToken);
    grant.accessToken = opaque(`${this.opts.prefix}at_`);
    grant.accessExpiresAt = Date.now() + this.opts.accessTtlSeconds * 1000;
    this.byAccess.set(grant.accessToken, grant);
    if (this.opts.rotateRefresh) {
      this.byRefresh.delete(token);
      this.usedRefresh.set(token, grant);
      grant.refreshToken = opaque(`${this.opts.prefix}rt_`);
      this.byRefresh.set(grant.refreshToken, grant);
    }
    return grant;
  }

  /** Revokes the grant behind an access or refresh token; false when the token is unknown. */
  revokeToken(token: string): boolean {
    const grant = this.byAccess.get(token) ?? this.byRefresh.get(token);
    if (!grant) return false;
    this.revoke(grant);
    return true;
  }

  revoke(grant: Grant<U>) {
    grant.revoked = true;
  }

  /** Every grant of a user is revoked (the user removed the app at the network). */
  revokeUser(match: (user: U) => boolean) {
    for (const grant of this.byAccess.values()) if (match(grant.user)) grant.revoked = true;
  }
}

/** An answer a test queues for an emulator to give instead of the real one. */
export interface InjectedAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** Injected answers queued per target (`token`, `api`, ...), each given once, in order. */
export class FailureQueue<Target extends string> {
  private readonly queued = new Map<Target, InjectedAnswer[]>();

  /** The next calls to `target` get these answers instead of the real ones. */
  push(target: Target, ...answers: InjectedAnswer[]) {
    this.queued.set(target, [...(this.queued.get(target) ?? []), ...answers]);
  }

  take(target: Target): InjectedAnswer | undefined {
    return this.queued.get(target)?.shift();
  }

  /** Sends the next injected answer for `target`; false when none is queued (the route answers for real). */
  reply(target: Target, reply: FastifyReply): boolean {
    const answer = this.take(target);
    if (!answer) return false;
    reply.code(answer.status).headers(answer.headers ?? {}).send(answer.body);
    return true;
  }
}

/** One request an emulator received; `body` is its form body, when it had one. */
export interface Call {
  method: string;
  path: string;
  query: Record<string, string>;
  body?: Record<string, string>;
  authorization?: string;
}

/** Every request an emulator receives, in order, with its form body. */
export class CallLog<C extends { body?: Record<string, string> } = Call> {
  readonly entries: C[] = [];

  constructor(
    private readonly describe: (req: FastifyRequest, url: URL) => C = (req, url) =>
      ({ method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), authorization: req.headers.authorization }) as Call as unknown as C,
  ) {}

  /** Logs every request of `app`. */
  record(app: FastifyInstance) {
    app.addHook('onRequest', async (req) => {
      this.entries.push(this.describe(req, new URL(req.url, 'http://emulator')));
    });
    app.addHook('preHandler', async (req) => {
      const body = formBody(req);
      if (body) this.entries[this.entries.length - 1].body = body;
    });
  }

  /** The refresh tokens presented to a token endpoint, in order. */
  presentedRefreshTokens(): string[] {
    return this.entries.filter((c) => c.body?.grant_type === 'refresh_token').map((c) => c.body!.refresh_token);
  }
}
