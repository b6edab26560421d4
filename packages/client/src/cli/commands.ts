/**
 * Every ftget command by id. oclif finds them here ("explicit" command discovery, named in
 * package.json under oclif.commands) instead of globbing dist/src/commands/ and importing each
 * file: that lets the one-file bundle of the CLI (scripts/bundle-cli.mjs) carry the commands.
 */
import Completion from '../commands/completion.js';
import Get from '../commands/get.js';
import Ls from '../commands/ls.js';
import Manpage from '../commands/manpage.js';
import Stat from '../commands/stat.js';

/** Command id → command class, as oclif's explicit discovery expects (identifier COMMANDS). */
export const COMMANDS = {
  completion: Completion,
  get: Get,
  ls: Ls,
  manpage: Manpage,
  stat: Stat,
};
