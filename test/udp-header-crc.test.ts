/**
 * HEADER_CRC (docs/PROTOCOL.md, "UDP datagrams"): on loopback the client asks for DATA whose CRC
 * covers the header only, the chunk digests verifying the payload; a server predating the flag
 * still serves it (the client asks again without it); a relay that corrupts payloads is caught
 * by the digests and the refetch uses whole-datagram CRCs.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { DatagramType, UdpDataFlags, UdpRequestFlags } from '@ft/protocol';
import { runFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import { startUdpProxy } from './helpers/udp-proxy.js';
import type { UdpProxyOptions } from './helpers/udp-proxy.js';

const SIZE = 2 * 1024 * 1024 + 17;

async function fixture(t: ExecutionContext) {
  const dir = await mkdtemp(join(tmpdir(), 'ft-udph-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'srv');
  await mkdir(root);
  const data = randomBytes(SIZE);
  await writeFile(join(root, 'f.bin'), data);
  const server = await startFtserve(['--root', root, '--port', '0', '--workers', '1']);
  t.teardown(() => server.stop('SIGKILL'));
  const proxy = async (options: Omit<UdpProxyOptions, 'target'>) => {
    const p = await startUdpProxy({ ...options, target: { host: '127.0.0.1', port: server.port } });
    t.teardown(() => p.close());
    return p;
  };
  const get = async (port: number, out: string) => {
    const r = await runFtget(
      ['get', 'f.bin', '--udp', '--host', '127.0.0.1', '--port', String(port), '-q', '-o', out],
      { cwd: dir, env: { ...process.env, FT_UDP_PAYLOAD: '8000' }, timeoutMs: 100_000 },
    );
    return { ...r, bytes: r.code === 0 ? await readFile(join(dir, out)) : undefined };
  };
  return { data, proxy, get };
}

/** Counts REQUESTs and DATA by whether they carry the HEADER_CRC flag. */
function tally() {
  const n = { flaggedRequests: 0, plainRequests: 0, headerCrcData: 0, fullCrcData: 0 };
  const observe = (direction: string, d: Buffer): void => {
    if (direction === 'toServer' && d[2] === DatagramType.REQUEST) {
      if ((d[3]! & UdpRequestFlags.HEADER_CRC) !== 0) n.flaggedRequests++;
      else n.plainRequests++;
    }
    if (direction === 'toClient' && d[2] === DatagramType.DATA) {
      if ((d[3]! & UdpDataFlags.HEADER_CRC) !== 0) n.headerCrcData++;
      else n.fullCrcData++;
    }
  };
  return { n, observe };
}

test('on loopback DATA carries a CRC of its header only, and the bytes are identical', async (t) => {
  const f = await fixture(t);
  const { n, observe } = tally();
  const p = await f.proxy({ seed: 1, observe });
  const r = await f.get(p.port, 'out.bin');
  t.is(r.code, 0, r.stderr);
  t.true(r.bytes!.equals(f.data));
  t.true(n.flaggedRequests > 0 && n.plainRequests === 0, JSON.stringify(n));
  t.true(n.headerCrcData > 0 && n.fullCrcData === 0, JSON.stringify(n));
});

test('a server that drops REQUESTs with HEADER_CRC (one predating it) is asked again without it', async (t) => {
  const f = await fixture(t);
  const { n, observe } = tally();
  const p = await f.proxy({
    seed: 2,
    observe,
    discard: (direction, d) =>
      direction === 'toServer' &&
      d[2] === DatagramType.REQUEST &&
      (d[3]! & UdpRequestFlags.HEADER_CRC) !== 0,
  });
  const r = await f.get(p.port, 'out.bin');
  t.is(r.code, 0, r.stderr);
  t.true(r.bytes!.equals(f.data));
  t.true(n.flaggedRequests >= 2 && n.plainRequests > 0, JSON.stringify(n));
  t.true(n.fullCrcData > 0 && n.headerCrcData === 0, JSON.stringify(n));
});

test('payloads corrupted on the way fail their chunk digests; the refetch uses full CRCs', async (t) => {
  const f = await fixture(t);
  const { n, observe } = tally();
  const p = await f.proxy({ seed: 7, toClient: { corrupt: 0.02 }, observe });
  const r = await f.get(p.port, 'out.bin');
  t.is(r.code, 0, r.stderr);
  t.true(r.bytes!.equals(f.data));
  t.true(p.stats.toClient.corrupted > 0);
  t.true(n.headerCrcData > 0 && n.fullCrcData > 0, JSON.stringify(n));
});
