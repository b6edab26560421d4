/**
 * A resume asks for exactly the bytes it lacks (issue 16, item 12): the offset is asserted where
 * it counts, in the server's transfer log (what was requested, what was sent), not through the
 * client's own `resumedFrom`. An offset off by one would be repaired by chunk refetches and go
 * unnoticed otherwise.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { runFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { waitFor } from './helpers/procfs.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

const MiB = 1024 * 1024;
const SIZE = 5 * MiB + 4321;

function transfers(server: Ftserve): Record<string, unknown>[] {
  return server
    .stderr()
    .split('\n')
    .filter((l) => l.includes('"event":"transfer"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

for (const cutAt of [3 * MiB + 1000, 2 * MiB + 93]) {
  test(`a resume after a cut at ${cutAt} requests exactly the missing range, and only it is sent`, async (t) => {
    const base = await mkdtemp(join(tmpdir(), 'ftget-offset-'));
    t.teardown(() => rm(base, { recursive: true, force: true }));
    const root = join(base, 'srv');
    const dl = join(base, 'dl');
    await mkdir(root);
    await mkdir(dl);
    const data = randomBytes(SIZE);
    await writeFile(join(root, 'f.bin'), data);
    const server = await startFtserve([
      '--root',
      root,
      '--port',
      '0',
      '--no-udp',
      '--workers',
      '1',
      '--log-format',
      'json',
    ]);
    t.teardown(() => server.stop('SIGKILL'));
    const proxy = await startTcpProxy({
      target: { host: '127.0.0.1', port: server.port },
      fault: (n) => (n === 0 ? { cutAfter: cutAt } : undefined),
    });
    t.teardown(() => proxy.close());
    const get = (port: number, ...args: string[]) =>
      runFtget(['get', 'f.bin', '--host', '127.0.0.1', '--port', String(port), ...args], {
        cwd: dl,
      });
    const cut = await get(proxy.port, '--retries', '0');
    t.is(cut.code, 3, cut.stderr);
    const present = (await stat(join(dl, 'f.bin.part'))).size;
    t.true(present > 0 && present < SIZE);
    const logged = await waitFor(() => transfers(server).length === 1, 10_000);
    if (!logged) t.log(server.stderr());
    t.true(logged, 'the cut transfer logged');

    const resumed = await get(server.port, '--resume', '--json');
    t.is(resumed.code, 0, resumed.stderr);
    t.true((await readFile(join(dl, 'f.bin'))).equals(data), 'the output is byte-identical');
    t.true(await waitFor(() => transfers(server).length >= 2, 10_000), 'the resume logged');
    const after = transfers(server).slice(1);
    t.is(after.length, 1, 'one GET: nothing refetched');
    t.like(after[0], {
      offset: present,
      bytes: SIZE - present,
      length: SIZE - present,
      result: 'OK',
    });
  });
}
