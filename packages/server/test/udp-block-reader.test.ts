import { closeSync, mkdtempSync, openSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { BLOCK_SIZE, BlockReader } from '../src/udp/block-reader.js';

const dir = mkdtempSync(join(tmpdir(), 'ft-block-unit-'));
const fds: number[] = [];
test.after.always(() => {
  for (const fd of fds) closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, size: number): { path: string; data: Buffer; fd: number } {
  const path = join(dir, name);
  const data = randomBytes(size);
  writeFileSync(path, data);
  const fd = openSync(path, 'r');
  fds.push(fd);
  return { path, data, fd };
}

test('every segment on the grid is the right bytes, including the short last one', (t) => {
  const size = 3 * BLOCK_SIZE + 12_345;
  const f = file('grid', size);
  for (const [start, payload] of [
    [0, 65_000],
    [777, 1200],
    [5, 512],
  ] as const) {
    const reader = new BlockReader(f.fd, size, start, payload);
    for (let off = start; off < size; off += payload) {
      const len = Math.min(payload, size - off);
      t.true(
        reader.slice(off, len).equals(f.data.subarray(off, off + len)),
        `${start}/${payload} at ${off}`,
      );
    }
  }
});

test('segments on the grid are views into one block, never copies', (t) => {
  const size = 2 * BLOCK_SIZE;
  const f = file('views', size);
  const payload = 65_000;
  const reader = new BlockReader(f.fd, size, 0, payload);
  const perBlock = Math.floor(BLOCK_SIZE / payload);
  const first = reader.slice(0, payload);
  for (let k = 1; k < perBlock; k++) {
    t.is(reader.slice(k * payload, payload).buffer, first.buffer, `segment ${k} shares the block`);
  }
});

test('a range off the grid that spans two blocks is still right', (t) => {
  const size = 2 * BLOCK_SIZE;
  const f = file('span', size);
  const reader = new BlockReader(f.fd, size, 0, 1000);
  const off = Math.floor(BLOCK_SIZE / 1000) * 1000 - 10;
  t.true(reader.slice(off, 50).equals(f.data.subarray(off, off + 50)));
});

test('a file that shrank under the reader fails with FT_FILE_SHRANK', (t) => {
  const f = file('shrink', 100_000);
  const reader = new BlockReader(f.fd, 100_000, 0, 1200);
  truncateSync(f.path, 50_000);
  t.throws(() => reader.slice(60_000, 1200), { message: /file shrank/ });
  const error = t.throws(() => reader.slice(98_400, 1200));
  t.is((error as NodeJS.ErrnoException).code, 'FT_FILE_SHRANK');
});

test('an evicted block is reused only once the host says no send can still reference it', (t) => {
  const payload = 65_000;
  const size = 12 * BLOCK_SIZE;
  const f = file('reuse', size);
  for (const reusable of [false, true]) {
    // The epoch moves on after every read when sends complete, never when they do not.
    let epoch = 0;
    const reader = new BlockReader(f.fd, size, 0, payload, () => (reusable ? ++epoch : 0));
    const first = reader.slice(0, payload);
    const seen = new Set<ArrayBufferLike>([first.buffer]);
    let reused = false;
    for (let off = payload; off + payload <= size; off += payload) {
      const s = reader.slice(off, payload);
      t.true(s.equals(f.data.subarray(off, off + payload)), `at ${off}`);
      if (seen.has(s.buffer) && s.byteOffset === 0 && off >= 5 * BLOCK_SIZE) reused = true;
      seen.add(s.buffer);
    }
    t.is(reused, reusable);
    // Without reuse, a view handed out long ago still holds the bytes it was cut from.
    if (!reusable) t.true(first.equals(f.data.subarray(0, payload)));
  }
});
