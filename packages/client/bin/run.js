#!/usr/bin/env node
// `ftget --version` is answered without loading oclif (it takes longer to load than node
// itself to start); the text is the same as oclif's own version output.
const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  const { readFileSync } = await import('node:fs');
  const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(
    `${pjson.name}/${pjson.version} ${process.platform}-${process.arch} node-${process.version}\n`,
  );
} else {
  // Everything else runs from the one-file bundle while it matches the build it was made from,
  // else from the compiled modules: the same code; the bundle only skips loading ~750 files
  // through the ESM loader (see bundle.js). A plain `ftget get` is first offered to the lean
  // bundle (src/cli/lean-get.ts: get's own parser and run without oclif's Config), which
  // takes it or, having done nothing, leaves it to oclif.
  const { fileURLToPath } = await import('node:url');
  const { BUNDLE, LEAN_BUNDLE, LEAN_CODE_CACHE, bundleIsFresh, loadBundle } =
    await import('./bundle.js');
  const root = fileURLToPath(new URL('..', import.meta.url));
  const fresh = bundleIsFresh(root);
  const lean =
    fresh && argv[0] === 'get'
      ? await loadBundle(root, LEAN_BUNDLE, LEAN_CODE_CACHE).exports.leanGet(argv)
      : false;
  if (!lean) {
    const { main } = fresh ? loadBundle(root).exports : await import('../dist/src/cli/main.js');
    await main(argv, {
      root,
      commandsTarget: fresh ? `./${BUNDLE}` : './dist/src/cli/commands.js',
    });
  }
}
