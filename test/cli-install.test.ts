/**
 * The README's install step for real: pack both CLIs (scripts/pack-cli.mjs), `npm install -g`
 * them into a temporary prefix, and run the installed `ftget` and `ftserve` from another
 * directory, with paths relative to it. npm fetches the registry dependencies (its cache is
 * preferred).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { REPO_ROOT, parseListeningLine } from './helpers/ftserve.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';

const run = promisify(execFile);

test('pack-cli + npm install -g put working ftget and ftserve on PATH, usable from any directory', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ft-install-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const tarballs = join(dir, 'tgz');
  const prefix = join(dir, 'prefix');
  await run(process.execPath, [join(REPO_ROOT, 'scripts', 'pack-cli.mjs'), tarballs]);
  const files = (await readdir(tarballs)).map((f) => join(tarballs, f));
  t.is(files.length, 2);
  await run(
    'npm',
    ['install', '-g', '--prefer-offline', '--no-audit', '--no-fund', '--prefix', prefix, ...files],
    {
      timeout: 600_000,
    },
  );

  const elsewhere = join(dir, 'elsewhere');
  const served = join(dir, 'served');
  await mkdir(join(elsewhere, 'sub'), { recursive: true });
  await mkdir(served);
  await writeFile(join(served, 'hello.txt'), 'hello\n');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${join(prefix, 'bin')}:${process.env['PATH']}`,
  };
  delete env['FTGET_HOST'];
  delete env['FTGET_PORT'];

  const version = await run('ftget', ['--version'], { cwd: elsewhere, env });
  t.regex(version.stdout, /^@ft\/client\/0\.1\.0 /);
  const serverVersion = await run('ftserve', ['--version'], { cwd: elsewhere, env });
  t.regex(serverVersion.stdout, /@ft\/server\/0\.1\.0/);

  // ftserve from PATH with a relative --root; ftget from PATH with a relative -o.
  const server = spawn(
    'ftserve',
    ['--root', '../served', '--port', '0', '--workers', '1', '--no-udp'],
    {
      cwd: elsewhere,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  t.teardown(() => {
    server.kill('SIGKILL');
  });
  const [first] = (await once(server.stdout!, 'data')) as [Buffer];
  const line = parseListeningLine(first.toString().split('\n')[0]!);
  if (line === undefined) return t.fail(first.toString());
  const got = await run(
    'ftget',
    ['get', 'hello.txt', '-o', 'sub/copy.txt', '--port', String(line.port)],
    {
      cwd: elsewhere,
      env,
    },
  );
  t.regex(got.stderr, /^ftget: sub\/copy\.txt: 6 B in /m);
  t.is(await readFile(join(elsewhere, 'sub', 'copy.txt'), 'utf8'), 'hello\n');
  const ls = await run('ftget', ['ls', '--port', String(line.port)], { cwd: elsewhere, env });
  t.is(ls.stdout, 'hello.txt\n', 'nothing but the listing on stdout');

  // The installed ftget runs from its one-file bundle (bin/bundle.js), not the modules: a
  // preloaded hook reports at exit whether the bundle was loaded.
  const hook = join(dir, 'bundle-hook.mjs');
  await writeFile(
    hook,
    `import { createRequire } from 'node:module';
const cache = createRequire(import.meta.url).cache;
process.on('exit', () => process.stderr.write('bundle loaded: ' +
  Object.keys(cache).some((file) => file.endsWith('ftget-bundle.cjs')) + '\\n'));
`,
  );
  const bundled = await run('ftget', ['ls', '--port', String(line.port)], {
    cwd: elsewhere,
    env: { ...env, NODE_OPTIONS: `--import ${hook}` },
  });
  t.is(bundled.stdout, 'hello.txt\n');
  t.regex(bundled.stderr, /^bundle loaded: true$/m, 'the packed bundle is used');
});
