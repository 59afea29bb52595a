// `npm run client:generate`: regenerates the typed client in clients/typescript from the server's routes —
// writes the OpenAPI document (clients/typescript/openapi.json) and the generated code (src/generated/).
// `--out <dir>` writes both under another folder instead (test/client-fresh.test.ts compares that with git's).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateClient } from '../clients/typescript/generator.ts';
import { buildOpenApiDocument } from './openapi-document.ts';

export const CLIENT_DIR = fileURLToPath(new URL('../clients/typescript', import.meta.url));
/** What the generator writes, relative to the client's folder. */
export const GENERATED_PATHS = { document: 'openapi.json', code: 'src/generated' };

export async function generate(root = CLIENT_DIR): Promise<void> {
  const documentPath = join(root, GENERATED_PATHS.document);
  mkdirSync(root, { recursive: true });
  writeFileSync(documentPath, JSON.stringify(await buildOpenApiDocument(), null, 2) + '\n');
  await generateClient({ documentPath, outputDir: join(root, GENERATED_PATHS.code) });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--out');
  const root = at > 0 ? resolve(process.argv[at + 1] ?? '') : CLIENT_DIR;
  await generate(root);
  console.log(`client generated in ${root}`);
}
