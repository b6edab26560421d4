/**
 * What bin/run.js runs for everything but `--version`: the argv pre-check (`ftget help get`,
 * unknown commands), then oclif. The same code runs from the compiled modules or from the
 * one-file bundle (dist/src/ftget-bundle.cjs); `commandsTarget` tells oclif which file holds
 * COMMANDS, so that from the bundle it does not import the modules a second time.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { execute } from '@oclif/core/execute';
import { settings } from '@oclif/core/settings';
import { preprocessArgv } from './argv.js';
import { COMMANDS } from './commands.js';

export { COMMANDS };

/** Where the package is and which file (relative to it) exports COMMANDS. */
export interface MainOptions {
  root: string;
  commandsTarget: string;
}

/** Runs ftget on `argv` (without node and the script); the exit code goes to process.exitCode. */
export async function main(argv: string[], options: MainOptions): Promise<void> {
  const outcome = preprocessArgv(argv, Object.keys(COMMANDS));
  if ('error' in outcome) {
    process.stderr.write(
      `ftget: error: ${outcome.error}\nftget: hint: ${outcome.hint}\n` +
        'see "ftget --help" for the commands\n',
    );
    process.exitCode = 2;
    return;
  }
  // Always run the compiled JS. Without this, oclif tries to locate/transpile the TypeScript
  // sources whenever NODE_ENV is "test" or "development" (AVA sets NODE_ENV=test) and prints a
  // warning on stderr.
  settings.enableAutoTranspile = false;
  const pjson = JSON.parse(readFileSync(path.join(options.root, 'package.json'), 'utf8'));
  pjson.oclif.commands = {
    strategy: 'explicit',
    target: options.commandsTarget,
    identifier: 'COMMANDS',
  };
  await execute({ args: outcome.argv, loadOptions: { root: options.root, pjson } });
}
