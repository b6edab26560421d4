import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { FrameType, encodeGet, encodeHello, encodeList, encodeStat } from '@ft/protocol';
import { startFtserve } from './helpers/ftserve.js';
import { childrenOf, rssOf } from './helpers/procfs.js';
import { RawClient } from './helpers/raw-client.js';

const dir = mkdtempSync(join(tmpdir(), 'ft-fuzz-'));
const content = randomBytes(300_000);
const CONNECTIONS = 300;
const FRAMES_PER_CONNECTION = 12;
const PARALLEL = 12;

test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** A small seeded PRNG (mulberry32), so a failing run can be repeated from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PATHS = [
  'file.bin',
  'sub',
  'sub/x.txt',
  '',
  '../etc/passwd',
  'missing',
  '.hidden',
  'a/'.repeat(100),
];

function frameGenerator(rand: () => number): () => Buffer {
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const valid = (): Buffer => {
    const requestId = 1 + int(1000);
    const path = pick(PATHS);
    const kind = int(10);
    switch (kind < 4 ? 0 : kind < 7 ? 1 : kind < 9 ? 2 : 3) {
      case 0:
        return encodeGet({
          requestId,
          path,
          offset: pick([0, 1, 299_999, 300_000, 300_001, int(400_000)]),
          length: rand() < 0.5 ? undefined : int(100_000),
          validator: rand() < 0.2 ? randomBytes(16) : undefined,
          wantDigests: rand() < 0.3,
        });
      case 1:
        return encodeStat({ requestId, path, wantDigest: rand() < 0.5 });
      case 2:
        return encodeList({ requestId, path });
      default:
        return encodeHello({ minVersion: 1, maxVersion: 1 + int(3), name: 'fuzz' });
    }
  };
  return () => {
    const frame = Buffer.from(valid());
    // About one frame in four is damaged, so connections live long enough to serve some requests.
    switch (int(20)) {
      case 0: // one byte corrupted
        frame[int(frame.length)] = int(256);
        return frame;
      case 1: // truncated
        return frame.subarray(0, int(frame.length));
      case 2: // oversized or lying length
        frame.writeUInt32BE(rand() < 0.5 ? 0xffff_ffff - int(1000) : int(20_000), 2);
        return frame;
      case 3: // random bytes
        return randomBytes(1 + int(64));
      case 4: // a field corrupted (flags byte or a u64's high word)
        frame[rand() < 0.5 ? 1 : Math.min(frame.length - 1, 11)] = 0xff;
        return frame;
      default:
        return frame;
    }
  };
}

test('thousands of random and mutated frames never crash the server, whose memory stays bounded', async (t) => {
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'file.bin'), content);
  writeFileSync(join(dir, 'sub', 'x.txt'), 'x');
  const server = await startFtserve([
    '--root',
    dir,
    '--port',
    '0',
    '--no-udp',
    '--workers',
    '2',
    '--idle-timeout',
    '5',
    '--max-connections-per-ip',
    '1000',
  ]);
  t.teardown(() => server.stop());
  const workers = childrenOf(server.pid).sort();
  t.is(workers.length, 2);
  const seed = Date.now() >>> 0;
  t.log(`seed ${seed}`);
  const rand = prng(seed);
  const nextFrame = frameGenerator(rand);
  let frames = 0;
  let answered = 0;
  const clientErrors: string[] = [];

  const runOne = async (): Promise<void> => {
    const c = await RawClient.connect(server.port, { hello: false });
    try {
      if (rand() < 0.7) c.send(encodeHello({ minVersion: 1, maxVersion: 1, name: 'fuzz' }));
      for (let i = 0; i < FRAMES_PER_CONNECTION; i++) {
        c.send(nextFrame());
        frames++;
      }
      c.socket.end();
      const events = await c.untilClosed(30_000);
      answered += events.filter((e) => e.kind === 'message').length;
      const closing = await c.next();
      const error = closing.kind === 'close' ? closing.error : undefined;
      // Resets are a legitimate way to end; frames we cannot decode are not.
      if (error !== undefined && (error as NodeJS.ErrnoException).code?.startsWith('FT_ERR')) {
        clientErrors.push(`${(error as NodeJS.ErrnoException).code}: ${error.message}`);
      }
    } finally {
      c.destroy();
    }
  };
  let started = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (started < CONNECTIONS) {
        started++;
        await runOne();
      }
    }),
  );
  t.log(`${frames} frames over ${CONNECTIONS} connections, ${answered} response frames`);
  t.true(frames >= CONNECTIONS * FRAMES_PER_CONNECTION);
  t.deepEqual(clientErrors, [], 'every response frame was well-formed');
  t.is(server.child.exitCode, null, 'the primary is alive');
  t.deepEqual(childrenOf(server.pid).sort(), workers, 'no worker crashed or was replaced');
  t.notRegex(server.stderr(), /worker-exited|uncaught|TypeError|RangeError/i);
  for (const pid of workers) {
    const rss = rssOf(pid);
    t.true(rss < 256 * 1024 * 1024, `worker ${pid} RSS ${rss}`);
  }
  const c = await RawClient.connect(server.port);
  t.teardown(() => c.destroy());
  const r = await c.get({ path: 'file.bin', offset: 0 });
  t.true(r.ok && r.body.equals(content));
  t.true(answered > 0);
  const st = await c.stat('file.bin', true);
  t.is(st.type, FrameType.STAT_OK);
});
