/**
 * The Node flags and libuv threads each kind of child starts with (spawn-child.ts: fewer helper
 * threads and a capped young generation keep the summed memory of the process tree down), that
 * FTSERVE_CHILD_NODE_FLAGS still comes last (so it can undo them), and that a UV_THREADPOOL_SIZE
 * given by the environment is kept.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { startFtserve } from './helpers/ftserve.js';
import { childrenOf, waitFor } from './helpers/procfs.js';
import { fetchFile } from './helpers/raw-client.js';

const dir = mkdtempSync(join(tmpdir(), 'ft-child-flags-'));
const content = randomBytes(300 * 1024);
writeFileSync(join(dir, 'file.bin'), content);

test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** argv of a process, and the value of `name` in its environment (undefined if unset). */
const argvOf = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
const envOf = (pid: number, name: string): string | undefined =>
  readFileSync(`/proc/${pid}/environ`, 'utf8')
    .split('\0')
    .find((kv) => kv.startsWith(`${name}=`))
    ?.slice(name.length + 1);

/** Node's own flags of a child: what comes before its script. */
const nodeFlags = (pid: number): string[] => {
  const argv = argvOf(pid);
  const script = argv.findIndex((a) => a.endsWith('.cjs') || a.endsWith('.js'));
  return argv.slice(1, script);
};

function withoutEnv(names: string[]): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const n of names) delete env[n];
  return env;
}

test('one-shot children get one V8 helper thread and one libuv thread, and still serve', async (t) => {
  const server = await startFtserve(
    ['--root', dir, '--port', '0', '--no-udp', '--fork-per-connection'],
    { env: withoutEnv(['UV_THREADPOOL_SIZE', 'FTSERVE_CHILD_NODE_FLAGS']) },
  );
  t.teardown(() => server.stop());
  t.true(await waitFor(() => childrenOf(server.pid).length === 2), 'two spares started');
  for (const pid of childrenOf(server.pid)) {
    t.deepEqual(nodeFlags(pid), ['--v8-pool-size=1']);
    t.is(envOf(pid, 'UV_THREADPOOL_SIZE'), '1');
  }
  const r = await fetchFile(server.port, 'file.bin', { attempts: 20 });
  t.true(r.ok && r.body.equals(content));
});

test('workers get a 4 MiB semi-space and one V8 helper thread; libuv keeps its default', async (t) => {
  const server = await startFtserve(['--root', dir, '--port', '0', '--no-udp', '--workers', '1'], {
    env: withoutEnv(['UV_THREADPOOL_SIZE', 'FTSERVE_CHILD_NODE_FLAGS']),
  });
  t.teardown(() => server.stop());
  t.true(await waitFor(() => childrenOf(server.pid).length === 1), 'the worker started');
  const [worker] = childrenOf(server.pid);
  t.deepEqual(nodeFlags(worker!), ['--max-semi-space-size=4', '--v8-pool-size=1']);
  t.is(envOf(worker!, 'UV_THREADPOOL_SIZE'), undefined);
  const r = await fetchFile(server.port, 'file.bin', { attempts: 20 });
  t.true(r.ok && r.body.equals(content));
});

test('FTSERVE_CHILD_NODE_FLAGS comes after the defaults, and UV_THREADPOOL_SIZE from the environment is kept', async (t) => {
  const server = await startFtserve(
    ['--root', dir, '--port', '0', '--no-udp', '--fork-per-connection'],
    {
      env: {
        ...process.env,
        UV_THREADPOOL_SIZE: '3',
        FTSERVE_CHILD_NODE_FLAGS: '--v8-pool-size=2',
      },
    },
  );
  t.teardown(() => server.stop());
  t.true(await waitFor(() => childrenOf(server.pid).length === 2), 'two spares started');
  for (const pid of childrenOf(server.pid)) {
    t.deepEqual(nodeFlags(pid), ['--v8-pool-size=1', '--v8-pool-size=2']);
    t.is(envOf(pid, 'UV_THREADPOOL_SIZE'), '3');
  }
  const r = await fetchFile(server.port, 'file.bin', { attempts: 20 });
  t.true(r.ok && r.body.equals(content));
});
