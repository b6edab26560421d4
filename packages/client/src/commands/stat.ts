import { Args, Command } from '@oclif/core';

export default class Stat extends Command {
  static override description = 'Show metadata of a remote file.';

  static override args = {
    path: Args.string({ description: 'remote path', required: true }),
  };

  async run(): Promise<void> {
    await this.parse(Stat);
    this.logToStderr('ftget stat: not implemented yet');
    this.exit(1);
  }
}
