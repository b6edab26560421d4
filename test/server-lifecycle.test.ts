import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { FrameType } from '@ft/protocol';
import { FTSERVE_BIN, parseListeningLine, runFtserve, startFtserve } from './helpers/ftserve.js';
import { stateOf, waitFor } from './helpers/procfs.js';
import { RawClient, finishStalled, stalledDownload } from './helpers/raw-client.js';

const dir = mkdtempSync(join(tmpdir(), 'ft-life-'));
const root = join(dir, 'root');
const BIG = 64 * 1024 * 1024;

test.before(() => {
  mkdirSync(root);
  writeFileSync(join(dir, 'not-a-dir'), '');
  writeFileSync(join(root, 'hello.txt'), 'hello world\n');
  writeFileSync(join(root, 'big.bin'), '');
  truncateSync(join(root, 'big.bin'), BIG);
});

test.after.always(() => rmSync(dir, { recursive: true, force: true }));

function alive(pid: number): boolean {
  const s = stateOf(pid);
  return s !== undefined && s !== 'Z';
}

async function fetchHello(port: number): Promise<string | undefined> {
  const c = await RawClient.connect(port);
  try {
    const r = await c.get({ path: 'hello.txt', offset: 0 });
    return r.ok ? r.body.toString() : undefined;
  } finally {
    c.destroy();
  }
}

test('bad command lines end with one line on stderr, no stack trace, and exit code 2', async (t) => {
  for (const args of [
    ['--bogus'],
    ['--port', 'abc'],
    ['--root', join(dir, 'missing')],
    ['--root', join(dir, 'not-a-dir')],
    ['--daemon'],
    ['--inetd', '--fork-per-connection'],
    ['--log-format', 'xml'],
    ['stray-argument'],
  ]) {
    const r = await runFtserve(args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /^ftserve: [^\n]+\n$/, args.join(' '));
    t.notRegex(r.stderr, /\n\s+at /);
    t.is(r.stdout, '');
  }
});

test('a port in use ends with one line and exit code 3', async (t) => {
  const first = await startFtserve(['--root', root, '--port', '0', '--workers', '1']);
  t.teardown(() => first.stop());
  const r = await runFtserve(['--root', root, '--port', String(first.port), '--workers', '1']);
  t.is(r.code, 3);
  t.regex(r.stderr, /^ftserve: cannot listen on .*address already in use\n$/);
});

test('--inetd serves the one connection handed over as stdin, then exits 0', async (t) => {
  const listener = createServer({ pauseOnConnect: true });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.teardown(() => listener.close());
  const port = (listener.address() as { port: number }).port;
  const clientSocket = connect(port, '127.0.0.1');
  const [accepted] = (await once(listener, 'connection')) as [Socket];
  const child = spawn(process.execPath, [FTSERVE_BIN, '--inetd', '--root', root], {
    stdio: [accepted, accepted, 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  // The child has its own copy now; ours must go, or the connection outlives the child.
  accepted.destroy();
  const exited = once(child, 'exit');
  const c = RawClient.fromSocket(clientSocket);
  await c.hello();
  const r = await c.get({ path: 'hello.txt', offset: 0 });
  t.true(r.ok && r.body.toString() === 'hello world\n');
  const st = await c.stat('hello.txt');
  t.true(st.type === FrameType.STAT_OK && st.size === 12);
  c.socket.end();
  const [code] = (await exited) as [number | null];
  t.is(code, 0, stderr);
  t.regex(stderr, /transfer .*path=hello.txt .*result=OK/);
});

test('--inetd without a socket on stdin is a usage error', async (t) => {
  const r = await runFtserve(['--inetd', '--root', root]);
  t.is(r.code, 2);
  t.regex(r.stderr, /^ftserve: --inetd needs a connected socket on stdin\n$/);
});

test('--daemon detaches, writes its pid file, refuses a second instance, and removes the pid file on exit', async (t) => {
  const pidFile = join(dir, 'ftserve.pid');
  const logFile = join(dir, 'daemon.log');
  const r = await runFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--daemon',
    '--pid-file',
    pidFile,
    '--log-file',
    logFile,
  ]);
  t.is(r.code, 0, r.stderr);
  const line = parseListeningLine(r.stdout.split('\n')[0]!);
  if (line === undefined) return t.fail(`no listening line: ${r.stdout}`);
  t.teardown(() => {
    if (alive(line.pid)) process.kill(line.pid, 'SIGKILL');
  });
  t.is(readFileSync(pidFile, 'utf8').trim(), String(line.pid));
  t.true(alive(line.pid));
  // A session leader: detached from our terminal and process group.
  const stat = readFileSync(`/proc/${line.pid}/stat`, 'utf8');
  t.is(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]), line.pid);
  t.is(await fetchHello(line.port), 'hello world\n');

  const second = await runFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--daemon',
    '--pid-file',
    pidFile,
  ]);
  t.is(second.code, 4);
  t.regex(second.stderr, new RegExp(`^ftserve: pid file .* names running process ${line.pid}\\n$`));

  process.kill(line.pid, 'SIGTERM');
  t.true(
    await waitFor(() => !alive(line.pid) && !existsSync(pidFile)),
    'daemon stopped and removed its pid file',
  );
  t.regex(readFileSync(logFile, 'utf8'), /transfer .*path=hello.txt .*result=OK/);
});

