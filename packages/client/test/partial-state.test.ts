import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import {
  STATE_FORMAT,
  identityOf,
  parseState,
  readState,
  removeState,
  sameIdentity,
  writeState,
} from '../src/partial-state.js';
import type { PartialState } from '../src/partial-state.js';

function sample(): PartialState {
  return {
    format: STATE_FORMAT,
    server: '127.0.0.1:7070',
    remotePath: 'a.bin',
    validator: 'ab'.repeat(16),
    size: 3 * 1024 * 1024 + 1,
    mtimeMs: 1700000000000,
    chunkSize: 1024 * 1024,
    root: 'cd'.repeat(32),
    digests: ['ef'.repeat(32), '', '', ''],
    verified: Buffer.from([1]).toString('base64'),
    partial: {
      size: 1024 * 1024,
      mtimeNs: '1700000000000000001',
      ctimeNs: '1700000000000000002',
      ino: '42',
    },
  };
}

test('a written state reads back identical, and no temp file is left', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ftget-state-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'a.bin.part.json');
  await writeState(path, sample());
  t.deepEqual(await readState(path), sample());
  t.deepEqual(await readdir(dir), ['a.bin.part.json']);
  await removeState(path);
  t.false(existsSync(path));
  t.is(await readState(path), 'missing');
});

test('a damaged or implausible state is never trusted', async (t) => {
  const good = JSON.stringify(sample());
  t.not(parseState(good), undefined);
  const broken: unknown[] = [
    good.slice(0, 40),
    { ...sample(), format: 'other' },
    { ...sample(), validator: 'xyz' },
    { ...sample(), digests: ['ef'.repeat(32)] },
    { ...sample(), digests: ['zz', '', '', ''] },
    { ...sample(), chunkSize: 0 },
    { ...sample(), size: -1 },
    { ...sample(), verified: Buffer.alloc(3).toString('base64') },
    { ...sample(), partial: { size: 1, mtimeNs: 'x', ctimeNs: '1', ino: '1' } },
    null,
  ];
  for (const b of broken)
    t.is(parseState(typeof b === 'string' ? b : JSON.stringify(b)), undefined);
  const dir = await mkdtemp(join(tmpdir(), 'ftget-state-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 's.json'), '{"format":');
  t.is(await readState(join(dir, 's.json')), 'damaged');
});

test("the identity changes when the partial's bytes are rewritten, even at the same size", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ftget-state-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'p');
  await writeFile(path, 'hello');
  const handle = await open(path, 'r+');
  t.teardown(() => handle.close());
  const before = await identityOf(handle);
  t.true(sameIdentity(before, await identityOf(handle)));
  await new Promise((resolve) => setTimeout(resolve, 20));
  await handle.write(Buffer.from('J'), 0, 1, 0);
  const after = await identityOf(handle);
  t.is(after.size, before.size);
  t.false(sameIdentity(before, after));
  t.is(await readFile(path, 'utf8'), 'Jello');
});
