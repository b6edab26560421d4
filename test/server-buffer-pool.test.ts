/**
 * Clients that stop reading must not take the server's memory from others: one address's
 * stalled downloads may not starve the read-buffer pool of a worker, and the kernel send
 * buffers of a stalled connection are freed when it is cut.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { BufferPool, StallWatch } from '@ft/server';
import { servedFile, sparseFile } from './helpers/fixtures.js';
import { runFtget } from './helpers/ftget.js';
import { serveRoot } from './helpers/ftserve.js';
import { waitFor } from './helpers/procfs.js';
import { RawClient } from './helpers/raw-client.js';
import { serverSendQueued, serverSockets } from './helpers/tcp-queues.js';

const bigDir = mkdtempSync(join(tmpdir(), 'ft-pool-'));
const BIG = 1024 * 1024 * 1024;

test.before(() => sparseFile(join(bigDir, 'big.bin'), BIG));
test.after.always(() => rmSync(bigDir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `count` connections from `localAddress` that each ask for a large file and read nothing. */
async function nonReading(
  port: number,
  localAddress: string,
  count: number,
  path: string,
): Promise<RawClient[]> {
  const clients: RawClient[] = [];
  for (let i = 0; i < count; i++) {
    const c = await RawClient.connect(port, { localAddress });
    c.socket.pause();
    c.sendGet({ path, offset: 0 });
    clients.push(c);
  }
  return clients;
}

/**
 * Waits (bounded) until the kernel send queues of the server's connections stop growing;
 * resolves with the bytes they hold then.
 */
async function untilStalled(port: number): Promise<number> {
  let last = -1;
  for (let i = 0; i < 60; i++) {
    const now = serverSendQueued(port);
    if (now === last && now > 0) return now;
    last = now;
    await sleep(500);
  }
  return last;
}

/** f.bin (10 MiB) and a sparse big.bin for the stalled downloads. */
async function rootWithBigFile(t: ExecutionContext, prefix: string) {
  const served = await servedFile(t, prefix, 10 * 1024 * 1024);
  await sparseFile(join(served.root, 'big.bin'), BIG);
  return served;
}

/** ftget fetches f.bin to `dl`/out.bin beside the stalled downloads: whole and identical. */
async function othersAreServed(t: ExecutionContext, port: number, dl: string, data: Buffer) {
  const r = await runFtget(
    [
      'get',
      'f.bin',
      '-o',
      'out.bin',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--stall-timeout',
      '10',
      '--retries',
      '0',
    ],
    { cwd: dl },
  );
  t.is(r.code, 0, r.stderr);
  t.true((await readFile(join(dl, 'out.bin'))).equals(data));
}

for (const count of [32, 64]) {
  test(`${count} non-reading downloads from one address leave buffers for another address`, async (t) => {
    const { root, dl, data } = await rootWithBigFile(t, 'ft-pool-dl-');
    const server = await serveRoot(t, root, ['--workers', '1', '--no-udp']);
    const stalled = await nonReading(server.port, '127.0.0.2', count, 'big.bin');
    t.teardown(() => stalled.forEach((c) => c.destroy()));
    await untilStalled(server.port);
    t.true(serverSendQueued(server.port) > 0, 'the non-reading downloads have started');
    await othersAreServed(t, server.port, dl, data);
  });
}

test('the kernel send buffers of a client that stopped reading are freed when it is cut', async (t) => {
  const server = await serveRoot(t, bigDir, ['--workers', '1', '--no-udp', '--idle-timeout', '3']);
  const stalled = await nonReading(server.port, '127.0.0.2', 8, 'big.bin');
  t.teardown(() => stalled.forEach((c) => c.destroy()));
  const queued = await untilStalled(server.port);
  t.true(queued > 8 * 1024 * 1024, `the stalled sends filled the kernel (${queued} bytes)`);
  t.true(
    await waitFor(() => (server.stderr().match(/result=timeout/g) ?? []).length >= 8, 30_000),
    'the server cut the stalled connections',
  );
  // The clients still hold their ends open and read nothing: nothing more can be delivered.
  t.true(
    await waitFor(() => serverSendQueued(server.port) === 0, 5000),
    `still queued: ${serverSendQueued(server.port)} bytes`,
  );
});

