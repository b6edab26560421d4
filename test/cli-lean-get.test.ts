/**
 * The lean `ftget get` (packages/client/src/cli/lean-get.ts, bundled as ftget-lean.cjs): a
 * plain one-file get runs without oclif's Config, and answers exactly as the full oclif path
 * does (stdout, stderr, exit code, the files left), in a pipe and in a terminal; everything
 * it does not take falls back to the full path, unchanged. Which path ran is observed from
 * outside: a preload records at exit which bundles the process loaded, into a file, so that
 * the output compared stays the user's.
 */
import {
  copyFile,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { runFtget, spawnFtget } from './helpers/ftget.js';
import type { FtgetResult } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { startTerminal } from './helpers/tmux.js';

const CLIENT = fileURLToPath(new URL('../../packages/client/', import.meta.url));
const FILE_SIZE = 256 * 1024;

let base: string;
let server: Ftserve;
let data: Buffer;
let preload: string;
let fullRunner: string;
let counter = 0;

test.before(async () => {
  base = await mkdtemp(join(tmpdir(), 'ftget-lean-'));
  const root = join(base, 'srv');
  await mkdir(root);
  data = Buffer.alloc(FILE_SIZE);
  for (let i = 0; i < FILE_SIZE; i++) data[i] = (i * 7919) % 251;
  await writeFile(join(root, 'f.bin'), data);
  await writeFile(join(root, 'slow.bin'), Buffer.alloc(3 * 1024 * 1024, 7));
  server = await startFtserve(['--root', root, '--host', '127.0.0.1', '--port', '0']);
  // At exit: which of the two bundles this process loaded (bundle.js puts them in
  // require.cache), into $FT_TEST_BUNDLES.
  preload = join(base, 'report-bundles.cjs');
  await writeFile(
    preload,
    "process.on('exit', () => { const k = Object.keys(require.cache);\n" +
      "  require('node:fs').writeFileSync(process.env.FT_TEST_BUNDLES, JSON.stringify({\n" +
      "    lean: k.some((f) => f.endsWith('ftget-lean.cjs')),\n" +
      "    full: k.some((f) => f.endsWith('ftget-bundle.cjs')) })); });\n",
  );
  // The full oclif path, as bin/run.js runs it for everything the lean path does not take.
  fullRunner = join(base, 'full-runner.mjs');
  await writeFile(
    fullRunner,
    `const { BUNDLE, loadBundle } = await import(${JSON.stringify(pathToFileURL(join(CLIENT, 'bin', 'bundle.js')).href)});\n` +
      `await loadBundle(${JSON.stringify(CLIENT)}).exports.main(process.argv.slice(2), { root: ${JSON.stringify(CLIENT)}, commandsTarget: './' + BUNDLE });\n`,
  );
});
test.after.always(async () => {
  await server?.stop('SIGKILL');
  await rm(base, { recursive: true, force: true });
});

interface Run extends FtgetResult {
  bundles: { lean: boolean; full: boolean };
  files: Record<string, string>;
}

/** A fresh working directory, optionally seeded (name → contents). */
async function workDir(seed: Record<string, Buffer> = {}): Promise<string> {
  const dir = join(base, `w${counter++}`);
  await mkdir(dir);
  for (const [name, contents] of Object.entries(seed)) await writeFile(join(dir, name), contents);
  return dir;
}

/** What a run left in its directory (recursively): each file's size, and whether it is f.bin. */
async function filesIn(dir: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const name = join(prefix, e.name);
    if (name.startsWith('bundles-')) continue;
    if (e.isDirectory()) {
      Object.assign(out, { [`${name}/`]: 'dir' }, await filesIn(dir, name));
      continue;
    }
    const b = await readFile(join(dir, name));
    out[name] = `${b.length}${b.equals(data) ? ' (= f.bin)' : ''}`;
  }
  return out;
}

/** Runs `args` in `dir` through bin/run.js ('ftget') or straight through the full path. */
async function run(how: 'ftget' | 'full', args: string[], dir: string): Promise<Run> {
  const report = join(dir, `bundles-${how}.json`);
  const env = { ...process.env, NODE_OPTIONS: `--require ${preload}`, FT_TEST_BUNDLES: report };
  const r =
    how === 'ftget' ? await runFtget(args, { cwd: dir, env }) : await spawnFullPath(args, dir, env);
  const bundles = JSON.parse(await readFile(report, 'utf8')) as Run['bundles'];
  return { ...r, bundles, files: await filesIn(dir) };
}

