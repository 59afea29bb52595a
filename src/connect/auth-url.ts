// Asking for a start URL (`POST /v1/social-networks/{network}/auth-url`, and the MCP tool `get_connection_url`):
// the network resolved by any of its names, the organization's config for it, the redirect URI checked against
// its allowlist, a reconnected account checked to be this organization's and this network's.
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { findAccount } from '../accounts/accounts.ts';
import { badRequest, InvalidPayload, issueAt, notFound } from '../http/errors.ts';
import { TenantId } from '../http/schemas.ts';
import { networkConfigForFlow } from '../networks/network-configs.ts';
import { defaultWorkspaceId } from '../orgs/organizations.ts';
import { canonicalNetwork } from '../providers/registry.ts';
import { createStartUrl } from './flows.ts';

export const AuthUrlRequest = z.object({
  redirect_uri: z
    .string()
    .url()
    .optional()
    .describe("Where the user's browser returns with the result. Must exactly match one of the network config's redirect_uris."),
  tenant_id: TenantId.optional().describe('Your own identifier for the end user; stored on the connected accounts.'),
  account_id: z.string().max(64).optional().describe('Reconnect this account: it keeps its id and gets fresh tokens.'),
  selection: z
    .enum(['hosted', 'headless'])
    .optional()
    .describe('When one login yields several profiles: our hosted picker (default), or back to redirect_uri with ?session= for your own.'),
});
export type AuthUrlRequest = z.infer<typeof AuthUrlRequest>;

export const AuthUrl = z.object({
  auth_url: z.string().describe('One-time start URL (valid 15 minutes). Send the user there.'),
  expires_at: z.string(),
});

/** The start URL for connecting an account of `networkName` (ApiError or InvalidPayload when it cannot be had). */
export async function authUrlFor(ctx: AppContext, orgId: string, networkName: string, body: AuthUrlRequest): Promise<z.infer<typeof AuthUrl>> {
  const network = canonicalNetwork(networkName);
  const adapter = network && ctx.adapters.get(network);
  if (!adapter) {
    throw badRequest('Unsupported network', `"${networkName}" is not a network this server connects. Supported: ${ctx.adapters.supported().join(', ')}`);
  }
  if (adapter.connection === 'app_password') {
    throw badRequest('No authorization URL for this network', `${adapter.displayName} connects with an app password: POST /v1/social-accounts/${adapter.network}`);
  }
  const config = await networkConfigForFlow(ctx.db, orgId, adapter.network);
  if (!config) {
    throw badRequest('Network not configured', `Configure ${adapter.network} first with POST /v1/social-networks`);
  }
  const issues = [];
  if (body.redirect_uri && !config.redirectUris.includes(body.redirect_uri)) {
    issues.push(issueAt(['redirect_uri'], `redirect_uri is not in the allowed redirect_uris of the ${adapter.network} configuration (exact match required)`));
  }
  if (body.selection === 'headless' && !body.redirect_uri) {
    issues.push(issueAt(['selection'], 'headless selection needs a redirect_uri to send the session to'));
  }
  if (issues.length) throw new InvalidPayload(issues);
  if (body.account_id) {
    const account = await findAccount(ctx.db, orgId, body.account_id);
    if (!account) throw notFound('Social account');
    if (account.network !== adapter.network) throw badRequest('Account belongs to another network', `Account ${account.id} is a ${account.network} account`);
  }
  const { authUrl, expiresAt } = createStartUrl(ctx, orgId, config, {
    redirectUri: body.redirect_uri,
    tenantId: body.tenant_id,
    accountId: body.account_id,
    selection: body.selection ?? 'hosted',
    workspaceId: await defaultWorkspaceId(ctx.db, orgId),
  });
  return { auth_url: authUrl, expires_at: expiresAt.toISOString() };
}
