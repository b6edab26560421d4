#!/usr/bin/env node
import { execute, settings } from '@oclif/core';

// `ftserve token …` manages the token file (dist/src/access/tokens-command.js), `ftserve sign …`
// makes signing keys and signed links (dist/src/access/sign-command.js), `ftserve digest …` fills
// a digest store (dist/src/files/digest-command.js); everything else is the one serve command.
if (process.argv[2] === 'token') {
  const { runTokenCommand } = await import('../dist/src/access/tokens-command.js');
  process.exitCode = runTokenCommand(process.argv.slice(3));
} else if (process.argv[2] === 'sign') {
  const { runSignCommand } = await import('../dist/src/access/sign-command.js');
  process.exitCode = runSignCommand(process.argv.slice(3));
} else if (process.argv[2] === 'digest') {
  const { runDigestCommand } = await import('../dist/src/files/digest-command.js');
  process.exitCode = await runDigestCommand(process.argv.slice(3));
} else {
  // Always run the compiled JS in dist/. Without this, oclif tries to locate/transpile the
  // TypeScript sources whenever NODE_ENV is "test" or "development" (AVA sets NODE_ENV=test)
  // and prints a warning on stderr.
  settings.enableAutoTranspile = false;
  await execute({ dir: import.meta.url });
}
