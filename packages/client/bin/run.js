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
  // `ftget help get` and unknown commands (with a suggestion), before oclif loads.
  const { readdirSync } = await import('node:fs');
  const { preprocessArgv } = await import('../dist/src/cli/argv.js');
  const commands = readdirSync(new URL('../dist/src/commands/', import.meta.url))
    .filter((name) => name.endsWith('.js'))
    .map((name) => name.slice(0, -3));
  const outcome = preprocessArgv(argv, commands);
  if ('error' in outcome) {
    process.stderr.write(
      `ftget: error: ${outcome.error}\nftget: hint: ${outcome.hint}\n` +
        'see "ftget --help" for the commands\n',
    );
    process.exitCode = 2;
  } else {
    const { execute, settings } = await import('@oclif/core');
    // Always run the compiled JS in dist/. Without this, oclif tries to locate/transpile the
    // TypeScript sources whenever NODE_ENV is "test" or "development" (AVA sets NODE_ENV=test)
    // and prints a warning on stderr.
    settings.enableAutoTranspile = false;
    await execute({ args: outcome.argv, dir: import.meta.url });
  }
}
