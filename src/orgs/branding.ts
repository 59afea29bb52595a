// An organization's branding of the hosted pages: display name (the organization's `name`), logo, accent colour
// and support link. Read on every hosted page; written through `/v1/branding` and the dashboard.
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import type { DbOrTx } from '../db/database.ts';
import { organizations } from '../db/schema.ts';
import { urlProblem } from '../security/private-urls.ts';
import type { Branding } from '../web/pages.ts';

export const ACCENT_COLOR = /^#[0-9a-fA-F]{6}$/;

export interface BrandingView {
  name: string;
  logo_url: string | null;
  accent_color: string | null;
  support_url: string | null;
}

/**
 * The input of `PUT /v1/branding` and the dashboard's form. URLs must be https (a hosted page is https in
 * production, and an http image or link on it would leak or be blocked), unless private URLs are allowed
 * (local development and tests, where everything is http on loopback). `null` or "" clears a field.
 */
export function brandingInput(allowPrivateUrls: boolean) {
  const url = z
    .string()
    .trim()
    .max(2048)
    .superRefine((value, check) => {
      if (value === '') return;
      const problem = urlProblem(value, allowPrivateUrls) ?? (!allowPrivateUrls && !value.startsWith('https://') ? 'must use https' : undefined);
      if (problem) check.addIssue({ code: 'custom', message: `URL ${problem}` });
    });
  const optional = <T extends z.ZodType>(schema: T) => z.union([schema, z.null()]).optional();
  return z.object({
    name: z.string().trim().min(1).max(200).optional().describe('Display name on every hosted page'),
    logo_url: optional(url),
    accent_color: optional(z.union([z.literal(''), z.string().regex(ACCENT_COLOR, 'must be a colour like #1f4fd1')])),
    support_url: optional(url),
  });
}

export type BrandingInput = z.infer<ReturnType<typeof brandingInput>>;

export async function getBranding(db: DbOrTx, orgId: string): Promise<BrandingView | undefined> {
  const [org] = await db
    .select({ name: organizations.name, logoUrl: organizations.logoUrl, accentColor: organizations.accentColor, supportUrl: organizations.supportUrl })
    .from(organizations)
    .where(eq(organizations.id, orgId));
  return org && { name: org.name, logo_url: org.logoUrl, accent_color: org.accentColor, support_url: org.supportUrl };
}

/** Applies the fields present in `input` (absent: unchanged; null or "": cleared). */
export async function saveBranding(db: DbOrTx, orgId: string, input: BrandingInput): Promise<BrandingView | undefined> {
  const cleared = (v: string | null | undefined) => (v === undefined ? undefined : v || null);
  const accent = cleared(input.accent_color);
  const set = {
    name: input.name,
    logoUrl: cleared(input.logo_url),
    accentColor: accent && accent.toLowerCase(),
    supportUrl: cleared(input.support_url),
  };
  if (Object.values(set).some((v) => v !== undefined)) await db.update(organizations).set(set).where(eq(organizations.id, orgId));
  return getBranding(db, orgId);
}

/** What the hosted pages need; an unknown organization (no flow) gets neutral pages. */
export async function pageBranding(db: DbOrTx, orgId: string | undefined): Promise<Branding> {
  const view = orgId ? await getBranding(db, orgId) : undefined;
  return {
    organizationName: view?.name ?? '',
    logoUrl: view?.logo_url ?? null,
    accentColor: view?.accent_color ?? null,
    supportUrl: view?.support_url ?? null,
  };
}
