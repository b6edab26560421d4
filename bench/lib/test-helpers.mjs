/**
 * The test helpers the bench shares with the tests (test/helpers/*.ts, compiled to
 * test/dist/helpers by `pnpm build`): one implementation of the shaping proxy and of the test
 * certificates, not a copy. A missing build is a clear error that the section reports.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** Imports test/dist/helpers/NAME.js. */
export async function testHelper(repo, name) {
  const file = path.join(repo, 'test/dist/helpers', `${name}.js`);
  if (!existsSync(file))
    throw new Error(`${path.relative(repo, file)} is missing: run \`pnpm build\` first`);
  return import(pathToFileURL(file).href);
}
