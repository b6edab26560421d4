/** Flags of the recursive commands (`get -r`, `ls -R`). Kept free of heavy imports (oclif help). */
import * as Flags from '@oclif/core/flags';

export const treeFlags = {
  'follow-links': Flags.boolean({
    description:
      'follow symlinks into the directories and files they lead to (each directory once; default: do not)',
    default: false,
  }),
  'max-depth': Flags.integer({
    description: 'descend at most N directory levels below REMOTE (0: its own entries only)',
    min: 0,
    max: 100_000,
    helpValue: 'N',
  }),
};
