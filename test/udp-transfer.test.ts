/**
 * End to end over UDP: real ftserve and ftget processes, with the UDP impairment proxy between
 * them. Files of sizes 0, 1, exactly one payload, a multiple of the payload and several MiB
 * arrive byte-identical at 0/1/5/10% random loss in each direction.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { runFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import { startUdpProxy } from './helpers/udp-proxy.js';
import type { UdpProxyOptions } from './helpers/udp-proxy.js';

/** The tests ask for small datagrams so that a few MiB are thousands of datagrams. */
const PAYLOAD = 1200;
const SIZES: Record<string, number> = {
  empty: 0,
  'one-byte': 1,
  'one-payload': PAYLOAD,
  'four-payloads': 4 * PAYLOAD,
  'three-mib': 3 * 1024 * 1024 + 777,
};

async function fixture(t: ExecutionContext, proxy: Omit<UdpProxyOptions, 'target'>) {
  const dir = await mkdtemp(join(tmpdir(), 'ft-udp-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'srv');
  const dl = join(dir, 'dl');
  await mkdir(root);
  await mkdir(dl);
  const files = new Map<string, Buffer>();
  for (const [name, size] of Object.entries(SIZES)) {
    const data = randomBytes(size);
    files.set(name, data);
    await writeFile(join(root, name), data);
  }
  const server = await startFtserve(['--root', root, '--port', '0', '--workers', '1']);
  t.teardown(() => server.stop('SIGKILL'));
  t.regex(server.udp, /:\d+$/);
  const p = await startUdpProxy({ ...proxy, target: { host: '127.0.0.1', port: server.port } });
  t.teardown(() => p.close());
  const get = (name: string, ...args: string[]) =>
    runFtget(
      ['get', name, '--udp', '--host', '127.0.0.1', '--port', String(p.port), '-q', ...args],
      {
        cwd: dl,
        env: { ...process.env, FT_UDP_PAYLOAD: String(PAYLOAD) },
        timeoutMs: 100_000,
      },
    );
  return { dir, root, dl, files, server, proxy: p, get };
}

for (const loss of [0, 0.01, 0.05, 0.1]) {
  test(`every size arrives byte-identical over UDP with ${loss * 100}% loss each way`, async (t) => {
    const f = await fixture(t, {
      seed: 42 + loss * 100,
      toServer: { drop: loss },
      toClient: { drop: loss },
    });
    for (const [name, data] of f.files) {
      const r = await f.get(name);
      t.is(r.code, 0, `${name}: ${r.stderr}`);
      t.true((await readFile(join(f.dl, name))).equals(data), name);
    }
    if (loss > 0) t.true(f.proxy.stats.toClient.dropped > 0 && f.proxy.stats.toServer.dropped > 0);
  });
}
