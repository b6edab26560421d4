#!/usr/bin/env node
// Packs ftget (@ft/client) and ftserve (@ft/server) as npm tarballs that install anywhere with
// `npm install -g`: each carries @ft/protocol inside it (a bundled dependency: it is not on the
// registry, and npm does not understand pnpm's "workspace:" versions), while @oclif/core and the
// other registry dependencies are fetched by npm as usual. Build first (`tsc -b`).
//
//   node scripts/pack-cli.mjs [OUTDIR]             writes OUTDIR/ft-client-*.tgz, ft-server-*.tgz
//   node scripts/pack-cli.mjs --install [NPM ARGS]  packs into a temp dir, then npm install -g
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));

/** Copies a package's published files (its "files" list and package.json) into `to`. */
function copyPackage(dir, to, pjson) {
  mkdirSync(to, { recursive: true });
  for (const entry of pjson.files ?? [])
    cpSync(join(dir, entry), join(to, entry), { recursive: true });
  writeFileSync(join(to, 'package.json'), `${JSON.stringify(pjson, null, 2)}\n`);
}

/**
 * ftserve's children start from a bundle whose manifest names its inputs by relative path
 * (packages/server/scripts/bundle-child.mjs); in the package, @ft/protocol sits under
 * node_modules, so the paths are rewritten to where the same files land there.
 */
function relocateBundleManifest(dir, staging) {
  const file = join(staging, 'dist', 'src', 'process', 'child-bundle.json');
  if (!existsSync(file)) return;
  const manifest = readJson(file);
  const from = join(dir, 'dist', 'src', 'process');
  const to = join(staging, 'dist', 'src', 'process');
  const protocolDir = join(root, 'packages', 'protocol');
  const inputs = {};
  for (const [input, digest] of Object.entries(manifest.inputs)) {
    const abs = resolve(from, input);
    const staged = abs.startsWith(protocolDir + sep)
      ? join(staging, 'node_modules', '@ft', 'protocol', relative(protocolDir, abs))
      : join(staging, relative(dir, abs));
    inputs[relative(to, staged)] = digest;
  }
  writeFileSync(file, `${JSON.stringify({ ...manifest, inputs }, null, 2)}\n`);
}

/**
 * ftget runs from its bundle only while the manifest says it matches the modules
 * (packages/client/bin/bundle.js): the build stamps it holds name files that a package does
 * not ship (tsc's build info, pnpm's node_modules). The bundle is packed only when it is
 * fresh, i.e. made from the very build being packed, and the staged manifest then records
 * that (`packed`: sizes of the bundle and the modules' entry point) instead of the stamps.
 */
async function packBundleManifest(dir, staging) {
  const { BUNDLE, MANIFEST, PACKED_FILES, bundleIsFresh } = await import(
    pathToFileURL(join(dir, 'bin', 'bundle.js')).href
  );
  if (!existsSync(join(dir, BUNDLE))) return;
  if (!bundleIsFresh(dir))
    throw new Error(
      `${join(dir, BUNDLE)} is older than the build: run the build first (pnpm build)`,
    );
  const packed = {};
  for (const file of PACKED_FILES) packed[file] = statSync(join(staging, file)).size;
  writeFileSync(join(staging, MANIFEST), `${JSON.stringify({ packed }, null, 2)}\n`);
}

async function stage(name, outDir) {
  const dir = join(root, 'packages', name);
  const pjson = readJson(join(dir, 'package.json'));
  if (!existsSync(join(dir, 'dist', 'src')))
    throw new Error(`${dir}/dist is missing: build first (tsc -b)`);
  const staging = mkdtempSync(join(tmpdir(), `ft-pack-${name}-`));
  try {
    const protocolDir = join(root, 'packages', 'protocol');
    const protocol = readJson(join(protocolDir, 'package.json'));
    delete protocol.private;
    copyPackage(protocolDir, join(staging, 'node_modules', '@ft', 'protocol'), protocol);
    const packed = { ...pjson, dependencies: { ...pjson.dependencies } };
    delete packed.private;
    delete packed.devDependencies;
    packed.dependencies['@ft/protocol'] = protocol.version;
    packed.bundleDependencies = ['@ft/protocol'];
    copyPackage(dir, staging, packed);
    if (name === 'server') relocateBundleManifest(dir, staging);
    if (name === 'client') await packBundleManifest(dir, staging);
    const file = execFileSync(npm, ['pack', '--silent', '--pack-destination', outDir], {
      cwd: staging,
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .pop();
    return join(outDir, file);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

const args = process.argv.slice(2);
if (args[0] === '--install') {
  const outDir = mkdtempSync(join(tmpdir(), 'ft-tarballs-'));
  try {
    const tarballs = [await stage('client', outDir), await stage('server', outDir)];
    execFileSync(npm, ['install', '-g', ...args.slice(1), ...tarballs], { stdio: 'inherit' });
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
} else {
  const outDir = resolve(args[0] ?? '.');
  mkdirSync(outDir, { recursive: true });
  for (const n of ['client', 'server']) process.stdout.write(`${await stage(n, outDir)}\n`);
}
