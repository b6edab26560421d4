/**
 * An interrupted UDP download leaves the same OUTPUT.part + OUTPUT.part.json as TCP does, and
 * `--resume` finishes it over UDP or over TCP.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { DatagramType } from '@ft/protocol';
import { killIfRunning, runFtget, spawnFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import { waitFor } from './helpers/procfs.js';
import { startUdpProxy } from './helpers/udp-proxy.js';
import { servedFile } from './helpers/fixtures.js';

const SIZE = 4 * 1024 * 1024 + 17;
const ENV = { ...process.env, FT_UDP_PAYLOAD: '1200' };

/** Starts a UDP download through a proxy that goes dark after ~1.5 MiB, then interrupts it. */
async function interrupted(t: ExecutionContext) {
  const { root, dl, data } = await servedFile(t, 'ft-udpr-', SIZE);
  const server = await startFtserve(['--root', root, '--port', '0', '--workers', '1']);
  t.teardown(() => server.stop('SIGKILL'));
  let seen = 0;
  const proxy = await startUdpProxy({
    target: { host: '127.0.0.1', port: server.port },
    observe: (direction, d) => {
      if (direction === 'toClient' && d[2] === DatagramType.DATA && ++seen === 1300)
        proxy.blackHole(600_000);
    },
  });
  t.teardown(() => proxy.close());
  const run = spawnFtget(
    [
      'get',
      'f.bin',
      '--udp',
      '--host',
      '127.0.0.1',
      '--port',
      String(proxy.port),
      '-q',
      '--stall-timeout',
      '120',
    ],
    { cwd: dl, env: ENV },
  );
  t.teardown(() => killIfRunning(run.child));
  const part = join(dl, 'f.bin.part');
  const state = join(dl, 'f.bin.part.json');
  // The state file is written at least once a second during a transfer.
  t.true(
    await waitFor(() => seen >= 1300 && existsSync(state) && statSync(part).size > 0, 30_000),
    'the download never got going',
  );
  await new Promise((resolve) => setTimeout(resolve, 1200));
  run.child.kill('SIGINT');
  const r = await run.result;
  t.deepEqual([r.code, r.signal], [null, 'SIGINT'], r.stderr);
  t.true(existsSync(part) && existsSync(state));
  const kept = statSync(part).size;
  t.true(kept > 0 && kept < SIZE, `partial of ${kept} bytes`);
  return { dl, data, server };
}

test('an interrupted UDP download resumes over UDP', async (t) => {
  const { dl, data, server } = await interrupted(t);
  const r = await runFtget(
    ['get', 'f.bin', '--udp', '-c', '--host', '127.0.0.1', '--port', String(server.port), '--json'],
    { cwd: dl, env: ENV },
  );
  t.is(r.code, 0, r.stderr);
  t.true((await readFile(join(dl, 'f.bin'))).equals(data));
  t.false(existsSync(join(dl, 'f.bin.part.json')));
  t.true((JSON.parse(r.stdout.toString()) as { resumedFrom: number }).resumedFrom > 0);
});

test('an interrupted UDP download resumes over TCP from the same partial state', async (t) => {
  const { dl, data, server } = await interrupted(t);
  const r = await runFtget(
    ['get', 'f.bin', '-c', '--host', '127.0.0.1', '--port', String(server.port), '--json'],
    {
      cwd: dl,
    },
  );
  t.is(r.code, 0, r.stderr);
  t.true((await readFile(join(dl, 'f.bin'))).equals(data));
  t.true((JSON.parse(r.stdout.toString()) as { resumedFrom: number }).resumedFrom > 0);
});
