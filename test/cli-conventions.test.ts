/**
 * ftget as a Unix tool, part 2: CLI conventions (-h, help COMMAND, did-you-mean, 3-line usage
 * errors in one format), output paths (DIR/, --output-dir, -O, --create-dirs, missing parents,
 * no internal names), pipes (a closed stdout ends it by SIGPIPE, quietly; --json with -o -
 * refused), ports (URL vs --port conflicts; every address of a name tried), --progress=line.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { FTGET_BIN, killIfRunning, runFtget, spawnFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

const MiB = 1024 * 1024;
let base: string;
let root: string;
let server: Ftserve;
let data: Buffer;
let counter = 0;

test.before(async () => {
  base = await mkdtemp(join(tmpdir(), 'ftget-conv-'));
  root = join(base, 'srv');
  await mkdir(join(root, 'dir'), { recursive: true });
  data = randomBytes(8 * MiB);
  await writeFile(join(root, 'f.bin'), data);
  await writeFile(join(root, 'dir', 'a.txt'), 'alpha\n');
  server = await startFtserve(['--root', root, '--port', '0', '--workers', '1']);
});
test.after.always(async () => {
  await server?.stop('SIGKILL');
  await rm(base, { recursive: true, force: true });
});

async function workdir(): Promise<string> {
  const dir = join(base, `w${counter++}`);
  await mkdir(dir);
  return dir;
}
const at = () => ['--host', '127.0.0.1', '--port', String(server.port)];
const get = (args: string[], cwd?: string) =>
  runFtget(['get', ...args, ...at()], cwd === undefined ? {} : { cwd });

function clean(t: ExecutionContext, stderr: string): void {
  t.notRegex(stderr, /\n\s+at |›|Error:/, 'one error format, no stack');
  t.notRegex(stderr, /\.tmp|\.part\.lock|\.stale/, 'no internal file names');
}

test('-h and --help on every command; "help COMMAND" is the same', async (t) => {
  for (const command of ['get', 'ls', 'stat']) {
    const short = await runFtget([command, '-h']);
    t.is(short.code, 0, short.stderr);
    t.regex(short.stdout.toString(), new RegExp(`USAGE\\n  \\$ ftget ${command}`));
    const help = await runFtget(['help', command]);
    t.is(help.code, 0, help.stderr);
    t.is(help.stdout.toString(), short.stdout.toString());
  }
  const top = await runFtget(['help']);
  t.is(top.code, 0);
  t.regex(top.stdout.toString(), /COMMANDS[\s\S]*get[\s\S]*ls[\s\S]*stat/);
});

test('an unknown command gets a suggestion; a REMOTE without "get" a hint at get', async (t) => {
  const typo = await runFtget(['gte', 'x']);
  t.is(typo.code, 2);
  t.regex(
    typo.stderr,
    /^ftget: error: unknown command "gte"\nftget: hint: did you mean "ftget get"\?\n/,
  );
  const remote = await runFtget(['ft://host:7070/a.txt']);
  t.is(remote.code, 2);
  t.regex(remote.stderr, /hint: to download it: ftget get ft:\/\/host:7070\/a\.txt/);
  const help = await runFtget(['help', 'gett']);
  t.is(help.code, 2);
  t.regex(help.stderr, /did you mean "ftget get"\?/);
  clean(t, typo.stderr + remote.stderr);
});

test('a bad flag or argument is three lines in the one "ftget: error:" format, exit 2', async (t) => {
  const cases: [string[], RegExp][] = [
    [['get', 'f.bin', '--bogus'], /^ftget: error: unknown flag --bogus$/],
    [
      ['get', 'f.bin', '--retires', '3'],
      /^ftget: error: unknown flag --retires \(did you mean --retries\?\)$/,
    ],
    [['get'], /^ftget: error: missing REMOTE$/],
    [['ls', '--lnog'], /^ftget: error: unknown flag --lnog \(did you mean --long\?\)$/],
    [
      ['get', 'f.bin', '--progress', 'fancy'],
      /^ftget: error: expected --progress=fancy to be one of: bar, line, none$/,
    ],
    [
      ['get', 'f.bin', '--stall-timeout', 'abc'],
      /^ftget: error: parsing --stall-timeout: expected a number of seconds between 0 and 86400, got "abc"$/,
    ],
  ];
  for (const [args, first] of cases) {
    const r = await runFtget(args);
    t.is(r.code, 2, args.join(' '));
    const lines = r.stderr.trimEnd().split('\n');
    t.is(lines.length, 3, r.stderr);
    t.regex(lines[0]!, first);
    t.regex(lines[1]!, new RegExp(`^usage: ftget ${args[0]} \\[flags\\]`));
    t.regex(lines[2]!, new RegExp(`^see "ftget ${args[0]} --help"`));
    clean(t, r.stderr);
  }
});

test('output paths: DIR/ is created and filled, an existing directory too, --output-dir, -O', async (t) => {
  const cwd = await workdir();
  let r = await get(['dir/a.txt', '-o', 'newdir/'], cwd);
  t.is(r.code, 0, r.stderr);
  t.is(await readFile(join(cwd, 'newdir', 'a.txt'), 'utf8'), 'alpha\n');
  r = await get(['dir/a.txt', '-o', 'newdir'], cwd);
  t.is(r.code, 9, 'an existing directory means into it (where a.txt now exists)');
  r = await get(['dir/a.txt', '--output-dir', 'od'], cwd);
  t.is(r.code, 0, r.stderr);
  t.is(await readFile(join(cwd, 'od', 'a.txt'), 'utf8'), 'alpha\n');
  r = await get(['dir/a.txt', '--output-dir', 'od', '-o', 'renamed.txt'], cwd);
  t.is(r.code, 0, r.stderr);
  t.is(await readFile(join(cwd, 'od', 'renamed.txt'), 'utf8'), 'alpha\n');
  r = await get(['dir/a.txt', '-O'], cwd);
  t.is(r.code, 0, r.stderr);
  t.is(await readFile(join(cwd, 'a.txt'), 'utf8'), 'alpha\n');
  r = await get(['dir/a.txt', '-O', '-o', 'x'], cwd);
  t.is(r.code, 2);
});

test('output paths: a missing parent is an error naming the path as given, unless --create-dirs', async (t) => {
  const cwd = await workdir();
  const r = await get(['dir/a.txt', '-o', 'no/such/a.txt'], cwd);
  t.is(r.code, 7, r.stderr);
  t.regex(
    r.stderr,
    /^ftget: error: cannot write no\/such\/a\.txt: directory no\/such does not exist\nftget: hint: create it, or add --create-dirs\n$/,
  );
  t.false(existsSync(join(cwd, 'no')));
  const deep = await get(['dir/a.txt', '-o', 'x/y/'], cwd);
  t.is(deep.code, 7, deep.stderr);
  clean(t, r.stderr + deep.stderr);
  const created = await get(['dir/a.txt', '-o', 'no/such/a.txt', '--create-dirs'], cwd);
  t.is(created.code, 0, created.stderr);
  t.is(await readFile(join(cwd, 'no', 'such', 'a.txt'), 'utf8'), 'alpha\n');
});

test('output paths: several REMOTEs need a directory; -o FILE is refused, not made a directory', async (t) => {
  const cwd = await workdir();
  const r = await get(['f.bin', 'dir/a.txt', '-o', 'single.txt'], cwd);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /with several REMOTEs, OUTPUT must be a directory/);
  t.regex(r.stderr, /hint: write -o single\.txt\/ .* or --output-dir single\.txt/);
  t.false(existsSync(join(cwd, 'single.txt')));
  const ok = await get(['f.bin', 'dir/a.txt', '-o', 'outdir/', '-q'], cwd);
  t.is(ok.code, 0, ok.stderr);
  t.true((await readFile(join(cwd, 'outdir', 'f.bin'))).equals(data));
});

test('messages never show internal temp names (a read-only file system)', async (t) => {
  const cwd = await workdir();
  const mnt = join(cwd, 'ro');
  await mkdir(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', mnt]);
  t.teardown(() => {
    execFileSync('umount', ['-l', mnt]);
  });
  const r = await get(['dir/a.txt', '-o', 'ro/a.txt'], cwd);
  t.is(r.code, 7, r.stderr);
  t.regex(r.stderr, /^ftget: error: ro\/a\.txt: EROFS: read-only file system$/m);
  clean(t, r.stderr);
});

test('a reader closing stdout ends ftget quietly, by SIGPIPE', async (t) => {
  const run = spawnFtget(['get', 'f.bin', '-o', '-', ...at()]);
  t.teardown(() => killIfRunning(run.child));
  await once(run.child.stdout!, 'data');
  run.child.stdout!.destroy();
  const r = await run.result;
  t.deepEqual([r.code, r.signal], [null, 'SIGPIPE'], r.stderr);
  t.is(r.stderr, '', 'nothing is printed');
});

test('in a shell pipeline with head, ftget ends by SIGPIPE (141) and says nothing', async (t) => {
  const child = spawn(
    'bash',
    [
      '-c',
      `${process.execPath} ${FTGET_BIN} get f.bin -o - ${at().join(' ')} | head -c 1000 >/dev/null; echo "\${PIPESTATUS[0]}"`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  await once(child, 'close');
  t.is(out.trim(), '141');
  t.is(err, '');
});

test('--json with -o - is refused: JSON would be mixed into the data', async (t) => {
  const r = await get(['f.bin', '-o', '-', '--json']);
  t.is(r.code, 2);
  t.is(r.stdout.length, 0);
  t.regex(r.stderr, /^ftget: error: --json and -o - would both write to stdout$/m);
});

test('a URL port that contradicts --port (or host vs --host) is refused; agreeing ones are fine', async (t) => {
  const cwd = await workdir();
  const url = `ft://127.0.0.1:${server.port}/dir/a.txt`;
  const clash = await runFtget(['get', url, '--port', '1'], { cwd });
  t.is(clash.code, 2);
  t.regex(
    clash.stderr,
    new RegExp(
      `^ftget: error: ${url.replace(/[./]/g, '\\$&')} names port ${server.port} but --port says 1$`,
      'm',
    ),
  );
  const host = await runFtget(['get', url, '--host', '::1'], { cwd });
  t.is(host.code, 2);
  t.regex(host.stderr, /names host 127\.0\.0\.1 but --host says ::1/);
  const same = await runFtget(['get', url, '--port', String(server.port)], { cwd });
  t.is(same.code, 0, same.stderr);
});

/** Runs ftget with /etc/hosts replaced (a private mount namespace) by `hosts`. */
async function withHosts(hosts: string, args: string[], cwd: string) {
  const file = join(cwd, `hosts${counter++}`);
  await writeFile(file, hosts);
  const child = spawn(
    'unshare',
    [
      '-m',
      'sh',
      '-c',
      `mount --bind "$0" /etc/hosts && exec "$@"`,
      file,
      process.execPath,
      FTGET_BIN,
      ...args,
    ],
    { cwd, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stderr: err };
}

test('localhost is tried at every address it resolves to, IPv6 and IPv4', async (t) => {
  const cwd = await workdir();
  const v6 = await startFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--host',
    '::1',
    '--workers',
    '1',
    '--no-udp',
  ]);
  t.teardown(() => v6.stop('SIGKILL'));
  const v4 = await startFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--workers',
    '1',
    '--no-udp',
  ]);
  t.teardown(() => v4.stop('SIGKILL'));
  // IPv4 listed first, the server only on ::1; then IPv6 first, the server only on 127.0.0.1.
  const a = await withHosts(
    '127.0.0.1 localhost\n::1 localhost\n',
    ['get', `ft://localhost:${v6.port}/dir/a.txt`, '-o', 'six.txt'],
    cwd,
  );
  t.is(a.code, 0, a.stderr);
  const b = await withHosts(
    '::1 localhost\n127.0.0.1 localhost\n',
    ['get', `ft://localhost:${v4.port}/dir/a.txt`, '-o', 'four.txt'],
    cwd,
  );
  t.is(b.code, 0, b.stderr);
  const verbose = await withHosts(
    '::1 localhost\n127.0.0.1 localhost\n',
    ['get', `ft://localhost:${v4.port}/dir/a.txt`, '-o', 'v.txt', '--verbose'],
    cwd,
  );
  t.is(verbose.code, 0, verbose.stderr);
  const p = v4.port;
  t.regex(verbose.stderr, new RegExp(`^ftget: verbose: connecting to localhost:${p}$`, 'm'));
  t.regex(
    verbose.stderr,
    new RegExp(
      `^ftget: verbose: connected to 127\\.0\\.0\\.1:${p} \\(tried ::1:${p}, 127\\.0\\.0\\.1:${p}\\)$`,
      'm',
    ),
  );
  t.regex(verbose.stderr, /^ftget: verbose: v\.txt: starting at 0 of 6 B$/m);
  t.regex(
    verbose.stderr,
    /^ftget: verbose: v\.txt: verified against root digest sha256-chunks:[0-9a-f]{64} \(1 attempt\)$/m,
  );
  t.is(await readFile(join(cwd, 'six.txt'), 'utf8'), 'alpha\n');
  t.is(await readFile(join(cwd, 'four.txt'), 'utf8'), 'alpha\n');
  await v4.stop('SIGKILL');
  const none = await withHosts(
    '::1 localhost\n127.0.0.1 localhost\n',
    ['get', `ft://localhost:${v4.port}/dir/a.txt`, '--retries', '0'],
    cwd,
  );
  t.is(none.code, 3);
  t.regex(none.stderr, /ECONNREFUSED \(tried ::1, 127\.0\.0\.1\)/);
});

