import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import {
  DigestAlgorithm,
  EndStatus,
  EntryKind,
  FrameType,
  MIN_CHUNK_SIZE,
  WireError,
  chunkSizeFor,
  rootDigest,
  sha256,
} from '@ft/protocol';
import { startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { RawClient } from './helpers/raw-client.js';

const dir = mkdtempSync(join(tmpdir(), 'ft-download-'));
const SIZE = 2 * MIN_CHUNK_SIZE + 12_345;
const data = randomBytes(SIZE);
const BIG = 48 * 1024 * 1024;
let server: Ftserve;

test.before(async () => {
  mkdirSync(join(dir, 'sub'));
  mkdirSync(join(dir, 'big'));
  writeFileSync(join(dir, 'data.bin'), data);
  writeFileSync(join(dir, 'empty'), '');
  writeFileSync(join(dir, 'sub', 'b.txt'), 'bee');
  writeFileSync(join(dir, 'a.txt'), 'ay');
  writeFileSync(join(dir, '.hidden'), 'secret');
  server = await startFtserve(['--root', dir, '--port', '0', '--workers', '1', '--no-udp']);
});

test.after.always(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function client(t: { teardown(fn: () => void): void }): Promise<RawClient> {
  const c = await RawClient.connect(server.port);
  t.teardown(() => c.destroy());
  return c;
}

test('the first stdout line names the port, pid and root', (t) => {
  t.true(server.port > 0);
  t.is(server.udp, 'off');
  t.is(server.pid, server.child.pid ?? -1);
  t.true(server.line.includes(`root=`));
});

for (const [name, offset] of [
  ['0', 0],
  ['1', 1],
  ['a chunk boundary', MIN_CHUNK_SIZE],
  ['size - 1', SIZE - 1],
  ['size', SIZE],
] as const) {
  test(`GET from offset ${name} returns exactly the bytes from there to the end`, async (t) => {
    const c = await client(t);
    const r = await c.get({ path: 'data.bin', offset });
    if (!r.ok) return t.fail(JSON.stringify(r.error));
    t.is(r.header.size, SIZE);
    t.is(r.header.offset, offset);
    t.is(r.header.length, SIZE - offset);
    t.true(r.body.equals(data.subarray(offset)));
    t.is(r.end.status, EndStatus.OK);
    t.is(r.end.bytesSent, SIZE - offset);
    t.is(r.header.algorithm, DigestAlgorithm.NONE);
  });
}

test('an offset beyond the size is refused with OFFSET_BEYOND_EOF and the connection stays usable', async (t) => {
  const c = await client(t);
  const r = await c.get({ path: 'data.bin', offset: SIZE + 1 });
  t.false(r.ok);
  if (!r.ok) t.is(r.error.code, WireError.OFFSET_BEYOND_EOF);
  const again = await c.get({ path: 'a.txt', offset: 0 });
  t.true(again.ok && again.body.toString() === 'ay');
});

test('a length-limited GET returns exactly those bytes, and a length past the end is clipped', async (t) => {
  const c = await client(t);
  const r = await c.get({ path: 'data.bin', offset: 1000, length: 5000 });
  t.true(r.ok && r.header.length === 5000 && r.body.equals(data.subarray(1000, 6000)));
  const clipped = await c.get({ path: 'data.bin', offset: SIZE - 10, length: 1000 });
  t.true(
    clipped.ok && clipped.header.length === 10 && clipped.body.equals(data.subarray(SIZE - 10)),
  );
  const zero = await c.get({ path: 'data.bin', offset: 7, length: 0 });
  t.true(zero.ok && zero.header.length === 0 && zero.body.length === 0);
});

test('digests cover exactly the chunks overlapping the range, and the root covers the file', async (t) => {
  const c = await client(t);
  const r = await c.get({
    path: 'data.bin',
    offset: MIN_CHUNK_SIZE + 5,
    length: 100,
    wantDigests: true,
  });
  if (!r.ok) return t.fail();
  const chunk = chunkSizeFor(SIZE);
  const all = [0, 1, 2].map((i) => sha256(data.subarray(i * chunk, (i + 1) * chunk)));
  t.is(r.header.algorithm, DigestAlgorithm.SHA256_CHUNKS);
  t.is(r.header.chunkSize, chunk);
  t.is(r.header.firstChunk, 1);
  t.deepEqual(r.header.chunkDigests, [all[1]]);
  t.deepEqual(r.header.root, rootDigest(all));
  const st = await c.stat('data.bin', true);
  t.true(
    st.type === FrameType.STAT_OK && st.root.equals(rootDigest(all)) && st.chunkSize === chunk,
  );
});

test('a GET with the current validator is served; with another one it gets PRECONDITION_FAILED', async (t) => {
  const c = await client(t);
  const first = await c.get({ path: 'a.txt', offset: 0, length: 1 });
  if (!first.ok) return t.fail();
  const same = await c.get({ path: 'a.txt', offset: 1, validator: first.header.validator });
  t.true(same.ok && same.body.toString() === 'y');
  const other = Buffer.from(first.header.validator);
  other[0]! ^= 0xff;
  const refused = await c.get({ path: 'a.txt', offset: 1, validator: other });
  t.true(!refused.ok && refused.error.code === WireError.PRECONDITION_FAILED);
});

test('pipelined requests are answered in order', async (t) => {
  const c = await client(t);
  const ids = [
    c.sendGet({ path: 'a.txt', offset: 0 }),
    c.sendGet({ path: 'missing', offset: 0 }),
    c.sendGet({ path: 'sub/b.txt', offset: 1 }),
  ];
  const a = await c.readGet();
  const missing = await c.readGet();
  const b = await c.readGet();
  t.true(a.ok && a.header.requestId === ids[0] && a.body.toString() === 'ay');
  t.true(
    !missing.ok && missing.error.requestId === ids[1] && missing.error.code === WireError.NOT_FOUND,
  );
  t.true(b.ok && b.header.requestId === ids[2] && b.body.toString() === 'ee');
});

test('STAT and LIST describe files and directories; dotfiles stay hidden', async (t) => {
  const c = await client(t);
  const st = await c.stat('sub');
  t.true(st.type === FrameType.STAT_OK && st.kind === EntryKind.DIRECTORY);
  const entries = await c.list('');
  if (!Array.isArray(entries)) return t.fail();
  t.deepEqual(
    entries.map((e) => [e.name, e.kind]),
    [
      ['a.txt', EntryKind.FILE],
      ['big', EntryKind.DIRECTORY],
      ['data.bin', EntryKind.FILE],
      ['empty', EntryKind.FILE],
      ['sub', EntryKind.DIRECTORY],
    ],
  );
  t.is(entries.find((e) => e.name === 'data.bin')?.size, SIZE);
  const notDir = await c.list('a.txt');
  t.true(!Array.isArray(notDir) && notDir.code === WireError.NOT_A_DIRECTORY);
  const isDir = await c.get({ path: 'sub', offset: 0 });
  t.true(!isDir.ok && isDir.error.code === WireError.IS_DIRECTORY);
  const empty = await c.get({ path: 'empty', offset: 0 });
  t.true(empty.ok && empty.header.size === 0 && empty.end.status === EndStatus.OK);
});

/** Starts a GET of a large file and stops reading once the body has begun. */
async function stalledGet(t: { teardown(fn: () => void): void }, path: string): Promise<RawClient> {
  const c = await client(t);
  c.sendGet({ path, offset: 0 });
  const header = await c.next();
  if (header.kind !== 'message' || header.message.type !== FrameType.FILE)
    throw new Error('expected FILE');
  const first = await c.next();
  if (first.kind !== 'data') throw new Error('expected body bytes');
  c.socket.pause();
  return c;
}

async function drainBody(c: RawClient): Promise<{ bytes: number; end: unknown; closed: boolean }> {
  let bytes = 0;
  for (;;) {
    const e = await c.next();
    if (e.kind === 'data') bytes += e.chunk.length;
    else if (e.kind === 'close') return { bytes, end: undefined, closed: true };
    else return { bytes, end: e.message, closed: false };
  }
}

test('a file modified during the transfer ends with END status CHANGED', async (t) => {
  const path = join(dir, 'big', 'changing.bin');
  writeFileSync(path, '');
  truncateSync(path, BIG);
  const c = await stalledGet(t, 'big/changing.bin');
  utimesSync(path, new Date(), new Date(Date.now() + 60_000));
  c.socket.resume();
  const { end } = await drainBody(c);
  t.like(end, { type: FrameType.END, status: EndStatus.CHANGED });
});

test('a file truncated during the transfer makes the server cut the connection inside the body', async (t) => {
  const path = join(dir, 'big', 'shrinking.bin');
  writeFileSync(path, '');
  truncateSync(path, BIG);
  const c = await stalledGet(t, 'big/shrinking.bin');
  truncateSync(path, 1024 * 1024);
  c.socket.resume();
  const { closed, bytes } = await drainBody(c);
  t.true(closed);
  t.true(bytes < BIG);
});
