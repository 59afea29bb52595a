// `POST /mcp`: the MCP server over the Streamable HTTP transport, stateless — each request gets a new server
// (its tools bound to the API key's organization) and transport, answered with JSON (no SSE stream, no session),
// so any API process can answer any request. The API key and rate limit are the /v1 scope's (app.ts).
// GET (a server-to-client stream) and DELETE (ending a session) have nothing to serve without sessions: 405.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AppContext } from '../context.ts';

export const MCP_PATH = '/mcp';

// The SDK costs ~0.4 s and ~25 MB to load (it brings its own JSON Schema and validation stack): loaded on the first
// MCP request, not at every start (bench/footprint.ts).
let loading: Promise<[typeof import('./tools.ts'), typeof import('@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js')]> | undefined;
const loadSdk = () => (loading ??= Promise.all([import('./tools.ts'), import('@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js')]));

// Connection-level headers describe Fastify's socket, not the request the transport reads.
const HOP_BY_HOP = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'expect']);

export function mcpRoutes(ctx: AppContext) {
  return async function routes(app: FastifyInstance) {
    app.post(MCP_PATH, { schema: { hide: true } }, async (req, reply) => {
      const [{ mcpServerFor }, { WebStandardStreamableHTTPServerTransport }] = await loadSdk();
      const server = mcpServerFor(ctx, { orgId: req.caller.orgId, log: req.log as unknown as Logger });
      const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      try {
        await server.connect(transport);
        // The body is Fastify's, already parsed (and checked for NUL bytes by the hygiene hooks).
        const answer = await transport.handleRequest(asWebRequest(ctx, req), { parsedBody: req.body });
        return await send(reply, answer);
      } finally {
        await server.close();
      }
    });

    const notAllowed = async (_req: FastifyRequest, reply: FastifyReply) =>
      reply
        .code(405)
        .header('allow', 'POST')
        .send({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this MCP server is stateless; send JSON-RPC with POST' }, id: null });
    app.get(MCP_PATH, { schema: { hide: true } }, notAllowed);
    app.delete(MCP_PATH, { schema: { hide: true } }, notAllowed);
  };
}

function asWebRequest(ctx: AppContext, req: FastifyRequest): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return new Request(`${ctx.config.publicUrl}${MCP_PATH}`, { method: req.method, headers });
}

async function send(reply: FastifyReply, answer: Response) {
  reply.code(answer.status);
  answer.headers.forEach((value, name) => {
    if (name !== 'content-length') reply.header(name, value);
  });
  const body = Buffer.from(await answer.arrayBuffer());
  return reply.send(body.length ? body : undefined);
}
