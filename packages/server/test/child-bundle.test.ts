import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import {
  BUNDLE_FILE,
  MANIFEST_FILE,
  bundleProblem,
  childScript,
  childScriptIn,
} from '../src/process/child-bundle.js';

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

/** A process/ directory with an entry, one input one level up, a bundle and its manifest. */
function fakeBuild(t: { teardown(fn: () => void): void }): string {
  const root = mkdtempSync(join(tmpdir(), 'ft-bundle-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'process');
  mkdirSync(dir);
  writeFileSync(join(dir, 'child-entry.js'), 'entry');
  writeFileSync(join(root, 'logger.js'), 'logger');
  writeFileSync(join(dir, BUNDLE_FILE), 'bundle');
  const manifest = {
    bundle: sha('bundle'),
    inputs: { 'child-entry.js': sha('entry'), '../logger.js': sha('logger') },
  };
  writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify(manifest));
  return dir;
}

test('a bundle that matches every compiled input is the script children run', (t) => {
  const dir = fakeBuild(t);
  t.deepEqual(childScriptIn(dir), { path: join(dir, BUNDLE_FILE), unbundledBecause: undefined });
});

test('a bundle older than one of its inputs is never run: children load child-entry.js', (t) => {
  const dir = fakeBuild(t);
  writeFileSync(join(dir, '..', 'logger.js'), 'logger, recompiled by tsc alone');
  const script = childScriptIn(dir);
  t.is(script.path, join(dir, 'child-entry.js'));
  t.is(script.unbundledBecause, 'stale: ../logger.js changed since bundling');
});

test('a missing, modified or incomplete bundle is refused with its reason', (t) => {
  const dir = fakeBuild(t);
  writeFileSync(join(dir, BUNDLE_FILE), 'bundle, edited by hand');
  t.is(bundleProblem(dir), 'bundle modified');

  const gone = fakeBuild(t);
  rmSync(join(gone, '..', 'logger.js'));
  t.is(bundleProblem(gone), 'stale: ENOENT');

  const partial = fakeBuild(t);
  const manifest = JSON.parse(readFileSync(join(partial, MANIFEST_FILE), 'utf8'));
  delete manifest.inputs['child-entry.js'];
  writeFileSync(join(partial, MANIFEST_FILE), JSON.stringify(manifest));
  t.is(bundleProblem(partial), 'manifest does not list child-entry.js');

  const bad = fakeBuild(t);
  writeFileSync(join(bad, MANIFEST_FILE), '{"bundle":');
  t.is(bundleProblem(bad), 'manifest malformed');

  const none = fakeBuild(t);
  rmSync(join(none, MANIFEST_FILE));
  t.is(bundleProblem(none), 'no bundle (built with tsc only)');
});

test('the build (pnpm build / pnpm test) leaves a current bundle for the real children', (t) => {
  const script = childScript();
  t.is(script.unbundledBecause, undefined, 'run `pnpm build`: it bundles the child entry');
  t.true(script.path.endsWith(BUNDLE_FILE));
});
