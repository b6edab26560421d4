import { Args, Command } from '@oclif/core';

export default class Ls extends Command {
  static override description = 'List a remote directory.';

  static override args = {
    path: Args.string({ description: 'remote path', required: false }),
  };

  async run(): Promise<void> {
    await this.parse(Ls);
    this.logToStderr('ftget ls: not implemented yet');
    this.exit(1);
  }
}