/** net.ipv4.tcp_wmem's maximum: the most a kernel send buffer grows to by itself. */
function kernelSendBufferMax(): number {
  return Number(readFileSync('/proc/sys/net/ipv4/tcp_wmem', 'utf8').trim().split(/\s+/)[2]);
}

test('stalled downloads from many addresses are cut down to a few: buffers and kernel memory stay available', async (t) => {
  const { root, dl, data } = await rootWithBigFile(t, 'ft-pool-many-');
  const server = await serveRoot(t, root, ['--workers', '1', '--no-udp']);
  // 40 stalled downloads, 8 per address: more than the whole pool (32 buffers).
  const stalled: RawClient[] = [];
  t.teardown(() => stalled.forEach((c) => c.destroy()));
  for (const address of ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'])
    stalled.push(...(await nonReading(server.port, address, 8, 'big.bin')));
  await untilStalled(server.port);
  await othersAreServed(t, server.port, dl, data);
  const cut = () => (server.stderr().match(/connection peer=\S+ .*result=stalled/g) ?? []).length;
  t.true(await waitFor(() => cut() >= 32, 30_000), `${cut()} stalled connections cut`);
  const holding = serverSockets(server.port).filter((s) => s.sendQueue > 0);
  t.true(holding.length <= 8, `${holding.length} connections still hold kernel send buffers`);
  t.true(serverSendQueued(server.port) <= 8 * kernelSendBufferMax());
});

/** Resolves with whether `p` settled within a turn of the event loop. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
}

test('BufferPool: an address at its share waits while other addresses are served', async (t) => {
  // 4 buffers, at most 2 per address.
  const pool = new BufferPool(1024, 4 * 1024, 1 / 2);
  t.is(pool.perAddress, 2);
  const a1 = await pool.acquire('a');
  await pool.acquire('a');
  const a3 = pool.acquire('a');
  t.false(await settled(a3), 'a third buffer for the same address waits');
  t.true(await settled(pool.acquire('b')), 'another address is served at once');
  t.is(pool.heldBy('a'), 2);
  pool.release(a1, 'a');
  t.true(await settled(a3), 'the waiting transfer of the address gets the buffer given back');
  t.is(pool.heldBy('a'), 2);
});

test('BufferPool: a released buffer skips waiters whose address is at its share', async (t) => {
  // 2 buffers, at most 1 per address.
  const pool = new BufferPool(1024, 2 * 1024, 1 / 2);
  await pool.acquire('a');
  const b = await pool.acquire('b');
  const a2 = pool.acquire('a');
  const c = pool.acquire('c');
  t.false(await settled(a2));
  t.false(await settled(c));
  pool.release(b, 'b');
  t.true(await settled(c), 'c, within its share, gets the buffer');
  t.false(await settled(a2), 'a, at its share, still waits');
  t.is(pool.buffers, 2, 'never more buffers than the budget');
});

test('StallWatch: beyond the allowance the longest-stalled connections are cut', (t) => {
  const cut: number[] = [];
  const watch = new StallWatch(2, 1000);
  const conns = [100, 50, 900, 300, undefined, 2500].map((since, i) => ({
    stalledSince: () => since,
    cutStalled: () => cut.push(i),
  }));
  for (const c of conns) watch.add(c);
  t.teardown(() => conns.forEach((c) => watch.delete(c)));
  // At 3000: stalled for ≥ 1000 ms are 0, 1, 2, 3 (since 100, 50, 900, 300); 5 only for 500 ms.
  t.is(watch.check(3000), 2);
  t.deepEqual(cut.sort(), [0, 1]);
});
