import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { WRITE_BATCH_BYTES } from '../src/file-writer.js';
import { SHARED_RUN_BYTES } from '../src/hashing/digester-budget.js';
import { RING_BYTES, ReceiveRing, fitsPinned } from '../src/receive/receive-ring.js';
import type { Pin } from '../src/receive/receive-ring.js';

const MiB = 1024 * 1024;

interface Received {
  bytes: Buffer;
  pin: Pin | undefined;
}

/**
 * Sends `data` over loopback into a ring-backed socket; `consume` sees every read and
 * returns when (if at all) it is done with it. Resolves once the sender closed and every
 * read was consumed.
 */
async function receive(
  data: Buffer,
  consume: (read: Received, ring: ReceiveRing) => void,
): Promise<{ ring: ReceiveRing; starvedSeen: boolean; maxUsed: number }> {
  const server = net.createServer((s) => s.end(data));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const ring = new ReceiveRing();
  let starvedSeen = false;
  let maxUsed = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect({
        host: '127.0.0.1',
        port: (server.address() as AddressInfo).port,
        onread: ring.onread,
      });
      ring.attach(
        (bytes, pin) => {
          consume({ bytes, pin }, ring);
          maxUsed = Math.max(maxUsed, ring.used);
        },
        () => {
          // Called only after a read found the ring full and paused the socket.
          starvedSeen = true;
          socket.resume();
        },
      );
      socket.on('error', reject);
      socket.on('end', () => resolve());
    });
  } finally {
    server.close();
  }
  return { ring, starvedSeen, maxUsed };
}

test('bytes are delivered in order and intact, and nothing is pinned once released', async (t) => {
  const data = randomBytes(24 * MiB + 123);
  const hash = createHash('sha256');
  let total = 0;
  const { ring } = await receive(data, ({ bytes }) => {
    hash.update(bytes);
    total += bytes.length;
  });
  t.is(total, data.length);
  t.deepEqual(hash.digest(), createHash('sha256').update(data).digest());
  t.is(ring.used, 0);
});

test('pinned bytes are never overwritten; a full ring pauses the socket and resumes it', async (t) => {
  const data = randomBytes(32 * MiB + 4567);
  let offset = 0;
  let checked = 0;
  let corrupted = 0;
  let pending = 0;
  let idle: (() => void) | undefined;
  const { ring, starvedSeen, maxUsed } = await receive(data, ({ bytes, pin }) => {
    t.truthy(pin, 'ring reads come with a pin');
    const at = offset;
    offset += bytes.length;
    const release = pin!();
    pending++;
    // A slow consumer: the bytes are checked (and released) well after the callback returned,
    // while later reads keep landing in the ring.
    setTimeout(
      () => {
        if (!bytes.equals(data.subarray(at, at + bytes.length))) corrupted++;
        checked += bytes.length;
        release();
        release(); // twice is harmless
        if (--pending === 0) idle?.();
      },
      2 + (at % 7),
    );
  });
  if (pending > 0) await new Promise<void>((resolve) => (idle = resolve));
  t.is(offset, data.length);
  t.is(checked, data.length);
  t.is(corrupted, 0);
  t.true(starvedSeen, 'the slow consumer filled the ring');
  t.true(maxUsed <= RING_BYTES);
  t.is(ring.used, 0);
});

test('a consumer that copies instead of pinning never stalls the ring', async (t) => {
  const data = randomBytes(16 * MiB);
  const copies: Buffer[] = [];
  const { ring, starvedSeen } = await receive(data, ({ bytes }) => {
    copies.push(Buffer.from(bytes));
  });
  t.false(starvedSeen);
  t.true(Buffer.concat(copies).equals(data));
  t.is(ring.used, 0);
});

test('the file path gathers no more than the ring can pin without starving', (t) => {
  // The writer gathers a batch and the digester a run of the newest bytes before they let go.
  t.true(fitsPinned(WRITE_BATCH_BYTES + SHARED_RUN_BYTES));
  t.false(fitsPinned(RING_BYTES));
});
