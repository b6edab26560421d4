/**
 * Checksums users can compare, end to end with the real ftserve and ftget: the plain SHA-256
 * that `ftget stat` reports equals sha256sum's (of the served file and of the download), it
 * survives a server restart through the digest store, `get --checksum sha256:HEX` refuses a
 * mismatch with exit 6 without creating the output, and `get -i FILE` reads REMOTEs from a file.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { runFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';

const run = promisify(execFile);

/** sha256sum's answer for a file (coreutils: present on every Debian system). */
async function sha256sum(path: string): Promise<string> {
  const { stdout } = await run('sha256sum', [path]);
  return stdout.split(' ')[0]!;
}

async function setup(t: ExecutionContext, args: string[] = []) {
  const dir = await mkdtemp(join(tmpdir(), 'ft-checksums-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'srv');
  const dl = join(dir, 'dl');
  await mkdir(root);
  await mkdir(dl);
  // Several chunks and an odd tail, so the whole-file digest differs from every chunk digest.
  await writeFile(join(root, 'big.bin'), randomBytes(3 * 1024 * 1024 + 12_345));
  await writeFile(join(root, 'small.txt'), 'hello world\n');
  const start = () => startFtserve(['--root', root, '--port', '0', '--host', '127.0.0.1', ...args]);
  const server = await start();
  t.teardown(() => server.stop());
  return { dir, root, dl, server, start };
}

test('ftget stat and --json show the SHA-256 sha256sum prints, also of the download', async (t) => {
  const { root, dl, server } = await setup(t);
  const expected = await sha256sum(join(root, 'big.bin'));
  const port = String(server.port);
  const human = await runFtget(['stat', 'big.bin', '--port', port]);
  t.is(human.code, 0, human.stderr);
  t.regex(human.stdout.toString(), new RegExp(`^sha256: +${expected}$`, 'm'));
  const json = await runFtget(['stat', 'big.bin', '--port', port, '--json']);
  const st = JSON.parse(json.stdout.toString()) as { sha256: string; digest: string };
  t.is(st.sha256, expected);
  t.not(st.digest, expected, 'the chunk-tree root is a different value');
  t.is(
    (
      JSON.parse(
        (await runFtget(['stat', 'small.txt', '--port', port, '--json'])).stdout.toString(),
      ) as { sha256: string }
    ).sha256,
    'a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447',
  );
  const got = await runFtget(['get', 'big.bin', '--port', port, '-q'], { cwd: dl });
  t.is(got.code, 0, got.stderr);
  t.is(await sha256sum(join(dl, 'big.bin')), st.sha256);
  const dir = await runFtget(['stat', '', '--port', port, '--json']);
  t.false('sha256' in (JSON.parse(dir.stdout.toString()) as object), 'no SHA-256 for a directory');
});

test('the SHA-256 is cached with the chunk digests in the store and survives a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ft-checksums-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = join(dir, 'store');
  const { root, server, start } = await setup(t, ['--digest-cache', store]);
  const expected = await sha256sum(join(root, 'big.bin'));
  const first = await runFtget(['stat', 'big.bin', '--port', String(server.port), '--json']);
  t.is((JSON.parse(first.stdout.toString()) as { sha256: string }).sha256, expected);
  await server.stop();
  const entries = (await readdir(store)).filter((n) => !n.startsWith('.'));
  t.is(entries.length, 1);
  const entry = await readFile(join(store, entries[0]!));
  t.is(entry.subarray(0, 4).toString(), 'FTD2');
  t.is(entry.subarray(48, 80).toString('hex'), expected, 'stored beside the root digest');
  const again = await start();
  t.teardown(() => again.stop());
  const second = await runFtget(['stat', 'big.bin', '--port', String(again.port), '--json']);
  t.is((JSON.parse(second.stdout.toString()) as { sha256: string }).sha256, expected);
});

test('get --checksum sha256:HEX: a match is kept, a mismatch is exit 6 and no output', async (t) => {
  const { root, dl, server } = await setup(t);
  const port = String(server.port);
  const expected = await sha256sum(join(root, 'big.bin'));
  const ok = await runFtget(
    ['get', 'big.bin', '--checksum', `sha256:${expected}`, '--port', port],
    {
      cwd: dl,
    },
  );
  t.is(ok.code, 0, ok.stderr);
  t.is(await sha256sum(join(dl, 'big.bin')), expected);

  const wrong = expected.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  const bad = await runFtget(
    [
      'get',
      'big.bin',
      '-o',
      'other.bin',
      `--checksum=sha256:${wrong.toUpperCase()}`,
      '--port',
      port,
    ],
    { cwd: dl },
  );
  t.is(bad.code, 6, bad.stderr);
  t.regex(bad.stderr, new RegExp(`SHA-256 is ${expected}, --checksum expected ${wrong}`));
  await t.throwsAsync(lstat(join(dl, 'other.bin')), { code: 'ENOENT' });
  t.true((await lstat(join(dl, 'other.bin.part'))).isFile(), 'the data is kept as the partial');

  const malformed = await runFtget(['get', 'big.bin', '--checksum', 'sha256:abc', '--port', port], {
    cwd: dl,
  });
  t.is(malformed.code, 2);
  t.regex(malformed.stderr, /expected sha256:HEX/);
  const many = await runFtget(
    ['get', 'big.bin', 'small.txt', '-o', 'x/', '--checksum', `sha256:${expected}`, '--port', port],
    { cwd: dl },
  );
  t.is(many.code, 2);
  t.regex(many.stderr, /exactly one FILE/);
});

test('get -i FILE reads REMOTEs one a line, skipping blanks and comments', async (t) => {
  const { dl, server } = await setup(t);
  await writeFile(join(dl, 'urls.txt'), `# wanted\nbig.bin\n\n  small.txt  \r\n# end\n`);
  const r = await runFtget(
    ['get', '-i', 'urls.txt', '-o', 'out/', '--port', String(server.port), '--json'],
    {
      cwd: dl,
    },
  );
  t.is(r.code, 0, r.stderr);
  const paths = r.stdout
    .toString()
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { path: string }).path);
  t.deepEqual(paths, [join('out', 'big.bin'), join('out', 'small.txt')]);
  t.is(await readFile(join(dl, 'out', 'small.txt'), 'utf8'), 'hello world\n');
  const missing = await runFtget(
    ['get', '--list-file', 'nope.txt', '--port', String(server.port)],
    {
      cwd: dl,
    },
  );
  t.is(missing.code, 2);
  t.regex(missing.stderr, /--list-file nope\.txt: ENOENT/);
});