/** The full oclif path (fullRunner) on `args`, in `dir`. */
function spawnFullPath(args: string[], dir: string, env: NodeJS.ProcessEnv): Promise<FtgetResult> {
  return spawnFtgetWith(fullRunner, args, dir, env);
}

/** As spawnFtget, with another script in place of bin/run.js. */
async function spawnFtgetWith(
  script: string,
  args: string[],
  dir: string,
  env: NodeJS.ProcessEnv,
): Promise<FtgetResult> {
  return spawnFtget(args, { cwd: dir, env, script }).result;
}

/** The figures of a summary line ("… in 0.012 s (21.3 MiB/s)") vary from run to run. */
const normalize = (text: string): string =>
  text.replace(/ in [\d.]+ m?s \([\d.]+ [KMG]?i?B\/s\)/g, ' in T (R)');

/** Runs `args` both ways, each in a directory seeded alike, and checks they answer the same. */
async function same(
  t: ExecutionContext,
  args: (port: number) => string[],
  seed: Record<string, Buffer> = {},
): Promise<{ lean: Run; full: Run }> {
  const argv = args(server.port);
  const lean = await run('ftget', argv, await workDir(seed));
  const full = await run('full', argv, await workDir(seed));
  t.is(lean.code, full.code, `exit code; lean stderr:\n${lean.stderr}\nfull:\n${full.stderr}`);
  t.is(lean.signal, full.signal);
  t.is(normalize(lean.stderr), normalize(full.stderr));
  t.is(lean.stdout.toString(), full.stdout.toString());
  t.deepEqual(lean.files, full.files);
  t.deepEqual(full.bundles, { lean: false, full: true });
  return { lean, full };
}

const url = (port: number, name = 'f.bin') => `ft://127.0.0.1:${port}/${name}`;