test('--progress=line prints a plain progress line every few seconds into a log', async (t) => {
  const cwd = await workdir();
  const proxy = await startTcpProxy({
    target: { host: '127.0.0.1', port: server.port },
    fault: () => ({ stallAfter: 3 * MiB }),
  });
  t.teardown(() => proxy.close());
  const run = spawnFtget(
    [
      'get',
      'f.bin',
      '--host',
      '127.0.0.1',
      '--port',
      String(proxy.port),
      '--progress',
      'line',
      '--stall-timeout',
      '300',
    ],
    { cwd },
  );
  t.teardown(() => killIfRunning(run.child));
  const deadline = Date.now() + 30_000;
  let stderr = '';
  run.child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  while (!/^ftget: f\.bin: \d+% /m.test(stderr) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 200));
  run.child.kill('SIGTERM');
  await run.result;
  t.regex(
    stderr,
    /^ftget: f\.bin: +\d+% [\d.]+\/8\.00 MiB [\d.]+ (B|KiB|MiB)\/s ETA (\d+:\d\d|--:--)$/m,
  );
  // eslint-disable-next-line no-control-regex
  t.notRegex(stderr, /[█░\r\x1b]/, 'plain text, no bar, no escapes');
  t.true((await stat(join(cwd, 'f.bin.part'))).size > 0);
});
