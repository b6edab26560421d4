import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import test from 'ava';
import { runFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';

const MiB = 1024 * 1024;
let server: Ftserve;
let base: string;
let root: string;
let data: Buffer;
let counter = 0;

test.before(async () => {
  base = await mkdtemp(join(tmpdir(), 'ftget-cli-'));
  root = join(base, 'srv');
  await mkdir(join(root, 'dir', 'sub'), { recursive: true });
  data = randomBytes(3 * MiB + 11);
  await writeFile(join(root, 'f.bin'), data);
  await writeFile(join(root, 'dir', 'a.txt'), 'alpha\n');
  await writeFile(join(root, 'dir', 'sub', 'b.txt'), 'beta\n');
  server = await startFtserve(['--root', root, '--port', '0']);
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

function ftget(args: string[], cwd?: string, env?: NodeJS.ProcessEnv) {
  return runFtget(args, {
    ...(cwd === undefined ? {} : { cwd }),
    ...(env === undefined ? {} : { env }),
  });
}
const at = () => ['--host', '127.0.0.1', '--port', String(server.port)];

function noStack(t: { notRegex(s: string, r: RegExp, m?: string): void }, stderr: string): void {
  t.notRegex(stderr, /\n\s+at /, 'no stack trace');
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

test('--version prints a version and exits 0', async (t) => {
  const res = await ftget(['--version']);
  t.is(res.code, 0);
  t.regex(res.stdout.toString(), /^@ft\/client\/\d+\.\d+\.\d+ /);
  t.is(res.stderr, '');
});

for (const command of ['get', 'stat', 'ls']) {
  test(`${command} --help shows usage and examples`, async (t) => {
    const res = await ftget([command, '--help']);
    t.is(res.code, 0);
    const out = res.stdout.toString();
    t.regex(out, /USAGE/);
    t.regex(out, /EXAMPLES/);
    t.regex(out, new RegExp(`\\$ ftget ${command}`));
  });
}

test('get --help documents the exit codes and the retry budget', async (t) => {
  const out = (await ftget(['get', '--help'])).stdout.toString();
  for (const code of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 130])
    t.regex(out, new RegExp(`^\\s+${code}\\s+\\S`, 'm'));
  t.regex(out, /WITHOUT progress/);
});

test('exit 0: a download by ft:// URL lands complete and prints nothing on stdout', async (t) => {
  const cwd = await workdir();
  const res = await ftget(['get', `ft://127.0.0.1:${server.port}/f.bin`], cwd);
  t.is(res.code, 0, res.stderr);
  t.is(res.stdout.length, 0);
  t.true((await readFile(join(cwd, 'f.bin'))).equals(data));
});

test('exit 0: FTGET_HOST / FTGET_PORT name the server; --quiet prints nothing', async (t) => {
  const cwd = await workdir();
  const res = await ftget(['get', 'f.bin', '-q'], cwd, {
    ...process.env,
    FTGET_HOST: '127.0.0.1',
    FTGET_PORT: String(server.port),
  });
  t.is(res.code, 0, res.stderr);
  t.is(res.stderr, '');
  t.is(res.stdout.length, 0);
  t.true((await readFile(join(cwd, 'f.bin'))).equals(data));
});

test('exit 0: several REMOTEs into a directory, one JSON line each', async (t) => {
  const cwd = await workdir();
  const res = await ftget(['get', 'f.bin', 'dir/a.txt', '-o', 'out/', '--json', ...at()], cwd);
  t.is(res.code, 0, res.stderr);
  const lines = res.stdout
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.is(lines.length, 2);
  t.like(lines[0], { path: join('out', 'f.bin'), bytes: data.length, resumedFrom: 0, attempts: 1 });
  for (const key of ['durationMs', 'throughputMBps', 'digest']) t.true(key in lines[0]!);
  t.is(await readFile(join(cwd, 'out', 'a.txt'), 'utf8'), 'alpha\n');
});

test('exit 0: -r downloads a directory tree', async (t) => {
  const cwd = await workdir();
  const res = await ftget(['get', '-r', 'dir', ...at()], cwd);
  t.is(res.code, 0, res.stderr);
  t.is(await readFile(join(cwd, 'dir', 'a.txt'), 'utf8'), 'alpha\n');
  t.is(await readFile(join(cwd, 'dir', 'sub', 'b.txt'), 'utf8'), 'beta\n');
});

test('exit 0: -o - streams the file to stdout', async (t) => {
  const res = await ftget(['get', 'f.bin', '-o', '-', ...at()]);
  t.is(res.code, 0, res.stderr);
  t.true(res.stdout.equals(data));
});

test('stat prints size, mtime, validator and digest; --json too', async (t) => {
  const human = await ftget(['stat', 'f.bin', ...at()]);
  t.is(human.code, 0, human.stderr);
  t.regex(human.stdout.toString(), new RegExp(`size: +${data.length} `));
  t.regex(human.stdout.toString(), /validator: [0-9a-f]{32}/);
  t.regex(human.stdout.toString(), /digest: +sha256-chunks:[0-9a-f]{64}/);
  const json = JSON.parse(
    (await ftget(['stat', 'f.bin', '--json', ...at()])).stdout.toString(),
  ) as Record<string, unknown>;
  t.like(json, { kind: 'file', size: data.length, chunkSize: MiB });
  t.regex(String(json['digest']), /^[0-9a-f]{64}$/);
  t.is(json['mtimeMs'], Math.floor((await stat(join(root, 'f.bin'))).mtimeMs));
});

test('ls lists the root and a directory; --json and -R', async (t) => {
  const rootList = await ftget(['ls', ...at()]);
  t.is(rootList.code, 0, rootList.stderr);
  t.deepEqual(rootList.stdout.toString().trim().split('\n'), ['dir/', 'f.bin']);
  const tree = JSON.parse(
    (await ftget(['ls', 'dir', '-R', '--json', ...at()])).stdout.toString(),
  ) as {
    relativePath: string;
    kind: string;
  }[];
  t.deepEqual(
    tree.map((e) => `${e.kind}:${e.relativePath}`),
    ['file:a.txt', 'directory:sub', 'file:sub/b.txt'],
  );
});

test('exit 2: usage errors (unknown flag, bad port, bad URL scheme, -o - with several files, --force with --resume)', async (t) => {
  for (const args of [
    ['get', 'f.bin', '--bogus'],
    ['get', 'f.bin', '--port', '70000'],
    ['get', 'http://127.0.0.1/f.bin'],
    ['get', 'f.bin', 'dir/a.txt', '-o', '-', ...at()],
    ['get', 'f.bin', '--force', '--resume'],
    ['get'],
  ]) {
    const res = await ftget(args);
    t.is(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
    noStack(t, res.stderr);
  }
});

test('exit 3: nothing listening, with the hint "is ftserve running on …?"', async (t) => {
  const port = await freePort();
  const cwd = await workdir();
  const res = await ftget(
    [
      'get',
      'f.bin',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--retries',
      '1',
      '--retry-max-wait',
      '0.05',
    ],
    cwd,
  );
  t.is(res.code, 3);
  t.regex(res.stderr, /^ftget: error: cannot connect to 127\.0\.0\.1:\d+: ECONNREFUSED/m);
  t.regex(res.stderr, new RegExp(`hint: is ftserve running on 127\\.0\\.0\\.1:${port}\\?`));
  noStack(t, res.stderr);
  t.false(existsSync(join(cwd, 'f.bin.part')), 'no empty partial is left behind');
  const st = await ftget(['stat', 'f.bin', '--host', '127.0.0.1', '--port', String(port)]);
  t.is(st.code, 3);
});

test('exit 4: not found, is a directory, not a directory', async (t) => {
  const cwd = await workdir();
  const missing = await ftget(['get', 'nope.bin', ...at()], cwd);
  t.is(missing.code, 4);
  t.regex(missing.stderr, /^ftget: error: .*not found/im);
  t.false(existsSync(join(cwd, 'nope.bin.part')));
  const directory = await ftget(['get', 'dir', ...at()], cwd);
  t.is(directory.code, 4, directory.stderr);
  t.regex(directory.stderr, /hint: use -r/);
  const notDir = await ftget(['ls', 'f.bin', ...at()]);
  t.is(notDir.code, 4, notDir.stderr);
  const statMissing = await ftget(['stat', 'nope', ...at()]);
  t.is(statMissing.code, 4);
  noStack(t, missing.stderr + directory.stderr + notDir.stderr);
});

test('exit 9: an existing output is never overwritten without --force', async (t) => {
  const cwd = await workdir();
  await writeFile(join(cwd, 'f.bin'), 'mine');
  const res = await ftget(['get', 'f.bin', ...at()], cwd);
  t.is(res.code, 9);
  t.regex(res.stderr, /already exists/);
  t.regex(res.stderr, /--force/);
  t.is(await readFile(join(cwd, 'f.bin'), 'utf8'), 'mine');
});

test('exit 7: disk full keeps the partial and says local I/O', async (t) => {
  const mnt = join(base, `tmpfs${counter++}`);
  await mkdir(mnt);
  // A 1 MiB tmpfs: the 3 MiB download cannot fit.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
  t.teardown(() => {
    execFileSync('umount', ['-l', mnt]);
  });
  const res = await ftget(['get', 'f.bin', ...at()], mnt);
  t.is(res.code, 7, res.stderr);
  t.regex(res.stderr, /ENOSPC/);
  t.regex(res.stderr, /hint: free some disk space/);
  noStack(t, res.stderr);
  t.false(existsSync(join(mnt, 'f.bin')));
  t.true(existsSync(join(mnt, 'f.bin.part')), 'the partial is kept');
});
