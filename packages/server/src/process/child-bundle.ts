/**
 * Which script a child process runs. `pnpm build` bundles child-entry and everything it imports
 * into one CommonJS file (scripts/bundle-child.mjs): a child started from it skips Node's ES
 * module loader, which costs a per-connection child about a third of its start-up CPU and 3 MiB
 * of private memory. The bundle is used only while its manifest matches the compiled modules
 * byte for byte, so a rebuild with `tsc` alone never runs stale code: children then load
 * child-entry.js and its modules as before.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** File names, in this directory, of the bundle and its manifest (written by scripts/bundle-child.mjs). */
export const BUNDLE_FILE = 'child-bundle.cjs';
export const MANIFEST_FILE = 'child-bundle.json';
const ENTRY_FILE = 'child-entry.js';

/** The script children are forked from. */
export interface ChildScript {
  /** Absolute path of the script. */
  path: string;
  /** Why the bundle is not used (missing or stale); undefined when it is. */
  unbundledBecause: string | undefined;
}

interface Manifest {
  bundle: string;
  /** Input path, relative to the manifest's directory → SHA-256 (hex). */
  inputs: Record<string, string>;
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function readManifest(dir: string): Manifest | string {
  let text: string;
  try {
    text = readFileSync(join(dir, MANIFEST_FILE), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    return code === 'ENOENT' ? 'no bundle (built with tsc only)' : `manifest unreadable: ${code}`;
  }
  try {
    const m = JSON.parse(text) as Manifest;
    if (typeof m.bundle === 'string' && typeof m.inputs === 'object' && m.inputs !== null) return m;
  } catch {
    // reported below
  }
  return 'manifest malformed';
}

/**
 * Checks the bundle in `dir` against the files it was built from; returns why it must not be
 * used, or undefined when it is current. Reads about 200 KB once per server start.
 */
export function bundleProblem(dir: string): string | undefined {
  const manifest = readManifest(dir);
  if (typeof manifest === 'string') return manifest;
  const entries = Object.entries(manifest.inputs);
  if (!entries.some(([input]) => resolve(dir, input) === join(dir, ENTRY_FILE)))
    return `manifest does not list ${ENTRY_FILE}`;
  try {
    if (sha256(join(dir, BUNDLE_FILE)) !== manifest.bundle) return 'bundle modified';
    for (const [input, digest] of entries)
      if (sha256(resolve(dir, input)) !== digest) return `stale: ${input} changed since bundling`;
  } catch (error) {
    return `stale: ${(error as NodeJS.ErrnoException).code ?? String(error)}`;
  }
  return undefined;
}

/** The script to fork from the files in `dir`: the bundle when current, else child-entry.js. */
export function childScriptIn(dir: string): ChildScript {
  const problem = bundleProblem(dir);
  return problem === undefined
    ? { path: join(dir, BUNDLE_FILE), unbundledBecause: undefined }
    : { path: join(dir, ENTRY_FILE), unbundledBecause: problem };
}

let cached: ChildScript | undefined;

/** The script every child of this server is forked from (checked once per process). */
export function childScript(): ChildScript {
  cached ??= childScriptIn(fileURLToPath(new URL('.', import.meta.url)));
  return cached;
}
