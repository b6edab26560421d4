/**
 * `ftget get URL --mirror URL2` (and several URLs of one file): chunks from every source at
 * once, against real ftserve processes serving copies from different directories (so inode,
 * mtime and so the validators differ, while the content is the same). A mirror killed mid-way
 * costs only its chunks in flight; a mirror with other content is dropped with one warning; a
 * source whose bytes get corrupted on the way has its chunk refetched.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import test from 'ava';
import { runFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { killIfRunning, runFtget, spawnFtget } from './helpers/ftget.js';
import { waitFor } from './helpers/procfs.js';
import { killReplica, replicaTrees, sha256File, startReplicas } from './helpers/replicas.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { makeTestPki } from './helpers/tls-certs.js';

const MiB = 1024 * 1024;
/** Each connection at most this fast, so that no source can take the whole file alone. */
const RATE = ['--max-rate-per-connection', '12M'];

/** Body bytes the server logged as sent (transfer lines, one per GET). */
function bytesSent(server: Ftserve): number {
  let sum = 0;
  for (const m of server.stderr().matchAll(/ transfer .*?\bbytes=(\d+)/g)) sum += Number(m[1]);
  return sum;
}

const url = (server: { port: number }, file = 'big.bin'): string =>
  `ft://127.0.0.1:${server.port}/${file}`;

test('two mirrors from different directories are both used', async (t) => {
  const trees = await replicaTrees(t, 'ft-mirrors-', 2, 32 * MiB);
  const [a, b] = await startReplicas(t, trees.roots, RATE);
  const r = await runFtget(['get', url(a!), '--mirror', url(b!), '-o', 'out.bin'], {
    cwd: trees.dl,
  });
  t.is(r.code, 0, r.stderr);
  t.is(await sha256File(join(trees.dl, 'out.bin')), trees.sha256);
  t.true(await waitFor(() => bytesSent(a!) + bytesSent(b!) >= trees.size, 10_000));
  t.true(bytesSent(a!) > 0, a!.stderr());
  t.true(bytesSent(b!) > 0, b!.stderr());
  t.notRegex(r.stderr, /not using/);
});

test('several URLs of one file name are mirrors of one file', async (t) => {
  const trees = await replicaTrees(t, 'ft-mirrors-', 2, 24 * MiB);
  const [a, b] = await startReplicas(t, trees.roots, RATE);
  const r = await runFtget(['get', url(a!), url(b!)], { cwd: trees.dl });
  t.is(r.code, 0, r.stderr);
  t.is(await sha256File(join(trees.dl, 'big.bin')), trees.sha256);
  t.true(await waitFor(() => bytesSent(a!) + bytesSent(b!) >= trees.size, 10_000));
  t.true(bytesSent(a!) > 0 && bytesSent(b!) > 0, `${a!.stderr()}\n${b!.stderr()}`);
});

test('a mirror killed mid-way: the download completes identical from the other', async (t) => {
  const trees = await replicaTrees(t, 'ft-mirrors-', 2, 64 * MiB);
  const [a, b] = await startReplicas(t, trees.roots, RATE);
  const run = spawnFtget(['get', url(a!), '--mirror', url(b!), '-o', 'out.bin'], {
    cwd: trees.dl,
  });
  t.teardown(() => killIfRunning(run.child));
  // Once b has sent a whole piece, kill it as a crashed machine would stop.
  t.true(await waitFor(() => bytesSent(b!) > 0, 30_000), b!.stderr());
  killReplica(b!);
  const r = await run.result;
  t.is(r.code, 0, r.stderr);
  t.is(await sha256File(join(trees.dl, 'out.bin')), trees.sha256);
  t.true(bytesSent(a!) > 0);
  t.true(bytesSent(b!) < trees.size);
});

test('a mirror whose copy differs is dropped with one warning; the result is the good copy', async (t) => {
  const trees = await replicaTrees(t, 'ft-mirrors-', 2, 16 * MiB);
  // The second copy: same size, other bytes.
  await writeFile(join(trees.roots[1]!, trees.file), randomBytes(trees.size));
  const [a, b] = await startReplicas(t, trees.roots, RATE);
  const r = await runFtget(
    ['get', url(a!), '--mirror', url(b!), '-o', 'out.bin', '--connections', '2'],
    { cwd: trees.dl },
  );
  t.is(r.code, 0, r.stderr);
  t.is(await sha256File(join(trees.dl, 'out.bin')), trees.sha256);
  const warnings = r.stderr.match(/not using .*/g) ?? [];
  t.deepEqual(warnings, [`not using ${url(b!)}: its copy has other content (another root digest)`]);
  t.is(bytesSent(b!), 0, b!.stderr());
});

test('no source left that agrees with the partial: exit 13, the partial kept', async (t) => {
  const trees = await replicaTrees(t, 'ft-mirrors-', 3, 16 * MiB);
  const [a] = await startReplicas(t, trees.roots.slice(0, 1), RATE);
  // Part of the file from a (until its state file is written), then a goes away; the only
  // other source has another file.
  const first = spawnFtget(['get', url(a!), '-o', 'out.bin', '--limit-rate', '4M'], {
    cwd: trees.dl,
  });
  t.teardown(() => killIfRunning(first.child));
  t.true(await waitFor(() => existsSync(join(trees.dl, 'out.bin.part.json')), 30_000));
  first.child.kill('SIGINT');
  t.is((await first.result).signal, 'SIGINT');
  await writeFile(join(trees.roots[2]!, trees.file), randomBytes(trees.size));
  const [c] = await startReplicas(t, trees.roots.slice(2), RATE);
  killReplica(a!);
  const r = await runFtget(
    ['get', url(a!), '--mirror', url(c!), '-o', 'out.bin', '-c', '--retry-max-time', '1'],
    { cwd: trees.dl },
  );
  t.is(r.code, 13, r.stderr);
  t.regex(r.stderr, /not using .*: its copy has other content/);
  t.true((await readFile(join(trees.dl, 'out.bin.part'))).length > 0);
  t.is(bytesSent(c!), 0);
});

