/**
 * LIST storms across connections: many clients listing one large directory at once must not
 * make a worker hold every listing at once. Each listing takes one of the process's list slots
 * (16, 4 per address) while it is built and sent, and is described one frame at a time. Before
 * that bound, 100 clients × 20,000 entries took one worker to 1.3 GB. Asserted: every client
 * gets the whole listing, sorted and exact, and the worker's peak RSS stays under a bound far
 * below what every listing held at once costs (a resource bound, not a timing).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ListEntry } from '@ft/protocol';
import { serveRoot } from './helpers/ftserve.js';
import { childrenOf, waitFor } from './helpers/procfs.js';
import { ListSlots } from '@ft/server';
import { RawClient } from './helpers/raw-client.js';

const ENTRIES = 10_000;
const CLIENTS = 40;
/** Peak RSS the worker may reach: its idle size plus a few listings, far from 40 of them. */
const PEAK_BOUND = 200 * 1024 * 1024;

const root = mkdtempSync(join(tmpdir(), 'ft-list-memory-'));
const dir = join(root, 'big');
const names: string[] = [];
test.before(() => {
  mkdirSync(dir);
  for (let i = 0; i < ENTRIES; i++)
    names.push(`entry-${String(i).padStart(6, '0')}-of-a-large-directory.dat`);
  for (const name of names) writeFileSync(join(dir, name), 'x');
  names.sort();
});
test.after.always(() => rmSync(root, { recursive: true, force: true }));

function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) * 1024;
}

test('40 clients listing a 10,000-entry directory at once: all exact, worker peak RSS bounded', async (t) => {
  const server = await serveRoot(t, root, ['--workers', '1', '--no-udp']);
  let worker: number | undefined;
  await waitFor(() => (worker = childrenOf(server.child.pid!)[0]) !== undefined, 10_000);
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, () => RawClient.connect(server.port)),
  );
  try {
    const listings = await Promise.all(
      // One address: its share of the slots (4) lists at a time, the others wait their turn.
      clients.map((c) => c.list('big', false, 90_000)),
    );
    for (const l of listings) {
      t.true(Array.isArray(l), 'every LIST answered with entries, not an error');
      const entries = l as ListEntry[];
      t.is(entries.length, ENTRIES);
      t.deepEqual(
        entries.map((e) => e.name),
        names,
      );
    }
    t.true((listings[0] as ListEntry[]).every((e) => e.size === 1));
    const peak = peakRss(worker!);
    t.log(`worker peak RSS ${(peak / 1048576).toFixed(1)} MiB`);
    t.true(peak > 0 && peak < PEAK_BOUND, `worker peak RSS ${peak} under ${PEAK_BOUND}`);
  } finally {
    for (const c of clients) c.socket.destroy();
  }
});

test('list slots: at most N at once and M per address, waiters served in turn', async (t) => {
  const slots = new ListSlots(3, 2);
  const order: string[] = [];
  const take = (address: string, name: string) =>
    slots.acquire(address).then(() => {
      order.push(name);
    });
  await take('a', 'a1');
  await take('a', 'a2');
  const a3 = take('a', 'a3'); // over a's share: waits although a slot is free
  await take('b', 'b1');
  const b2 = take('b', 'b2'); // all 3 slots in use
  const c1 = take('c', 'c1');
  await Promise.resolve();
  t.deepEqual(order, ['a1', 'a2', 'b1']);
  t.is(slots.active, 3);
  slots.release('a'); // a holds 1 now: a3 (first in line, allowed again) goes
  await a3;
  t.deepEqual(order, ['a1', 'a2', 'b1', 'a3']);
  slots.release('b'); // b2 is first in line among those allowed
  await b2;
  slots.release('a');
  await c1;
  t.deepEqual(order, ['a1', 'a2', 'b1', 'a3', 'b2', 'c1']);
  t.is(slots.active, 3);
});
