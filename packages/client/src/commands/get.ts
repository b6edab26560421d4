import { Args, Command } from '@oclif/core';

export default class Get extends Command {
  static override description = 'Download a file from the server.';

  static override args = {
    path: Args.string({ description: 'remote path', required: true }),
  };

  async run(): Promise<void> {
    await this.parse(Get);
    this.logToStderr('ftget get: not implemented yet');
    this.exit(1);
  }
}
