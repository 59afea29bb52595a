// The embedded database's first start copies a template of initdb's output (src/db/pglite-template.ts) instead
// of running initdb. A first start must still give a working, migrated, durable database; and the template must
// be there for the PGlite that is installed, or every first start silently goes back to initdb's ~750 MiB.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.ts';
import { organizations } from '../src/db/schema.ts';
import { installedPgliteVersion, pgliteTemplatePath } from '../src/db/pglite-template.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('the embedded database template', () => {
  it('exists for the installed PGlite (after an upgrade: npm run db:pglite-template)', () => {
    expect(existsSync(pgliteTemplatePath()), `no ${pgliteTemplatePath()} for @electric-sql/pglite ${installedPgliteVersion()}`).toBe(true);
  });

  it('gives a new data directory a migrated database that keeps what is written across a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-template-'));
    dirs.push(dataDir);
    const first = await openDatabase({ dataDir });
    // Migrated: our tables are there, and PostgreSQL's own settings are initdb's (UTF-8, the UTC the app expects).
    const settings = (await first.db.execute(sql`select current_setting('server_encoding') as encoding, current_setting('TimeZone') as tz`)) as unknown as { rows: unknown[] };
    expect(settings.rows[0]).toEqual({ encoding: 'UTF8', tz: 'UTC' });
    const [org] = await first.db.insert(organizations).values({ id: 'org_template', name: 'Template Org' }).returning();
    await first.close();
    // Unpacked in a staging folder and renamed: nothing is left beside the data directory.
    expect(readdirSync(dataDir).filter((n) => n.startsWith('pgdata'))).toEqual(['pgdata']);

    const again = await openDatabase({ dataDir });
    const rows = await again.db.select().from(organizations).where(sql`${organizations.id} = ${org.id}`);
    expect(rows.map((r) => r.name)).toEqual(['Template Org']);
    await again.close();
  });
});
