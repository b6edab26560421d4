#!/usr/bin/env node
/**
 * Bundles ftget (dist/src/cli/main.js, every module it imports, @ft/protocol and the registry
 * dependencies, oclif included) into one CommonJS file, dist/src/ftget-bundle.cjs, plus
 * ftget-bundle.json: the build stamps the bundle was made from. Run after `tsc -b` (the root
 * build script does).
 *
 * Why: through Node's ESM loader ftget loaded ~750 files before doing anything (oclif and its
 * dependencies, ~100 modules of ours); resolving and compiling them cost more CPU than Node's
 * own start-up. One script skips the loader and the file system walk (see README, "Start-up").
 *
 * bin/run.js uses the bundle only while the stamps match: the mtimes of the two tsc build-info
 * files (tsc -b rewrites them whenever it emits) and of pnpm's node_modules/.modules.yaml
 * (rewritten by every install). A bundle left over from older sources is never run; ftget then
 * loads the modules, which behave the same, only slower.
 *
 * A second bundle, dist/src/ftget-lean.cjs, holds the lean `get` (src/cli/lean-get.ts): get's
 * flags, oclif's parser and the download, but not oclif's Command, Config and execute, whose
 * loading and set-up cost more than a small download. @oclif/core/command is replaced there by
 * an empty class (get's command class extends it; the lean path never runs a Command), oclif's
 * help system and error handler by modules that refuse to run (STUBS), and the build refuses
 * a lean bundle that still holds oclif's Config. One manifest covers both.
 * The lean bundle is minified (whitespace and syntax, not names: error classes are told apart
 * by name): ~2 ms less to read and compile. It never prints a stack (DEBUG goes to the full
 * path), so its one long line costs no one.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import {
  BUNDLE as BUNDLE_REL,
  CODE_CACHE,
  LEAN_BUNDLE,
  LEAN_CODE_CACHE,
  MANIFEST as MANIFEST_REL,
} from '../bin/bundle.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = path.join(ROOT, 'dist', 'src');
const BUNDLE = path.join(ROOT, BUNDLE_REL);
const MANIFEST = path.join(ROOT, MANIFEST_REL);
/** Relative to the package root; the same list is checked by bin/run.js. */
const STAMPS = [
  'dist/tsconfig.tsbuildinfo',
  '../protocol/dist/tsconfig.tsbuildinfo',
  '../../node_modules/.modules.yaml',
];
/** The only module that reads import.meta.url: the hash thread's file is found beside it. */
const META_URL_USER = path.join(SRC, 'hashing', 'hash-worker.js');

/** esbuild options shared by both bundles (`extra`: one bundle's own). */
function bundle(entry, outfile, plugins, extra = {}) {
  return build({
    ...extra,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    metafile: true,
    logLevel: 'warning',
    plugins,
    // oclif requires typescript only to transpile sources (main.js turns that off).
    external: ['typescript', 'koffi'],
    // import.meta.url of the hash worker's module, so that the thread's file is found.
    define: { 'import.meta.url': '__ftgetHashWorkerUrl' },
    banner: {
      js: `const __ftgetHashWorkerUrl = require('node:url').pathToFileURL(require('node:path').join(__dirname, ${JSON.stringify(path.relative(SRC, META_URL_USER))})).href;`,
    },
    absWorkingDir: ROOT,
  });
}

/**
 * The define above gives every module the hash worker's URL: refuse another user, but for
 * syncfs.js, which only resolves the package koffi from it (any file of dist/src finds the same
 * one). It cannot `import()` koffi: V8 drops the dynamic-import callback of a script compiled
 * from a code cache ("A dynamic import callback was not specified").
 */
