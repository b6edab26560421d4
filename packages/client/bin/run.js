#!/usr/bin/env node
// CommonJS (bin/package.json): as an ES module this file cost ~5 ms more per start (Node's ES
// module loader), about a tenth of `ftget --version`.
/* global require, __dirname */
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS on purpose */
'use strict';
const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  // Answered without loading oclif (it takes longer to load than node itself to start); the
  // text is the same as oclif's own version output.
  const { readFileSync } = require('node:fs');
  const pjson = JSON.parse(
    readFileSync(require('node:path').join(__dirname, '..', 'package.json'), 'utf8'),
  );
  process.stdout.write(
    `${pjson.name}/${pjson.version} ${process.platform}-${process.arch} node-${process.version}\n`,
  );
} else {
  // Everything else runs from the one-file bundle while it matches the build it was made from,
  // else from the compiled modules: the same code; the bundle only skips loading ~750 files
  // through the ESM loader (see bundle.js). A plain `ftget get` is first offered to the lean
  // bundle (src/cli/lean-get.ts: get's own parser and run without oclif's Config), which
  // takes it or, having done nothing, leaves it to oclif.
  const run = async () => {
    const path = require('node:path');
    const {
      BUNDLE,
      LEAN_BUNDLE,
      LEAN_CODE_CACHE,
      bundleIsFresh,
      loadBundle,
    } = require('./bundle.js');
    const root = path.join(__dirname, '..') + path.sep;
    const fresh = bundleIsFresh(root);
    const lean =
      fresh && argv[0] === 'get'
        ? await loadBundle(root, LEAN_BUNDLE, LEAN_CODE_CACHE).exports.leanGet(argv)
        : false;
    if (lean) return;
    const { main } = fresh ? loadBundle(root).exports : await import('../dist/src/cli/main.js');
    await main(argv, {
      root,
      commandsTarget: fresh ? `./${BUNDLE}` : './dist/src/cli/commands.js',
    });
  };
  // As an ES module's top-level await would: a failure is printed and ends the run with 1.
  run().catch((error) => {
    process.exitCode = 1;
    throw error;
  });
}
