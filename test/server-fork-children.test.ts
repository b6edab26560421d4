import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { startFtserve } from './helpers/ftserve.js';
import { childrenOf, fdCount, mostChildren, waitFor, zombieChildren } from './helpers/procfs.js';
import { fetchFile, rawConnection } from './helpers/raw-client.js';

const dir = mkdtempSync(join(tmpdir(), 'ft-fork-children-'));
const content = randomBytes(200 * 1024);
writeFileSync(join(dir, 'file.bin'), content);

test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const cmdline = (pid: number): string[] => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
};

test('fork-per-connection children run the one-file bundle of the child entry', async (t) => {
  const server = await startFtserve([
    '--root',
    dir,
    '--port',
    '0',
    '--no-udp',
    '--fork-per-connection',
  ]);
  t.teardown(() => server.stop());
  t.true(await waitFor(() => childrenOf(server.pid).length === 2), 'two spares started');
  for (const pid of childrenOf(server.pid))
    t.true(
      cmdline(pid).some((arg) => arg.endsWith('/child-bundle.cjs')),
      `child ${pid} runs ${cmdline(pid).join(' ')}`,
    );
  const r = await fetchFile(server.port, 'file.bin', { attempts: 20 });
  t.true(r.ok && r.body.equals(content));
  t.notRegex(server.stderr(), /child-bundle-unused/);
});

test('a flood of clean, aborted and garbage connections never runs more than --max-children children; then no zombies and descriptors at baseline', async (t) => {
  const server = await startFtserve([
    '--root',
    dir,
    '--port',
    '0',
    '--no-udp',
    '--fork-per-connection',
    '--max-children',
    '3',
    '--max-connections-per-ip',
    '1000',
  ]);
  t.teardown(() => server.stop());
  t.true(await waitFor(() => childrenOf(server.pid).length === 2), 'two spares started');
  const baseline = fdCount(server.pid);
  const children = mostChildren(server.pid, 2);
  let busy = 0;
  const garbage = Buffer.from('GET /file.bin HTTP/1.1\r\n\r\n'.repeat(4));
  const [fetched] = await Promise.all([
    Promise.all(
      Array.from({ length: 30 }, () =>
        fetchFile(server.port, 'file.bin', { attempts: 1000, onBusy: () => busy++ }),
      ),
    ),
    Promise.all(Array.from({ length: 30 }, () => rawConnection(server.port, undefined))),
    Promise.all(Array.from({ length: 30 }, () => rawConnection(server.port, garbage))),
  ]);
  const most = await children.stop();
  t.is(fetched.filter((r) => r.ok && r.body.equals(content)).length, 30);
  t.true(busy > 0, 'clients over the cap were told BUSY');
  t.true(most >= 1 && most <= 3, `saw ${most} children at once`);
  t.true(
    await waitFor(
      () => zombieChildren(server.pid).length === 0 && childrenOf(server.pid).length === 2,
    ),
    `children: ${childrenOf(server.pid).join(' ')}`,
  );
  t.true(
    await waitFor(() => fdCount(server.pid) === baseline),
    `fds ${fdCount(server.pid)} vs ${baseline}`,
  );
  t.deepEqual(zombieChildren(server.pid), []);
});