const META_URL_ALSO = path.join(SRC, 'syncfs.js');
function checkMetaUsers(result) {
  const metaUsers = Object.keys(result.metafile.inputs)
    .filter((file) => !file.startsWith('ftget-stub:'))
    .map((file) => path.resolve(ROOT, file))
    .filter((file) => !file.includes(`${path.sep}node_modules${path.sep}`))
    .filter((file) => /import\.meta/.test(readFileSync(file, 'utf8')));
  if (metaUsers.some((file) => file !== META_URL_USER && file !== META_URL_ALSO))
    throw new Error(`import.meta is read by ${metaUsers.join(', ')}: only hash-worker.js may`);
}

/**
 * What the lean bundle replaces in oclif (see the top): its Command class by an empty class to
 * extend, and the help system, which oclif's flags and error handler load up front, by a
 * module that refuses to run (the lean path leaves --help and oclif's error handler to the
 * full path; help/util, which the parser uses, stays).
 */
const STUBS = {
  command: 'export class Command {}\n',
  help: `const refuse = () => { throw new Error('oclif help is not in the lean bundle'); };
module.exports = { Help: refuse, loadHelpClass: refuse, CommandHelp: refuse, HelpBase: refuse };\n`,
  handle: `module.exports = { handle: () => { throw new Error('oclif error handler is not in the lean bundle'); }, Exit: { exit: (code = 0) => process.exit(code) } };\n`,
};
const stubOclif = {
  name: 'stub-oclif',
  setup(b) {
    b.onResolve({ filter: /^@oclif\/core\/command$/ }, () => ({
      path: 'command',
      namespace: 'ftget-stub',
    }));
    b.onResolve({ filter: /^\.\/help$|^\.\.\/help\/index$/ }, (args) =>
      /@oclif\/core\/lib\/(flags|errors\/handle)\.js$/.test(args.importer)
        ? { path: 'help', namespace: 'ftget-stub' }
        : undefined,
    );
    b.onResolve({ filter: /^\.\/handle$/ }, (args) =>
      /@oclif\/core\/lib\/errors\/index\.js$/.test(args.importer)
        ? { path: 'handle', namespace: 'ftget-stub' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'ftget-stub' }, (args) => ({
      contents: STUBS[args.path],
      loader: 'js',
    }));
  },
};

/** Writes the code cache of one bundle ('full' or 'lean'; scripts/code-cache.mjs). */
function codeCache(which) {
  const scratch = mkdtempSync(path.join(tmpdir(), 'ftget-code-cache-'));
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'code-cache.mjs'), ROOT, which], {
      cwd: scratch,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

try {
  // Without a manifest bin/run.js uses the modules: no window where a new bundle meets an old
  // cache.
  rmSync(MANIFEST, { force: true });
  rmSync(path.join(ROOT, CODE_CACHE), { force: true });
  rmSync(path.join(ROOT, LEAN_CODE_CACHE), { force: true });
  const full = await bundle(path.join(SRC, 'cli', 'main.js'), BUNDLE, []);
  checkMetaUsers(full);
  const lean = await bundle(
    path.join(SRC, 'cli', 'lean-get.js'),
    path.join(ROOT, LEAN_BUNDLE),
    [stubOclif],
    { minifyWhitespace: true, minifySyntax: true },
  );
  checkMetaUsers(lean);
  const oclifConfig = Object.keys(lean.metafile.inputs).filter((f) =>
    /@oclif\/core\/lib\/(config\/(config|plugin|index)|main|execute|command)\.js$/.test(f),
  );
  if (oclifConfig.length > 0)
    throw new Error(`the lean bundle holds oclif's ${oclifConfig.join(', ')}`);
  // V8's code cache of each bundle after a training run, in a scratch directory.
  codeCache('full');
  codeCache('lean');
  const stamps = {};
  for (const stamp of STAMPS) stamps[stamp] = statSync(path.join(ROOT, stamp)).mtimeMs;
  writeFileSync(MANIFEST, JSON.stringify({ stamps }, null, 2) + '\n');
} catch (error) {
  process.stderr.write(`bundle-cli: ${error instanceof Error ? error.message : error}\n`);
  process.exit(1);
}
