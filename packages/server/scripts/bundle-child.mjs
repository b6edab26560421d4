#!/usr/bin/env node
/**
 * Bundles the entry of ftserve's children (dist/src/process/child-entry.js and every module it
 * imports, @ft/protocol included) into one CommonJS file, dist/src/process/child-bundle.cjs,
 * plus child-bundle.json: the SHA-256 of the bundle and of each compiled input. Run after
 * `tsc -b` (the root build, test and ftserve scripts do).
 *
 * Why: a fork-per-connection child is a fresh Node process per connection. Loading ~30 ES
 * modules through Node's ESM loader made up about a third of a child's start-up CPU and 3 MiB of
 * its private memory; one CommonJS script skips the loader (see README, "Process models").
 * spawn-child uses the bundle only while the manifest matches the compiled files, so a bundle
 * left over from older sources is never run (the children then load the modules).
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const PROCESS_DIR = fileURLToPath(new URL('../dist/src/process/', import.meta.url));
const ENTRY = path.join(PROCESS_DIR, 'child-entry.js');
const BUNDLE = path.join(PROCESS_DIR, 'child-bundle.cjs');
const MANIFEST = path.join(PROCESS_DIR, 'child-bundle.json');

const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');

try {
  const result = await build({
    entryPoints: [ENTRY],
    outfile: BUNDLE,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    metafile: true,
    logLevel: 'warning',
    absWorkingDir: PROCESS_DIR,
    // koffi finds its native binary beside its own files: it is loaded from node_modules.
    external: ['koffi'],
  });
  const inputs = {};
  for (const input of Object.keys(result.metafile.inputs).sort())
    inputs[input] = sha256(path.resolve(PROCESS_DIR, input));
  const manifest = { bundle: sha256(BUNDLE), inputs };
  writeFileSync(MANIFEST, JSON.stringify(manifest, null, 2) + '\n');
} catch (error) {
  process.stderr.write(`bundle-child: ${error instanceof Error ? error.message : error}\n`);
  process.exit(1);
}
