// The Business Profile APIs' errors, classified for publishing and metrics. Every one of these APIs answers
// Google's standard body (https://cloud.google.com/apis/design/errors, https://google.aip.dev/193):
//   {error: {code: <HTTP status>, message, status: <google.rpc.Code name>, details: [{"@type": …}, …]}}
// with details such as google.rpc.ErrorInfo {reason, domain, metadata}, google.rpc.BadRequest {fieldViolations:
// [{field, description}]} and, on the v4 API, google.mybusiness.v4.ValidationError {errorDetails: [{code, field,
// message}]}.
//
//   Not approved   A Cloud project Google has not yet approved for the Business Profile APIs has a quota of 0: "If
//                  your quota limit for the Google Business Profile API is 0, you have not yet been granted access.
//                  Don't request a quota increase. Instead, submit the Application For Basic API Access"
//                  (https://developers.google.com/my-business/content/limits,
//                  https://developers.google.com/my-business/content/prereqs). The answer is a 429
//                  RESOURCE_EXHAUSTED whose ErrorInfo metadata says `quota_limit_value: "0"`; an API not enabled in
//                  the project answers 403 PERMISSION_DENIED with ErrorInfo reason SERVICE_DISABLED. Both are
//                  `app_not_approved`: waiting does not help, the operator's application does.
//   Rate limits    Any other 429 RESOURCE_EXHAUSTED: 300 requests a minute per API, 10 edits a minute per profile
//                  ("cannot be increased") → `rate_limited`, retried after a minute unless Google says otherwise.
//   Token          401 UNAUTHENTICATED → `auth_expired` (refresh, then reconnect).
//   Access         403 PERMISSION_DENIED (a missing business.manage scope, or the login no longer manages the
//                  location), 404 NOT_FOUND of the location → `permission_missing`.
//   Content        400 INVALID_ARGUMENT, OUT_OF_RANGE → `user_content`, with Google's field violations in the
//                  message; 409 ALREADY_EXISTS → `duplicate`; FAILED_PRECONDITION (a location that may not post:
//                  unverified, suspended, posts disabled) → `platform_rejected`.
//   Google         5xx, UNAVAILABLE, INTERNAL, DEADLINE_EXCEEDED, ABORTED → `platform_error` (retried).
import { z } from 'zod';
import { retryAfterSeconds, type UpstreamResponse } from '../upstream.ts';
import { PublishError, type ErrorCategory } from '../types.ts';

const Detail = z
  .object({
    '@type': z.string().optional(),
    reason: z.string().optional(),
    metadata: z.record(z.string(), z.string()).optional(),
    fieldViolations: z.array(z.object({ field: z.string().optional(), description: z.string().optional() }).loose()).optional(),
    errorDetails: z.array(z.object({ code: z.number().optional(), field: z.string().optional(), message: z.string().optional() }).loose()).optional(),
  })
  .loose();
const GoogleError = z.object({
  error: z.object({ code: z.number().optional(), message: z.string().optional(), status: z.string().optional(), details: z.array(Detail).optional() }).loose(),
});

export const NOT_APPROVED =
  'This Google Cloud project is not approved for the Business Profile APIs yet (its quota is 0): the operator must apply for Business Profile API access at Google (https://developers.google.com/my-business/content/prereqs)';
export const API_DISABLED = 'The Business Profile APIs are not enabled in this Google Cloud project: the operator must enable them in the Google Cloud console';

const BY_STATUS: Record<string, ErrorCategory> = {
  UNAUTHENTICATED: 'auth_expired',
  PERMISSION_DENIED: 'permission_missing',
  NOT_FOUND: 'permission_missing',
  INVALID_ARGUMENT: 'user_content',
  OUT_OF_RANGE: 'user_content',
  ALREADY_EXISTS: 'duplicate',
  FAILED_PRECONDITION: 'platform_rejected',
  RESOURCE_EXHAUSTED: 'rate_limited',
  UNAVAILABLE: 'platform_error',
  INTERNAL: 'platform_error',
  DEADLINE_EXCEEDED: 'platform_error',
  ABORTED: 'platform_error',
  UNKNOWN: 'platform_error',
};

function byHttpStatus(status: number): ErrorCategory {
  if (status === 401) return 'auth_expired';
  if (status === 403 || status === 404) return 'permission_missing';
  if (status === 409) return 'duplicate';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'platform_error';
  if (status >= 400) return 'user_content';
  return 'platform_error';
}

/** A refusal of any Business Profile API, in Google's words, classified. `what` names the thing asked for. */
export function businessProfileError(res: UpstreamResponse, what = 'the request'): PublishError {
  const error = GoogleError.safeParse(res.body).data?.error;
  const status = error?.status;
  const details = error?.details ?? [];
  const platformCode = status ?? res.status;
  const said = error?.message ? `Google said: ${error.message}` : `Google answered HTTP ${res.status}`;

  if (details.some((d) => d.metadata?.quota_limit_value === '0')) return new PublishError('app_not_approved', `${NOT_APPROVED}. (${said})`, { platformCode });
  if (details.some((d) => d.reason === 'SERVICE_DISABLED')) return new PublishError('app_not_approved', `${API_DISABLED}. (${said})`, { platformCode });

  const category = (status && BY_STATUS[status]) || byHttpStatus(res.status);
  if (category === 'rate_limited') {
    return new PublishError('rate_limited', `Google is limiting requests (300 a minute per API, 10 edits a minute per profile). ${said}`, {
      platformCode,
      retryAfterSeconds: retryAfterSeconds(res.headers) ?? 60,
    });
  }
  if (category === 'user_content') {
    // Which field Google objects to, as it names it: the part of the post to edit.
    const fields = details.flatMap((d) => [
      ...(d.fieldViolations ?? []).map((v) => [v.field, v.description].filter(Boolean).join(': ')),
      ...(d.errorDetails ?? []).map((v) => [v.field, v.message].filter(Boolean).join(': ')),
    ]);
    return new PublishError('user_content', `Google refused ${what}. ${said}${fields.length ? ` (${fields.join('; ')})` : ''}`, { platformCode });
  }
  if (category === 'auth_expired') return new PublishError('auth_expired', `Google no longer accepts this account's token: reconnect it. ${said}`, { platformCode });
  if (category === 'permission_missing') {
    const why =
      status === 'NOT_FOUND' || res.status === 404
        ? 'Google does not know this location any more, or this Google login no longer manages it'
        : 'This Google login may not manage this location (it needs the business.manage scope and a manager or owner role)';
    return new PublishError('permission_missing', `${why}. ${said}`, { platformCode });
  }
  if (category === 'platform_error') return new PublishError('platform_error', `Google failed to answer ${what}. ${said}`, { platformCode, retryAfterSeconds: retryAfterSeconds(res.headers) });
  return new PublishError(category, `Google refused ${what}. ${said}`, { platformCode });
}
