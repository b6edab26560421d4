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
  // through the ESM loader (see bundle.js).
  const { fileURLToPath } = await import('node:url');
  const { BUNDLE, bundleIsFresh, loadBundle } = await import('./bundle.js');
  const root = fileURLToPath(new URL('..', import.meta.url));
  const fresh = bundleIsFresh(root);
  const { main } = fresh ? loadBundle(root).exports : await import('../dist/src/cli/main.js');
  await main(argv, { root, commandsTarget: fresh ? `./${BUNDLE}` : './dist/src/cli/commands.js' });
}