async function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

for (const model of [['--workers', '1'], ['--fork-per-connection']]) {
  test(`SIGTERM during a transfer (${model[0]}) stops accepting, lets it finish, and dies by SIGTERM`, async (t) => {
    const server = await startFtserve(['--root', root, '--port', '0', '--grace', '60', ...model]);
    t.teardown(() => server.stop('SIGKILL'));
    const { c, first } = await stalledDownload(server.port);
    t.teardown(() => c.destroy());
    server.child.kill('SIGTERM');
    t.true(await waitFor(() => server.stderr().includes('shutting-down')));
    let refused = false;
    for (let i = 0; i < 100 && !refused; i++) {
      refused = await refusesConnections(server.port);
      if (!refused) await new Promise((r) => setTimeout(r, 50));
    }
    t.true(refused, 'new connections are refused while draining');
    const rest = await finishStalled(c, first);
    t.is(rest.bytes, BIG);
    t.true(rest.endOk);
    const status = await server.exited;
    t.deepEqual(
      status,
      { code: null, signal: 'SIGTERM' },
      'a graceful stop, then the signal re-raised',
    );
  });
}

test('a transfer still running when --grace ends is cut, and the server still stops by SIGTERM', async (t) => {
  const server = await startFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--workers',
    '1',
    '--grace',
    '1',
  ]);
  t.teardown(() => server.stop('SIGKILL'));
  const { c } = await stalledDownload(server.port);
  t.teardown(() => c.destroy());
  server.child.kill('SIGTERM');
  const status = await server.exited;
  t.deepEqual(status, { code: null, signal: 'SIGTERM' });
  c.socket.resume();
  const events = await c.untilClosed();
  t.false(events.some((e) => e.kind === 'message' && e.message.type === FrameType.END));
});

test('SIGHUP reopens the log file; --log-format json writes one JSON object per line', async (t) => {
  const log = join(dir, 'hup.log');
  const server = await startFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--workers',
    '1',
    '--log-file',
    log,
    '--log-format',
    'json',
  ]);
  t.teardown(() => server.stop());
  t.is(await fetchHello(server.port), 'hello world\n');
  t.true(
    await waitFor(
      () => existsSync(log) && readFileSync(log, 'utf8').includes('"event":"transfer"'),
    ),
  );
  renameSync(log, `${log}.1`);
  server.child.kill('SIGHUP');
  let reopened = false;
  for (let i = 0; i < 50 && !reopened; i++) {
    await fetchHello(server.port);
    reopened = existsSync(log) && readFileSync(log, 'utf8').includes('"event":"transfer"');
  }
  t.true(reopened, 'new lines go to a new file after SIGHUP');
  for (const line of readFileSync(log, 'utf8').trim().split('\n')) {
    const entry = JSON.parse(line) as Record<string, unknown>;
    t.is(typeof entry['event'], 'string');
    t.is(typeof entry['time'], 'string');
  }
  const transfer = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((e) => e['event'] === 'transfer');
  t.like(transfer, { path: 'hello.txt', offset: 0, bytes: 12, result: 'OK' });
  t.is(server.stderr(), '');
});