test('a plain get takes the lean path (oclif never loaded) and answers as the full path: success', async (t) => {
  const { lean } = await same(t, (p) => ['get', url(p), '-o', 'out.bin']);
  t.deepEqual(lean.bundles, { lean: true, full: false });
  t.is(lean.code, 0, lean.stderr);
  t.regex(lean.stderr, /^ftget: out\.bin: 256 KiB in [\d.]+ m?s \(/);
  t.is(lean.files['out.bin'], `${FILE_SIZE} (= f.bin)`);
});

test("lean path, the bench's form: --host, --port, --quiet, no -o", async (t) => {
  const { lean } = await same(t, (p) => [
    'get',
    'f.bin',
    '--host',
    '127.0.0.1',
    '--port',
    String(p),
    '--quiet',
  ]);
  t.deepEqual(lean.bundles, { lean: true, full: false });
  t.is(lean.code, 0);
  t.is(lean.stderr, '');
  t.is(lean.files['f.bin'], `${FILE_SIZE} (= f.bin)`);
});

test('lean path: --udp (one file over the UDP transport) answers as the full path', async (t) => {
  const { lean } = await same(t, (p) => ['get', url(p), '-o', 'out.bin', '--udp']);
  t.deepEqual(lean.bundles, { lean: true, full: false });
  t.is(lean.code, 0, lean.stderr);
  t.is(lean.files['out.bin'], `${FILE_SIZE} (= f.bin)`);
});

test('lean path: a missing remote is exit 4 with its hint, as on the full path', async (t) => {
  const { lean } = await same(t, (p) => ['get', url(p, 'nope.bin'), '-o', 'x.bin']);
  t.deepEqual(lean.bundles, { lean: true, full: false });
  t.is(lean.code, 4);
  t.regex(lean.stderr, /^ftget: error: nope\.bin: not found\nftget: hint: /);
});

test('lean path: an existing output without --force/--resume is refused alike', async (t) => {
  const { lean } = await same(t, (p) => ['get', url(p), '-o', 'out.bin'], {
    'out.bin': Buffer.from('old'),
  });
  t.deepEqual(lean.bundles, { lean: true, full: false });
  t.not(lean.code, 0);
});

test('lean path: a usage error found after parsing (a bad --port) is exit 2, alike', async (t) => {
  const { lean } = await same(t, () => ['get', 'f.bin', '--host', '127.0.0.1', '--port', 'x']);
  t.deepEqual(lean.bundles, { lean: true, full: false });
  t.is(lean.code, 2);
});

test('lean path: --resume of a bare .part (half the file) and -c of a complete output', async (t) => {
  const half = { 'out.bin.part': data.subarray(0, FILE_SIZE / 2) };
  const a = await same(t, (p) => ['get', url(p), '-o', 'out.bin', '--resume'], half);
  t.deepEqual(a.lean.bundles, { lean: true, full: false });
  t.is(a.lean.code, 0, a.lean.stderr);
  t.is(a.lean.files['out.bin'], `${FILE_SIZE} (= f.bin)`);
  const b = await same(t, (p) => ['get', url(p), '-o', 'out.bin', '-c', '--no-verify-partial'], {
    'out.bin': data,
  });
  t.deepEqual(b.lean.bundles, { lean: true, full: false });
  t.is(b.lean.code, 0, b.lean.stderr);
});

test('lean path: --resume of a partial with its state file, with --no-verify-partial', async (t) => {
  // A real interrupted download leaves OUTPUT.part and its state: stop one mid-way.
  const seedDir = await workDir();
  const started = spawnFtget(
    ['get', url(server.port, 'slow.bin'), '-o', 'out.bin', '--limit-rate', '512K', '-q'],
    { cwd: seedDir },
  );
  const deadline = Date.now() + 30_000;
  for (;;) {
    const names = await readdir(seedDir);
    if (names.includes('out.bin.part.json') || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 600));
  started.child.kill('SIGTERM');
  await started.result;
  const seed: Record<string, Buffer> = {};
  for (const name of ['out.bin.part', 'out.bin.part.json'])
    seed[name] = await readFile(join(seedDir, name));
  t.true(seed['out.bin.part']!.length > 0, 'the interrupted download left a partial');
  const { lean } = await same(
    t,
    (p) => ['get', url(p, 'slow.bin'), '-o', 'out.bin', '-c', '--no-verify-partial'],
    seed,
  );
  t.deepEqual(lean.bundles, { lean: true, full: false });
  t.is(lean.code, 0, lean.stderr);
});

test('several REMOTEs (a batch, one of them missing) take the lean path and answer as the full path', async (t) => {
  const { lean } = await same(t, (p) => ['get', url(p), url(p, 'nope.bin'), '-o', 'd/']);
  t.deepEqual(lean.bundles, { lean: true, full: false });
  t.is(lean.code, 4, lean.stderr);
});

test('two REMOTEs of one file name (mirrors of one file) take the lean path and answer as the full path', async (t) => {
  const { lean } = await same(t, (p) => [
    'get',
    url(p),
    `ft://localhost:${p}/f.bin`,
    '-o',
    'm.bin',
  ]);
  t.deepEqual(lean.bundles, { lean: true, full: false });
  t.is(lean.code, 0, lean.stderr);
  t.is(lean.files['m.bin'], `${FILE_SIZE} (= f.bin)`);
});

for (const [why, args] of [
  ['--help', (p: number) => ['get', url(p), '--help']],
  [
    'a parse error (--retries -1)',
    (p: number) => ['get', url(p), '-o', 'o.bin', '--retries', '-1'],
  ],
  ['an unknown flag', (p: number) => ['get', url(p), '--bogus']],
  ['no REMOTE', () => ['get', '-o', 'o.bin']],
  ['-r', (p: number) => ['get', '-r', url(p, ''), '-o', 'tree']],
  ['--parallel', (p: number) => ['get', url(p), '-o', 'o.bin', '--parallel', '2']],
  ['--connections', (p: number) => ['get', url(p), '-o', 'o.bin', '--connections', '2']],
  ['--mirror', (p: number) => ['get', url(p), '-o', 'o.bin', '--mirror', url(p)]],
  ['--checksum (boolean)', (p: number) => ['get', url(p), '-o', 'o.bin', '--checksum']],
  ['`--`', (p: number) => ['get', '-o', 'o.bin', '--', url(p)]],
] as const) {
  test(`falls back to the full path, which answers as before: ${why}`, async (t) => {
    const { lean } = await same(t, args);
    t.deepEqual(lean.bundles, { lean: true, full: true });
  });
}

test('with DEBUG set, the full path runs (its debug output is oclif’s)', async (t) => {
  const dir = await workDir();
  const report = join(dir, 'bundles-ftget.json');
  const r = await runFtget(['get', url(server.port), '-o', 'o.bin', '-q'], {
    cwd: dir,
    env: {
      ...process.env,
      NODE_OPTIONS: `--require ${preload}`,
      FT_TEST_BUNDLES: report,
      DEBUG: 'x',
    },
  });
  t.is(r.code, 0, r.stderr);
  t.deepEqual(JSON.parse(await readFile(report, 'utf8')), { lean: true, full: true });
});

/** A screen without what varies between runs: the bar's last state, figures, tmux's exit line. */
function shape(screen: string[]): string[] {
  const lines = screen
    .filter((l) => !l.startsWith('Pane is dead'))
    // The bar's last state (fill, figures, units, ETA) depends on timing; its form is checked
    // while it runs.
    .map((l) => (/^out\.bin [█░]+ /.test(l) ? 'out.bin BAR' : normalize(l)));
  while (lines.at(-1) === '') lines.pop();
  return lines;
}

test('in a terminal: the lean path draws the progress bar, and ends with the same screen', async (t) => {
  const screens: string[][] = [];
  for (const how of ['ftget', 'full'] as const) {
    const dir = await workDir();
    const report = join(dir, 'bundles.json');
    const script = how === 'ftget' ? join(CLIENT, 'bin', 'run.js') : fullRunner;
    const cmd =
      `env NODE_OPTIONS='--require ${preload}' FT_TEST_BUNDLES=${report} ` +
      `${process.execPath} ${script} get ${url(server.port, 'slow.bin')} -o out.bin --limit-rate 1M`;
    const term = startTerminal(cmd, 80, 24, dir);
    t.teardown(() => term.kill());
    const bar = await term.waitFor((s) => s.some((l) => /^out\.bin [█░]+ +[1-9]\d*% /.test(l)));
    t.true(
      bar.some((l) =>
        /^out\.bin [█░]+ +\d+% [\d.]+(?: B| KiB| MiB)?\/[\d.]+ MiB [\d.]+ (B|KiB|MiB)\/s ETA (\d+:\d\d|--:--)$/.test(
          l,
        ),
      ),
      `${how}: a bar\n${bar.join('\n')}`,
    );
    t.deepEqual(await term.waitExit(), { code: 0, signal: null });
    screens.push(shape(term.capture(true)));
    t.deepEqual(JSON.parse(await readFile(report, 'utf8')), {
      lean: how === 'ftget',
      full: how === 'full',
    });
    t.is(
      (await readFile(join(dir, 'out.bin'))).length,
      3 * 1024 * 1024,
      `${how}: the file is complete`,
    );
  }
  t.deepEqual(screens[0], screens[1]);
});

test('a stale bundle: ftget runs from the modules, the lean bundle unused', async (t) => {
  // A copy of the package whose manifest no longer matches: bin/run.js must not load either
  // bundle there. The copy shares the built modules and node_modules by symlink.
  const root = await mkdtemp(join(tmpdir(), 'ftget-lean-stale-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, 'bin'));
  for (const f of ['run.js', 'bundle.js', 'package.json'])
    await copyFile(join(CLIENT, 'bin', f), join(root, 'bin', f));
  await copyFile(join(CLIENT, 'package.json'), join(root, 'package.json'));
  await symlink(join(CLIENT, 'node_modules'), join(root, 'node_modules'));
  await mkdir(join(root, 'dist'));
  await symlink(join(CLIENT, 'dist', 'src'), join(root, 'dist', 'src'));
  // dist/tsconfig.tsbuildinfo (a stamp) is missing here: the manifest does not hold.
  const dir = await workDir();
  const report = join(dir, 'bundles-stale.json');
  const r = await spawnFtgetWith(
    join(root, 'bin', 'run.js'),
    ['get', url(server.port), '-o', 'o.bin'],
    dir,
    {
      ...process.env,
      NODE_OPTIONS: `--require ${preload}`,
      FT_TEST_BUNDLES: report,
    },
  );
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^ftget: o\.bin: 256 KiB in /);
  t.deepEqual(JSON.parse(await readFile(report, 'utf8')), { lean: false, full: false });
  t.deepEqual(await readFile(join(dir, 'o.bin')), data);
});
