import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { serveRoot } from './helpers/ftserve.js';
import { childrenOf, fdCount, mostChildren, waitFor, zombieChildren } from './helpers/procfs.js';
import { fetchFile } from './helpers/raw-client.js';

const dir = mkdtempSync(join(tmpdir(), 'ft-models-'));
const content = randomBytes(64 * 1024);
writeFileSync(join(dir, 'file.bin'), content);

test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const MODELS = [
  ['the pre-forked pool', ['--workers', '2']],
  ['fork-per-connection', ['--fork-per-connection', '--max-children', '32']],
] as const;

for (const [name, modelArgs] of MODELS) {
  test(`${name} serves 200 concurrent clients, then has no zombies and its descriptors back at baseline`, async (t) => {
    const server = await serveRoot(t, dir, [
      '--no-udp',
      '--max-connections-per-ip',
      '1000',
      ...modelArgs,
    ]);
    const steadyChildren = childrenOf(server.pid).length;
    const baseline = fdCount(server.pid);
    let busy = 0;
    const results = await Promise.all(
      Array.from({ length: 200 }, () =>
        fetchFile(server.port, 'file.bin', { attempts: 200, onBusy: () => busy++ }),
      ),
    );
    t.is(results.filter((r) => r.ok && r.body.equals(content)).length, 200);
    t.log(`${busy} BUSY answers retried`);
    t.true(
      await waitFor(
        () =>
          zombieChildren(server.pid).length === 0 &&
          childrenOf(server.pid).length === steadyChildren,
      ),
      `children: ${childrenOf(server.pid).join(' ')}`,
    );
    t.true(
      await waitFor(() => fdCount(server.pid) === baseline),
      `fds ${fdCount(server.pid)} vs ${baseline}`,
    );
    t.deepEqual(zombieChildren(server.pid), []);
  });
}

test('fork-per-connection never runs more than --max-children children; the rest get BUSY and succeed on retry', async (t) => {
  const server = await serveRoot(t, dir, [
    '--no-udp',
    '--fork-per-connection',
    '--max-children',
    '4',
  ]);
  const children = mostChildren(server.pid, 5);
  let busy = 0;
  const results = await Promise.all(
    Array.from({ length: 20 }, () =>
      fetchFile(server.port, 'file.bin', { attempts: 500, onBusy: () => busy++ }),
    ),
  );
  const most = await children.stop();
  t.is(results.filter((r) => r.ok && r.body.equals(content)).length, 20);
  t.true(most >= 1 && most <= 4, `saw ${most} children`);
  t.true(busy > 0, 'some clients were told BUSY');
  t.true(await waitFor(() => zombieChildren(server.pid).length === 0));
});

test('a worker killed with SIGKILL is replaced and the server keeps serving', async (t) => {
  const server = await serveRoot(t, dir, ['--no-udp', '--workers', '2']);
  const before = childrenOf(server.pid);
  t.is(before.length, 2);
  const victim = before[0]!;
  process.kill(victim, 'SIGKILL');
  t.true(
    await waitFor(() => {
      const now = childrenOf(server.pid);
      return now.length === 2 && !now.includes(victim) && zombieChildren(server.pid).length === 0;
    }),
    `children now: ${childrenOf(server.pid).join(' ')}`,
  );
  for (let i = 0; i < 6; i++) {
    const r = await fetchFile(server.port, 'file.bin', { attempts: 20 });
    t.true(r.ok && r.body.equals(content));
  }
  t.regex(server.stderr(), /worker-exited .*signal=SIGKILL/);
});
