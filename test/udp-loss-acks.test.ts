/**
 * The UDP engine's response to random loss, end to end with real processes through the
 * impairment proxy: every byte arrives, the receiver does not ACK each segment held above a
 * hole, and retransmissions on a path that does not reorder are never taken for spurious.
 * Counts come from FT_UDP_TRACE=1 (ftserve's udp-transfer-end line, ftget's udp-trace line).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { runFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import { waitFor } from './helpers/procfs.js';
import { startUdpProxy } from './helpers/udp-proxy.js';

const PAYLOAD = 1200;
const SIZE = 4 * 1024 * 1024 + 7;

test('2% random loss each way: identical bytes, far fewer ACKs than segments, no false spurious retransmission', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ft-udpl-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'srv');
  const dl = join(dir, 'dl');
  await mkdir(root);
  await mkdir(dl);
  const data = randomBytes(SIZE);
  await writeFile(join(root, 'f.bin'), data);
  const env = { ...process.env, FT_UDP_TRACE: '1', FT_UDP_PAYLOAD: String(PAYLOAD) };
  const server = await startFtserve(['--root', root, '--port', '0', '--workers', '1'], { env });
  t.teardown(() => server.stop('SIGKILL'));
  const imp = { drop: 0.02 };
  const proxy = await startUdpProxy({
    seed: 21,
    toServer: imp,
    toClient: imp,
    target: { host: '127.0.0.1', port: server.port },
  });
  t.teardown(() => proxy.close());
  const r = await runFtget(
    ['get', 'f.bin', '--udp', '--host', '127.0.0.1', '--port', String(proxy.port), '-q'],
    { cwd: dl, env, timeoutMs: 100_000 },
  );
  t.is(r.code, 0, r.stderr);
  t.true((await readFile(join(dl, 'f.bin'))).equals(data));
  t.true(proxy.stats.toClient.dropped > 0 && proxy.stats.toServer.dropped > 0);

  await waitFor(() => /udp-transfer-end .*reason=done/.test(server.stderr()), 10_000);
  const end = /udp-transfer-end .*reason=done[^\n]*/.exec(server.stderr())![0];
  const count = (name: string): number => Number(new RegExp(`\\b${name}=(\\d+)`).exec(end)![1]);
  const segments = Math.ceil(SIZE / PAYLOAD);
  t.true(count('retransmits') > 0, end);
  // A path that drops but never reorders: no retransmission may be judged spurious.
  t.is(count('spurious'), 0, end);
  // One ACK per 8 new segments plus a few per hole; ACKing every held segment was ~2x that.
  const trace = JSON.parse(/udp-trace (\{[^\n]*\})/.exec(r.stderr)![1]!) as { acks: number };
  t.true(trace.acks < segments / 3, `${trace.acks} ACKs for ${segments} segments`);
  t.log(`${trace.acks} ACKs, ${segments} segments; ${end}`);
  t.true(count('acks') <= trace.acks, end);
});
