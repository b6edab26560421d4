// Loads dist/src/ftget-bundle.cjs, or for a plain `ftget get` first the lean one,
// dist/src/ftget-lean.cjs (scripts/bundle-cli.mjs), when they match the build they were made
// from, each with V8's code cache for it: compiling the 1 MB bundle cost about as much CPU as
// running it, and the cache (made at build time) skips most of that. V8 checks the cache
// against its own version and flags and ignores one that does not fit; the cache file is
// written with the bundle, and the manifest (for both bundles) last, so a bundle is never
// paired with a stale cache (the build deletes the manifest first).
// CommonJS, as is run.js (bin/package.json): ES module loading costs ftget ~5 ms per start; the
// build scripts and tests import the names below from it as ES modules do from CommonJS.
/* global require, exports */
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS on purpose */
'use strict';
const { readFileSync, statSync } = require('node:fs');
const { Module, createRequire } = require('node:module');
const path = require('node:path');
const vm = require('node:vm');

/** The bundle, its code cache and manifest, relative to the package root. */
const BUNDLE = 'dist/src/ftget-bundle.cjs';
const CODE_CACHE = 'dist/src/ftget-bundle.cache';
const MANIFEST = 'dist/src/ftget-bundle.json';
/** The lean `get` (src/cli/lean-get.ts, without oclif's Config) and its code cache. */
const LEAN_BUNDLE = 'dist/src/ftget-lean.cjs';
const LEAN_CODE_CACHE = 'dist/src/ftget-lean.cache';

/**
 * Whether the bundle matches the modules beside it. In a build: the manifest's build stamps
 * (file → mtimeMs) all still hold. In a package made by scripts/pack-cli.mjs, which packs the
 * bundle only with the very build it was made from and which nothing rebuilds in place, the
 * stamps are replaced by `packed`: the byte sizes of the bundle and of the modules' entry
 * point as packed (npm does not keep mtimes; sizes catch a file replaced by hand).
 */
function bundleIsFresh(root) {
  try {
    const { stamps, packed } = JSON.parse(readFileSync(path.join(root, MANIFEST), 'utf8'));
    if (packed !== undefined)
      return Object.entries(packed).every(
        ([file, size]) => statSync(path.join(root, file)).size === size,
      );
    return Object.entries(stamps).every(
      ([file, mtimeMs]) => statSync(path.join(root, file)).mtimeMs === mtimeMs,
    );
  } catch {
    return false; // no bundle, or stamps that no longer hold: use the modules
  }
}

/** What a packed manifest records (see bundleIsFresh), relative to the package root. */
const PACKED_FILES = [BUNDLE, LEAN_BUNDLE, 'dist/src/cli/main.js'];

/**
 * Runs a bundle (default the full one; or LEAN_BUNDLE with LEAN_CODE_CACHE) as the CommonJS
 * module it is and returns it with its exports.
 */
function loadBundle(root, bundle = BUNDLE, codeCache = CODE_CACHE) {
  const file = path.join(root, bundle);
  let cachedData;
  try {
    cachedData = readFileSync(path.join(root, codeCache));
  } catch {
    // no cache: V8 compiles from source
  }
  const script = new vm.Script(Module.wrap(readFileSync(file, 'utf8')), {
    filename: file,
    cachedData,
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const mod = new Module(file);
  mod.filename = file;
  const require = createRequire(file);
  mod.paths = require.resolve.paths('x') ?? [];
  // oclif requires the bundle for its COMMANDS: it must get this instance, not a second copy
  // (and tests find a loaded bundle here).
  require.cache[file] = mod;
  script.runInThisContext().call(mod.exports, mod.exports, require, mod, file, path.dirname(file));
  mod.loaded = true;
  return { exports: mod.exports, script };
}

exports.BUNDLE = BUNDLE;
exports.CODE_CACHE = CODE_CACHE;
exports.MANIFEST = MANIFEST;
exports.LEAN_BUNDLE = LEAN_BUNDLE;
exports.LEAN_CODE_CACHE = LEAN_CODE_CACHE;
exports.PACKED_FILES = PACKED_FILES;
exports.bundleIsFresh = bundleIsFresh;
exports.loadBundle = loadBundle;