test('bytes corrupted on the way from one source are caught and refetched', async (t) => {
  const trees = await replicaTrees(t, 'ft-mirrors-', 2, 24 * MiB);
  const [a, b] = await startReplicas(t, trees.roots, RATE);
  // The first connection through the proxy gets one bit flipped 1.5 MiB into its stream:
  // inside the body of its first piece.
  const proxy = await startTcpProxy({
    target: { host: '127.0.0.1', port: b!.port },
    fault: (n) => (n === 0 ? { flipAt: 1.5 * MiB } : undefined),
  });
  t.teardown(() => proxy.close());
  const r = await runFtget(['get', url(a!), '--mirror', url(proxy), '-o', 'out.bin'], {
    cwd: trees.dl,
  });
  t.is(r.code, 0, r.stderr);
  t.is(proxy.flips, 1);
  t.regex(
    r.stderr,
    new RegExp(`chunk \\d+ from ${url(proxy)} failed verification; fetching it again`),
  );
  t.is(await sha256File(join(trees.dl, 'out.bin')), trees.sha256);
});

test('a mirror that goes silent mid-piece loses its chunks to the other source', async (t) => {
  const trees = await replicaTrees(t, 'ft-mirrors-', 2, 32 * MiB);
  const [a, b] = await startReplicas(t, trees.roots, RATE);
  // The first connection to b stops sending 3 MiB in (inside its first piece) and stays open.
  const proxy = await startTcpProxy({
    target: { host: '127.0.0.1', port: b!.port },
    fault: (n) => (n === 0 ? { stallAfter: 3 * MiB } : undefined),
  });
  t.teardown(() => proxy.close());
  // With a stall timeout this long, only the takeover of its chunks lets the download end.
  const r = await runFtget(
    ['get', url(a!), '--mirror', url(proxy), '-o', 'out.bin', '--stall-timeout', '3600'],
    { cwd: trees.dl, timeoutMs: 120_000 },
  );
  t.is(r.code, 0, r.stderr);
  await proxy.waitForStalls(1, 1);
  t.is(await sha256File(join(trees.dl, 'out.bin')), trees.sha256);
});

test('TLS and tokens per source: an fts:// source and one that wants a token, both used', async (t) => {
  const trees = await replicaTrees(t, 'ft-mirrors-', 2, 24 * MiB);
  const pki = makeTestPki();
  t.teardown(() => pki.remove());
  const tokens = join(trees.dir, 'tokens.json');
  const added = await runFtserve(['token', 'add', '--tokens', tokens, '--prefix', '']);
  t.is(added.code, 0, added.stderr);
  const token = added.stdout.trim();
  const [tls] = await startReplicas(t, trees.roots.slice(0, 1), [
    ...RATE,
    '--tls-cert',
    pki.server.cert,
    '--tls-key',
    pki.server.key,
  ]);
  const [guarded] = await startReplicas(t, trees.roots.slice(1), [...RATE, '--tokens', tokens]);
  // The token comes from the per-user tokens file, for that HOST:PORT only.
  const config = join(trees.dir, 'config');
  await mkdir(join(config, 'ftget'), { recursive: true });
  await writeFile(join(config, 'ftget', 'tokens'), `127.0.0.1:${guarded!.port} ${token}\n`, {
    mode: 0o600,
  });
  const r = await runFtget(
    [
      'get',
      `fts://127.0.0.1:${tls!.port}/${trees.file}`,
      '--mirror',
      url(guarded!),
      '--cacert',
      pki.ca,
      '--connections',
      '2',
      '-o',
      'out.bin',
    ],
    { cwd: trees.dl, env: { ...process.env, XDG_CONFIG_HOME: config, FTGET_TOKEN: '' } },
  );
  t.is(r.code, 0, r.stderr);
  t.is(await sha256File(join(trees.dl, 'out.bin')), trees.sha256);
  t.true(await waitFor(() => bytesSent(tls!) + bytesSent(guarded!) >= trees.size, 10_000));
  t.true(bytesSent(tls!) > 0 && bytesSent(guarded!) > 0, r.stderr);
  t.false(r.stderr.includes(token));
});

test('--mirror and --connections: usage errors are one line and exit 2', async (t) => {
  const cases: string[][] = [
    ['get', 'ft://127.0.0.1:1/a.bin', '--connections', '4', '-o', '-'],
    ['get', 'ft://127.0.0.1:1/a.bin', '--mirror', 'ft://127.0.0.1:2/a.bin', '--udp'],
    ['get', '-r', 'ft://127.0.0.1:1/dir', '--mirror', 'ft://127.0.0.1:2/dir'],
    ['get', 'ft://127.0.0.1:1/a.bin', '--connections', '17'],
  ];
  for (const args of cases) {
    const r = await runFtget(args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
