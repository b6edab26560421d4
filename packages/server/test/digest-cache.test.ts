/**
 * DigestCache.forget across processes: two caches over one store stand for two prefork workers.
 * When one finds the digests of a version stale (a RECHECK) and forgets them, the other must not
 * keep serving its copy from memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { sha256 } from '@ft/protocol';
import { DigestCache } from '../src/files/digest-cache.js';
import type { FileDigests } from '../src/files/digest-cache.js';
import { DigestStore } from '../src/files/digest-store.js';

const dir = mkdtempSync(join(tmpdir(), 'ft-dcache-unit-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const SIZE = 1000;
const validator = Buffer.alloc(16, 3);
const version = (tag: string): FileDigests => {
  const chunk = sha256(Buffer.from(tag));
  return {
    chunkSize: 1024 * 1024,
    root: sha256(chunk),
    chunkDigests: [chunk],
    sha256: sha256(Buffer.from(tag)),
  };
};

test('digests forgotten by one cache are dropped from the memory of another sharing the store', async (t) => {
  const store = new DigestStore(dir);
  const a = new DigestCache(undefined, store);
  const b = new DigestCache(undefined, store);
  let computed = 0;
  const compute = (tag: string) => async () => {
    computed++;
    return version(tag);
  };
  const first = await a.get(validator, SIZE, compute('stale'));
  t.is(first.source, 'computed');
  const inB = await b.get(validator, SIZE, compute('unused'));
  t.is(inB.source, 'cached', 'b loaded the entry from the store');
  t.true((await b.get(validator, SIZE, compute('unused'))).digests.root.equals(first.digests.root));
  t.is(computed, 1);

  await a.forget(validator);
  const fresh = await b.get(validator, SIZE, compute('fresh'));
  t.is(fresh.source, 'computed', 'b did not serve its memory copy once the store lost it');
  t.true(fresh.digests.root.equals(version('fresh').root));
  t.is((await a.get(validator, SIZE, compute('unused'))).source, 'cached', 'a reads the new entry');
  t.true(
    (await a.get(validator, SIZE, compute('unused'))).digests.root.equals(version('fresh').root),
  );
  t.is(computed, 2);
});

test('without a store, forget drops the memory entry', async (t) => {
  const c = new DigestCache();
  let computed = 0;
  const compute = async () => {
    computed++;
    return version(`v${computed}`);
  };
  await c.get(validator, SIZE, compute);
  t.is((await c.get(validator, SIZE, compute)).source, 'cached');
  const before = c.size;
  await c.forget(validator);
  t.true(c.size < before);
  t.is((await c.get(validator, SIZE, compute)).source, 'computed');
  t.is(computed, 2);
});
