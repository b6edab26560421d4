#!/usr/bin/env node
/**
 * Bundles ftget (dist/src/cli/main.js, every module it imports, @ft/protocol and the registry
 * dependencies, oclif included) into one CommonJS file, dist/src/ftget-bundle.cjs, plus
 * ftget-bundle.json: the build stamps the bundle was made from. Run after `tsc -b` (the root
 * build script does).
 *
 * Why: through Node's ESM loader ftget loaded ~750 files before doing anything (oclif and its
 * dependencies, ~100 modules of ours); resolving and compiling them cost more CPU than Node's
 * own start-up. One script skips the loader and the file system walk (see README, "Start-up").
 *
 * bin/run.js uses the bundle only while the stamps match: the mtimes of the two tsc build-info
 * files (tsc -b rewrites them whenever it emits) and of pnpm's node_modules/.modules.yaml
 * (rewritten by every install). A bundle left over from older sources is never run; ftget then
 * loads the modules, which behave the same, only slower.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { BUNDLE as BUNDLE_REL, CODE_CACHE, MANIFEST as MANIFEST_REL } from '../bin/bundle.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = path.join(ROOT, 'dist', 'src');
const BUNDLE = path.join(ROOT, BUNDLE_REL);
const MANIFEST = path.join(ROOT, MANIFEST_REL);
/** Relative to the package root; the same list is checked by bin/run.js. */
const STAMPS = [
  'dist/tsconfig.tsbuildinfo',
  '../protocol/dist/tsconfig.tsbuildinfo',
  '../../node_modules/.modules.yaml',
];
/** The only module that reads import.meta.url: the hash thread's file is found beside it. */
const META_URL_USER = path.join(SRC, 'hashing', 'hash-worker.js');

try {
  // Without a manifest bin/run.js uses the modules: no window where a new bundle meets an old
  // cache.
  rmSync(MANIFEST, { force: true });
  rmSync(path.join(ROOT, CODE_CACHE), { force: true });
  const result = await build({
    entryPoints: [path.join(SRC, 'cli', 'main.js')],
    outfile: BUNDLE,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    metafile: true,
    logLevel: 'warning',
    // oclif requires typescript only to transpile sources (main.js turns that off).
    external: ['typescript'],
    // import.meta.url of the hash worker's module, so that the thread's file is found.
    define: { 'import.meta.url': '__ftgetHashWorkerUrl' },
    banner: {
      js: `const __ftgetHashWorkerUrl = require('node:url').pathToFileURL(require('node:path').join(__dirname, ${JSON.stringify(path.relative(SRC, META_URL_USER))})).href;`,
    },
    absWorkingDir: ROOT,
  });
  // The define above gives every module the hash worker's URL: refuse a second user.
  const metaUsers = Object.keys(result.metafile.inputs)
    .map((file) => path.resolve(ROOT, file))
    .filter((file) => !file.includes(`${path.sep}node_modules${path.sep}`))
    .filter((file) => /import\.meta/.test(readFileSync(file, 'utf8')));
  if (metaUsers.some((file) => file !== META_URL_USER))
    throw new Error(`import.meta is read by ${metaUsers.join(', ')}: only hash-worker.js may`);
  // V8's code cache of the bundle after a training run, in a scratch directory.
  const scratch = mkdtempSync(path.join(tmpdir(), 'ftget-code-cache-'));
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'code-cache.mjs'), ROOT], {
      cwd: scratch,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const stamps = {};
  for (const stamp of STAMPS) stamps[stamp] = statSync(path.join(ROOT, stamp)).mtimeMs;
  writeFileSync(MANIFEST, JSON.stringify({ stamps }, null, 2) + '\n');
} catch (error) {
  process.stderr.write(`bundle-cli: ${error instanceof Error ? error.message : error}\n`);
  process.exit(1);
}
