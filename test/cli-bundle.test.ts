/**
 * ftget runs from its one-file bundle (packages/client/scripts/bundle-cli.mjs) while the bundle
 * matches the build, and from the compiled modules otherwise: both must behave the same.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, utimes, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import test from 'ava';
import { servedFile } from './helpers/fixtures.js';
import { runFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';

const CLIENT = fileURLToPath(new URL('../../packages/client/', import.meta.url));

interface BundleModule {
  BUNDLE: string;
  MANIFEST: string;
  bundleIsFresh(root: string): boolean;
}
const bundleModule = (): Promise<BundleModule> =>
  import(pathToFileURL(join(CLIENT, 'bin', 'bundle.js')).href) as Promise<BundleModule>;

/** A preload that says on stderr, at exit, whether the bundle was loaded. */
async function preload(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ft-bundle-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'report.cjs');
  await writeFile(
    file,
    "process.on('exit', () => process.stderr.write(`bundle loaded: ${Object.keys(require.cache)" +
      '.some((k) => /ftget-(bundle|lean)\\.cjs$/.test(k))}\\n`));\n',
  );
  return file;
}

/** Runs main() from the compiled modules, as bin/run.js does when the bundle is stale. */
async function runModules(
  args: string[],
): Promise<{ code: number | null; out: string; err: string }> {
  const script =
    `const { main } = await import(${JSON.stringify(pathToFileURL(join(CLIENT, 'dist/src/cli/main.js')).href)});` +
    `await main(JSON.parse(process.argv[1]), { root: ${JSON.stringify(CLIENT)}, commandsTarget: './dist/src/cli/commands.js' });`;
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', script, JSON.stringify(args)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = await once(child, 'close');
  clearTimeout(timer);
  return { code: code as number | null, out, err };
}

test('the build leaves a fresh bundle, and ftget downloads with it', async (t) => {
  const { bundleIsFresh } = await bundleModule();
  t.true(bundleIsFresh(CLIENT), 'run `pnpm build`: it writes the bundle and its manifest');
  const f = await servedFile(t, 'ft-bundle-', 4096);
  const server = await startFtserve(['--root', f.root, '--host', '127.0.0.1', '--port', '0']);
  t.teardown(() => server.stop());
  const report = await preload(t);
  const r = await runFtget(['get', 'f.bin', '--host', '127.0.0.1', '--port', String(server.port)], {
    cwd: f.dl,
    env: { ...process.env, NODE_OPTIONS: `--require ${report}` },
  });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /bundle loaded: true/);
  t.deepEqual(await readFile(join(f.dl, 'f.bin')), f.data);
});

for (const args of [
  ['--help'],
  ['get', '--help'],
  ['help', 'ls'],
  ['get', '--bogus'],
  ['get'],
  ['frob'],
  ['stat', '--port', 'x', 'a'],
  ['completion', 'bash'],
]) {
  test(`the bundle and the modules answer the same: ftget ${args.join(' ')}`, async (t) => {
    const bundled = await runFtget(args);
    const modules = await runModules(args);
    t.is(bundled.code, modules.code);
    t.is(bundled.stdout.toString(), modules.out);
    t.is(bundled.stderr, modules.err);
  });
}

test('a bundle whose build stamps changed is not used', async (t) => {
  const { MANIFEST, bundleIsFresh } = await bundleModule();
  const root = await mkdtemp(join(tmpdir(), 'ft-bundle-root-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, 'dist', 'src'), { recursive: true });
  t.false(bundleIsFresh(root), 'no manifest');
  const stamp = join(root, 'dist', 'tsconfig.tsbuildinfo');
  await writeFile(stamp, '{}');
  await utimes(stamp, 1_700_000_000, 1_700_000_000);
  await writeFile(
    join(root, MANIFEST),
    JSON.stringify({ stamps: { 'dist/tsconfig.tsbuildinfo': 1_700_000_000_000 } }),
  );
  t.true(bundleIsFresh(root));
  await utimes(stamp, 1_700_000_001, 1_700_000_001); // tsc -b emitted again
  t.false(bundleIsFresh(root));
  await rm(stamp);
  t.false(bundleIsFresh(root), 'a stamp file gone');
});
