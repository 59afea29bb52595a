// What `switchboard keys …` asks of a running server in embedded mode, where the server holds the data directory
// and the CLI cannot open the database itself. Reached only with the local-admin token from DATA_DIR/server.json
// (readable by the user who runs the server): any API key, even an admin one, gets a 404, as if they did not
// exist. Not in the OpenAPI document: they are the CLI's, not the API's.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { createKeyInFirstOrganization } from '../orgs/organizations.ts';
import { ENCRYPTED_COLUMNS } from '../security/encrypted-columns.ts';
import { reencryptStep } from '../security/reencrypt.ts';
import { isLocalAdmin } from './auth.ts';
import { ApiError, badRequest } from './errors.ts';

export const LOCAL_API_KEYS_PATH = '/v1/local/api-keys';
export const LOCAL_REENCRYPT_PATH = '/v1/local/reencrypt';

function requireLocalAdmin(req: FastifyRequest) {
  if (!isLocalAdmin(req)) throw new ApiError(404, 'Not found');
}

export function localAdminRoutes(ctx: AppContext) {
  return async function routes(app: FastifyInstance) {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.post(
      LOCAL_API_KEYS_PATH,
      { schema: { hide: true, body: z.object({ name: z.string().trim().min(1).max(200), role: z.enum(['admin', 'standard']) }) } },
      async (req, reply) => {
        requireLocalAdmin(req);
        return reply.code(201).send({ success: true, data: await createKeyInFirstOrganization(ctx.db, req.body) });
      },
    );

    r.post(
      LOCAL_REENCRYPT_PATH,
      {
        schema: {
          hide: true,
          body: z.object({ cursor: z.object({ column: z.number().int().min(0), after: z.array(z.string()).nullable() }).optional() }),
        },
      },
      async (req) => {
        requireLocalAdmin(req);
        const { cursor } = req.body;
        const target = cursor && ENCRYPTED_COLUMNS[cursor.column];
        if (target && cursor.after && cursor.after.length !== target.rowKey.length) throw badRequest('The cursor does not name a row of that column');
        return { success: true, data: await reencryptStep(ctx.db, ctx.keyring, cursor) };
      },
    );
  };
}
