/**
 * ftget as a Unix tool, part 1: SIGINT/SIGTERM/SIGHUP end it by the same signal after saving a
 * consistent partial (also on a second signal during the cleanup), a resumed download says
 * where it resumes and counts this run's bytes apart, retries survive an outage with
 * "retrying in …" lines, and giving up names the command that continues. ftserve in the
 * foreground also dies by its stop signal.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import net from 'node:net';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { join } from 'node:path';
import { killIfRunning, runFtget, spawnFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { servedFile } from './helpers/fixtures.js';
import type { ServedFile } from './helpers/fixtures.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import type { Fault } from './helpers/tcp-proxy.js';

const MiB = 1024 * 1024;

async function serve(
  t: ExecutionContext,
  size = 8 * MiB,
): Promise<ServedFile & { server: Ftserve }> {
  const f = await servedFile(t, 'ftget-unix-', size);
  const server = await startFtserve(['--root', f.root, '--port', '0', '--workers', '1']);
  t.teardown(() => server.stop('SIGKILL'));
  return { ...f, server };
}

async function proxyTo(t: ExecutionContext, port: number, fault: (n: number) => Fault | undefined) {
  const proxy = await startTcpProxy({ target: { host: '127.0.0.1', port }, fault });
  t.teardown(() => proxy.close());
  return proxy;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

const at = (port: number) => ['--host', '127.0.0.1', '--port', String(port)];

/** Starts a download that stalls 2 MiB in, and resolves once those bytes are on disk. */
async function stalledDownload(t: ExecutionContext, f: ServedFile & { server: Ftserve }) {
  const proxy = await proxyTo(t, f.server.port, () => ({ stallAfter: 2 * MiB }));
  const run = spawnFtget(['get', 'f.bin', ...at(proxy.port), '--stall-timeout', '300'], {
    cwd: f.dl,
  });
  t.teardown(() => killIfRunning(run.child));
  await proxy.waitForStalls(1);
  const part = join(f.dl, 'f.bin.part');
  for (let i = 0; i < 200; i++) {
    if (existsSync(part) && (await stat(part)).size > MiB) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return run;
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  test(`${signal}: ftget saves the partial, releases the lock, prints one line and dies by ${signal}`, async (t) => {
    const f = await serve(t);
    const run = await stalledDownload(t, f);
    run.child.kill(signal);
    const r = await run.result;
    t.deepEqual([r.code, r.signal], [null, signal], r.stderr);
    t.regex(
      r.stderr,
      new RegExp(
        `^ftget: interrupted by ${signal}; "ftget get -c ft://127\\.0\\.0\\.1:\\d+/f\\.bin -o f\\.bin" continues from where it stopped\\n$`,
      ),
    );
    t.true(existsSync(join(f.dl, 'f.bin.part.json')), 'the state is saved');
    t.false(existsSync(join(f.dl, 'f.bin.part.lock')), 'the lock is released');
    t.false(existsSync(join(f.dl, 'f.bin')));

    // The partial is consistent: -c continues it, says where, and counts this run apart.
    const again = await runFtget(['get', 'f.bin', '-c', ...at(f.server.port)], { cwd: f.dl });
    t.is(again.code, 0, again.stderr);
    t.regex(again.stderr, /^ftget: f\.bin: resuming at \d\.\d\d MiB of 8\.00 MiB \(\d{2}%\)$/m);
    t.regex(
      again.stderr,
      /^ftget: f\.bin: 8\.00 MiB in .*; [\d.]+ MiB moved in this run, [\d.]+ MiB were already there$/m,
    );
    t.true((await readFile(join(f.dl, 'f.bin'))).equals(f.data));
  });
}

test('a second signal during the cleanup still ends by the signal with a consistent partial', async (t) => {
  const f = await serve(t);
  const run = await stalledDownload(t, f);
  // SIGINT every 2 ms until it is gone: the later ones land during the cleanup (state save,
  // fsyncs, lock release) of the first.
  const storm = setInterval(() => run.child.kill('SIGINT'), 2);
  const r = await run.result;
  clearInterval(storm);
  t.deepEqual([r.code, r.signal], [null, 'SIGINT'], r.stderr);
  t.regex(r.stderr, /^ftget: interrupted (again )?by SIGINT/m);
  t.false(existsSync(join(f.dl, 'f.bin.part.lock')), 'the lock is released');
  const again = await runFtget(['get', 'f.bin', '-c', ...at(f.server.port)], { cwd: f.dl });
  t.is(again.code, 0, again.stderr);
  t.true((await readFile(join(f.dl, 'f.bin'))).equals(f.data));
});

test('--quiet: a resumed download prints nothing', async (t) => {
  const f = await serve(t);
  const run = await stalledDownload(t, f);
  run.child.kill('SIGTERM');
  await run.result;
  const again = await runFtget(['get', 'f.bin', '-c', '-q', ...at(f.server.port)], { cwd: f.dl });
  t.is(again.code, 0, again.stderr);
  t.is(again.stderr, '');
});

test('ftserve in the foreground dies by SIGINT after its graceful shutdown', async (t) => {
  const f = await servedFile(t, 'ftserve-int-', 1024);
  const server = await startFtserve(['--root', f.root, '--port', '0', '--workers', '1']);
  t.teardown(() => server.stop('SIGKILL'));
  const status = await server.stop('SIGINT');
  t.deepEqual(status, { code: null, signal: 'SIGINT' });
  t.regex(server.stderr(), /stopped reason=SIGINT/);
});

test('an 8 s outage mid-transfer is retried through by default, with "retrying in" lines', async (t) => {
  const f = await serve(t);
  let outageEnd = Number.POSITIVE_INFINITY;
  // Connection 0 is cut 2 MiB in; for the next 8 s every connection is cut before any data.
  const proxy = await proxyTo(t, f.server.port, (n) => {
    if (n === 0) return { cutAfter: 2 * MiB };
    if (n === 1) outageEnd = Date.now() + 8000;
    return Date.now() < outageEnd ? { cutAfter: 0 } : undefined;
  });
  const started = Date.now();
  const r = await runFtget(['get', 'f.bin', ...at(proxy.port)], { cwd: f.dl });
  t.is(r.code, 0, r.stderr);
  t.true(Date.now() - started >= 8000, 'the outage lasted 8 s');
  t.true((await readFile(join(f.dl, 'f.bin'))).equals(f.data));
  const retries =
    r.stderr.match(
      /^ftget: f\.bin: retrying in \d+(\.\d)? s \(attempt \d+\): connection lost$/gm,
    ) ?? [];
  t.true(retries.length >= 3, r.stderr);
  t.regex(r.stderr, /\(attempt 2\)/);
});

test('a server that is not up yet: "connection refused" retries until it is', async (t) => {
  const f = await servedFile(t, 'ftget-late-', 100_000);
  const port = await freePort();
  const run = spawnFtget(['get', 'f.bin', ...at(port)], { cwd: f.dl });
  t.teardown(() => killIfRunning(run.child));
  await new Promise((r) => setTimeout(r, 3000));
  const server = await startFtserve(['--root', f.root, '--port', String(port), '--workers', '1']);
  t.teardown(() => server.stop('SIGKILL'));
  const r = await run.result;
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^ftget: f\.bin: retrying in \d+(\.\d)? s \(attempt 2\): connection refused$/m);
  t.true((await readFile(join(f.dl, 'f.bin'))).equals(f.data));
});

test('giving up after --retry-max-time names the command that continues', async (t) => {
  const f = await servedFile(t, 'ftget-giveup-', 1000);
  const port = await freePort();
  const r = await runFtget(['get', 'f.bin', ...at(port), '--retry-max-time', '1'], { cwd: f.dl });
  t.is(r.code, 3, r.stderr);
  t.regex(
    r.stderr,
    /^ftget: error: cannot connect to 127\.0\.0\.1:\d+: ECONNREFUSED \(gave up after \d+ attempts\)$/m,
  );
  t.regex(
    r.stderr,
    new RegExp(
      `^ftget: hint: is ftserve running on 127\\.0\\.0\\.1:${port}\\?; once it is, "ftget get -c ft://127\\.0\\.0\\.1:${port}/f\\.bin -o f\\.bin" continues from where it stopped$`,
      'm',
    ),
  );
});
