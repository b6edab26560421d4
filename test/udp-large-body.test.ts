/**
 * A body large enough to start the ring hashing thread over TCP (RING_THREAD_MIN_BYTES) must
 * not start it over UDP: that thread reads the TCP receive ring in place, and UDP datagrams are
 * not in it. Before this was checked, a 256 MiB `ftget --udp` stalled at the hand-over to the
 * thread (the bench's UDP rows fell to 6 MB/s, cut at 30 s). Asserted: into a file and to
 * stdout, the bytes are identical, and -v never reports the ring thread.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { RING_THREAD_MIN_BYTES } from '@ft/client';
import { runFtget } from './helpers/ftget.js';
import type { FtgetResult } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';

const SIZE = RING_THREAD_MIN_BYTES + 3 * 1024 * 1024 + 17;
let dir: string;
let server: Ftserve;
let expected: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ft-udp-large-'));
  await mkdir(join(dir, 'srv'));
  // A random MiB repeated with a counter: every chunk's digest differs, cheap to make.
  const block = randomBytes(1024 * 1024);
  const hash = createHash('sha256');
  const out = createWriteStream(join(dir, 'srv', 'large.bin'));
  for (let at = 0, i = 0; at < SIZE; i++) {
    const piece = Buffer.from(block.subarray(0, Math.min(block.length, SIZE - at)));
    piece.writeUInt32LE(i, 0);
    hash.update(piece);
    if (!out.write(piece)) await new Promise<void>((r) => out.once('drain', () => r()));
    at += piece.length;
  }
  await new Promise<void>((resolve, reject) =>
    out.end((e?: Error | null) => (e ? reject(e) : resolve())),
  );
  expected = hash.digest('hex');
  server = await startFtserve(['--root', join(dir, 'srv'), '--host', '127.0.0.1', '--port', '0']);
});

test.after.always(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** `ftget get large.bin -o OUTPUT --udp -v`; asserts it succeeded without the ring thread. */
async function getOverUdp(t: ExecutionContext, output: string): Promise<FtgetResult> {
  const where = ['--host', '127.0.0.1', '--port', String(server.port)];
  const r = await runFtget(['get', 'large.bin', ...where, '-o', output, '--udp', '-v'], {
    timeoutMs: 100_000,
  });
  t.is(r.code, 0, r.stderr);
  t.notRegex(r.stderr, /ring hashing thread/);
  return r;
}

test('--udp into a file: a body past the ring-thread size arrives whole, no ring thread', async (t) => {
  const out = join(dir, 'out.bin');
  await getOverUdp(t, out);
  t.is(sha256(await readFile(out)), expected);
});

test('--udp -o -: the same body to stdout, whole, no ring thread', async (t) => {
  const r = await getOverUdp(t, '-');
  t.is(r.stdout.length, SIZE);
  t.is(sha256(r.stdout), expected);
});
