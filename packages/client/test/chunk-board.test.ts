import test from 'ava';
import {
  ChunkBoard,
  MAX_PIECE_CHUNKS,
  SILENT_MS,
} from '../src/file-download/sources/chunk-board.js';
import type { BoardWorker } from '../src/file-download/sources/chunk-board.js';

const MiB = 1024 * 1024;
const all = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const usable = (): boolean => true;

/** A board with a clock the test moves. */
function board(count: number, wanted = all(count), sources = 1) {
  let now = 0;
  const b = new ChunkBoard(count, MiB, sources, count * MiB, wanted, () => now);
  return { b, tick: (ms: number) => (now += ms) };
}

test('pieces cover every wanted chunk once, large first and shrinking towards the end', (t) => {
  const { b } = board(100);
  const w: BoardWorker = { source: 0, rate: 0 };
  const sizes: number[] = [];
  const seen = new Set<number>();
  for (let p = b.take(w, 2, usable); p !== undefined; p = b.take(w, 2, usable)) {
    sizes.push(p.end - p.first);
    for (let i = p.first; i < p.end; i++) {
      t.false(seen.has(i));
      seen.add(i);
      b.done(i);
    }
    p.next = p.end;
    b.release(p);
  }
  t.is(seen.size, 100);
  t.true(b.finished);
  t.is(sizes[0], MAX_PIECE_CHUNKS);
  t.is(sizes[sizes.length - 1], 1);
  for (let k = 1; k < sizes.length; k++) t.true(sizes[k]! <= sizes[k - 1]!);
});

test('only the wanted chunks are handed out', (t) => {
  const { b } = board(10, [2, 3, 7]);
  const w: BoardWorker = { source: 0, rate: 0 };
  const a = b.take(w, 1, usable)!;
  t.deepEqual([a.first, a.end], [2, 4]);
  const c = b.take({ source: 0, rate: 0 }, 1, usable)!;
  t.deepEqual([c.first, c.end], [7, 8]);
  t.is(b.remaining, 3);
});

test('an idle worker takes the back of a slower piece, in proportion to the rates', (t) => {
  const { b, tick } = board(16);
  const slow: BoardWorker = { source: 0, rate: 1 };
  const piece = b.take(slow, 1, usable)!;
  t.deepEqual([piece.first, piece.end], [0, 8]);
  for (let i = 8; i < 16; i++) b.done(i); // the rest came from elsewhere
  tick(1000);
  piece.received = 1000; // 1 byte per ms, inside chunk 0
  piece.lastData = 1000;
  const fast: BoardWorker = { source: 0, rate: 3 };
  const stolen = b.take(fast, 2, usable)!;
  // 8 chunks left (with the one being received): 3/4 of them to the worker 3 times as fast.
  t.deepEqual([stolen.first, stolen.end], [2, 8]);
  t.is(piece.end, 2);
});

test('the last chunk of a silent piece is taken over, and its owner told to stop', (t) => {
  const { b, tick } = board(1);
  const owner: BoardWorker = { source: 0, rate: 5 };
  const piece = b.take(owner, 2, usable)!;
  let cancelled = false;
  piece.onCancel = () => (cancelled = true);
  piece.received = MiB / 2;
  const other: BoardWorker = { source: 1, rate: 5 };
  tick(100);
  t.is(b.take(other, 2, usable), undefined, 'not while the owner is receiving');
  tick(SILENT_MS);
  const taken = b.take(other, 2, usable)!;
  t.deepEqual([taken.first, taken.end], [0, 1]);
  t.true(cancelled);
  t.true(piece.cancelled);
  b.release(piece);
  t.is(b.remaining, 1, 'the owner giving up its piece does not hand the chunk out twice');
});

test('a chunk that failed verification avoids its source while another may fetch it', (t) => {
  const { b } = board(2, [0, 1], 2);
  const a: BoardWorker = { source: 0, rate: 0 };
  const p = b.take(a, 2, usable)!;
  t.deepEqual([p.first, p.end], [0, 1]);
  b.again(0, 0);
  p.next = 1;
  b.release(p);
  const next = b.take(a, 2, usable)!;
  t.deepEqual([next.first, next.end], [1, 2], 'source 0 skips chunk 0');
  const other = b.take({ source: 1, rate: 0 }, 2, usable)!;
  t.deepEqual([other.first, other.end], [0, 1]);
  // With source 1 gone, source 0 may try chunk 0 again.
  const { b: b2 } = board(1, [0], 2);
  const q = b2.take(a, 2, usable)!;
  b2.again(0, 0);
  q.next = 1;
  b2.release(q);
  const retry = b2.take(a, 2, (s) => s === 0)!;
  t.deepEqual([retry.first, retry.end], [0, 1]);
});
