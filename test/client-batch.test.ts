import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { runFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import type { Fault } from './helpers/tcp-proxy.js';

// Several REMOTEs in one `ftget get` share one connection (see packages/client/src/session.ts).

const KiB = 1024;
let server: Ftserve;
let base: string;
let root: string;
const files = new Map<string, Buffer>();
let counter = 0;

test.before(async () => {
  base = await mkdtemp(join(tmpdir(), 'ftget-batch-'));
  root = join(base, 'srv');
  await mkdir(root);
  const sizes = { 'a.bin': 4 * KiB, 'b.bin': 64 * KiB, 'c.bin': 64 * KiB, 'd.txt': 5, 'e.bin': 0 };
  for (const [name, size] of Object.entries(sizes)) {
    const data = randomBytes(size);
    files.set(name, data);
    await writeFile(join(root, name), data);
  }
  server = await startFtserve(['--root', root, '--port', '0', '--no-udp']);
});
test.after.always(async () => {
  await server?.stop('SIGKILL');
  await rm(base, { recursive: true, force: true });
});

async function viaProxy(t: { teardown(fn: () => Promise<void>): void }, fault?: Fault) {
  const proxy = await startTcpProxy({
    target: { host: '127.0.0.1', port: server.port },
    fault: (n) => (n === 0 ? fault : undefined),
  });
  t.teardown(() => proxy.close());
  return proxy;
}

async function checkOutput(
  t: { deepEqual(a: unknown, b: unknown, m?: string): void; true(v: boolean, m?: string): void },
  out: string,
): Promise<void> {
  t.deepEqual((await readdir(out)).sort(), [...files.keys()].sort(), 'no partial or state left');
  for (const [name, data] of files) {
    t.true((await readFile(join(out, name))).equals(data), `${name} is byte-identical`);
  }
}

test('several REMOTEs in one invocation use one connection and give identical files', async (t) => {
  const proxy = await viaProxy(t);
  const out = join(base, `out${counter++}`);
  const r = await runFtget([
    'get',
    ...files.keys(),
    '--host',
    '127.0.0.1',
    '--port',
    String(proxy.port),
    '-o',
    `${out}/`,
    '--json',
  ]);
  t.is(r.code, 0, r.stderr);
  t.is(proxy.connections, 1, 'one TCP connection for every file');
  const lines = r.stdout.toString().trim().split('\n');
  t.is(lines.length, files.size);
  for (const line of lines) t.is((JSON.parse(line) as { attempts: number }).attempts, 1);
  await checkOutput(t, out);
});

test('a shared connection that drops mid-batch is replaced and the batch completes', async (t) => {
  // Connection 1 is cut inside b.bin (a.bin's 4 KiB and b.bin's header went through).
  const proxy = await viaProxy(t, { cutAfter: 4 * KiB + 40 * KiB });
  const out = join(base, `out${counter++}`);
  const r = await runFtget([
    'get',
    ...files.keys(),
    '--host',
    '127.0.0.1',
    '--port',
    String(proxy.port),
    '-o',
    `${out}/`,
    '--quiet',
  ]);
  t.is(r.code, 0, r.stderr);
  t.is(proxy.cuts, 1);
  t.is(proxy.connections, 2, 'the failed connection is dropped, one new one serves the rest');
  await checkOutput(t, out);
});
