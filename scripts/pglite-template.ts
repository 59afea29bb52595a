// `npm run db:pglite-template`: writes src/db/pglite-template/<PGlite version>.tar.gz, the data directory a first
// start of the embedded database copies (src/db/pglite-template.ts). Run it after upgrading @electric-sql/pglite:
// until then a first start runs initdb, and test/pglite-template.test.ts fails.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { pgliteTemplatePath } from '../src/db/pglite-template.ts';

const file = pgliteTemplatePath();
const pg = await PGlite.create();
const tarball = await pg.dumpDataDir('gzip');
await pg.close();
mkdirSync(path.dirname(file), { recursive: true });
for (const old of readdirSync(path.dirname(file))) rmSync(path.join(path.dirname(file), old));
writeFileSync(file, Buffer.from(await tarball.arrayBuffer()));
process.stdout.write(`${path.relative(process.cwd(), file)}\n`);
