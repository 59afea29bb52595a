// The account events (webhooks/events.ts ACCOUNT_EVENTS) as the OpenAPI document shows them: `data.account` is the
// account as the API shows it (toAccountView: never tokens), with the reason or deadline some events add.
import { z } from 'zod';
import { SocialAccount, SOCIAL_ACCOUNT_EXAMPLE } from '../http/schemas.ts';
import { EXAMPLE_TIMESTAMP, eventPayload, type EventDoc } from '../webhooks/event-docs.ts';

const reason = z.string().describe('Why, in words');

export const accountEventDocs: EventDoc[] = [
  {
    type: 'account.connected',
    summary: 'An account was connected',
    description: 'A person finished the connection flow (or a Bluesky app password was accepted) for an account new to its workspace and tenant.',
    schema: eventPayload('account.connected', z.object({ account: SocialAccount }), 'AccountConnectedEvent'),
    example: { type: 'account.connected', timestamp: EXAMPLE_TIMESTAMP, data: { account: SOCIAL_ACCOUNT_EXAMPLE } },
  },
  {
    type: 'account.reconnected',
    summary: 'An account was connected again',
    description: 'The connection flow ran for an account already connected (a reconnect, or the same network account again): it keeps its id, with new tokens.',
    schema: eventPayload('account.reconnected', z.object({ account: SocialAccount }), 'AccountReconnectedEvent'),
    example: { type: 'account.reconnected', timestamp: EXAMPLE_TIMESTAMP, data: { account: SOCIAL_ACCOUNT_EXAMPLE } },
  },
  {
    type: 'account.reauth_required',
    summary: 'An account needs its person to connect it again',
    description: 'The network refused the account\'s tokens for good (revoked, expired, password changed): its status is now `reauth_required`; send its person through auth-url with `account_id`.',
    schema: eventPayload('account.reauth_required', z.object({ account: SocialAccount, reason: reason.optional() }), 'AccountReauthRequiredEvent'),
    example: {
      type: 'account.reauth_required',
      timestamp: EXAMPLE_TIMESTAMP,
      data: { account: { ...SOCIAL_ACCOUNT_EXAMPLE, status: 'reauth_required' }, reason: 'The refresh token was revoked' },
    },
  },
  {
    type: 'account.disconnected',
    summary: 'An account was disconnected',
    description: 'Through the API or the dashboard, or because its network app configuration was removed: its tokens are gone.',
    schema: eventPayload('account.disconnected', z.object({ account: SocialAccount, reason }), 'AccountDisconnectedEvent'),
    example: {
      type: 'account.disconnected',
      timestamp: EXAMPLE_TIMESTAMP,
      data: { account: { ...SOCIAL_ACCOUNT_EXAMPLE, status: 'disconnected', token_expires_at: null, scopes: [] }, reason: 'Disconnected through the API' },
    },
  },
  {
    type: 'account.recovered',
    summary: 'An account works again',
    description: 'A refresh succeeded after failing: nothing for the person to do.',
    schema: eventPayload('account.recovered', z.object({ account: SocialAccount }), 'AccountRecoveredEvent'),
    example: { type: 'account.recovered', timestamp: EXAMPLE_TIMESTAMP, data: { account: SOCIAL_ACCOUNT_EXAMPLE } },
  },
  {
    type: 'account.expiring',
    summary: 'An account must be re-authorized soon',
    description: 'Once per grant, SWITCHBOARD_EXPIRING_DAYS (7) before the network ends it and no refresh can extend it: ask its person to connect it again before `reauthorize_by`.',
    schema: eventPayload(
      'account.expiring',
      z.object({ account: SocialAccount, reauthorize_by: z.string().nullable().describe('When the grant ends (ISO 8601)') }),
      'AccountExpiringEvent',
    ),
    example: { type: 'account.expiring', timestamp: EXAMPLE_TIMESTAMP, data: { account: SOCIAL_ACCOUNT_EXAMPLE, reauthorize_by: '2026-12-14T16:00:00.000Z' } },
  },
];
