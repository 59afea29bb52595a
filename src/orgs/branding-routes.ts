// `/v1/branding`: how the organization's hosted pages (selection, connected, error) look.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { notFound } from '../http/errors.ts';
import { success } from '../http/schemas.ts';
import { brandingInput, getBranding, saveBranding } from './branding.ts';

const Branding = z
  .object({
    name: z.string().describe('Display name on every hosted page'),
    logo_url: z.string().nullable(),
    accent_color: z.string().nullable().describe('#rrggbb, the button colour'),
    support_url: z.string().nullable().describe('Linked as "Need help? Contact {name} support"'),
  })
  .meta({ id: 'Branding' });

export function brandingRoutes(ctx: AppContext) {
  return async function routes(app: FastifyInstance) {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['Branding'];

    r.get('/v1/branding', { schema: { tags, operationId: 'getBranding', summary: "The hosted pages' branding", response: { 200: success(Branding) } } }, async (req) => {
      const view = await getBranding(ctx.db, req.caller.orgId);
      if (!view) throw notFound('Organization');
      return { success: true as const, data: view };
    });

    r.put(
      '/v1/branding',
      {
        schema: {
          tags,
          operationId: 'updateBranding', summary: 'Change the branding (fields left out stay as they are; null or "" clears one)',
          body: brandingInput(ctx.config.allowPrivateUrls),
          response: { 200: success(Branding) },
        },
      },
      async (req) => {
        const view = await saveBranding(ctx.db, req.caller.orgId, req.body);
        if (!view) throw notFound('Organization');
        return { success: true as const, data: view };
      },
    );
  };
}
