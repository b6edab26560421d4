import { Command, Flags } from '@oclif/core';

export default class Serve extends Command {
  static override description = 'Serve files from a directory.';

  static override flags = {
    root: Flags.string({ description: 'directory to serve', default: '.' }),
    port: Flags.integer({ description: 'TCP port to listen on', default: 0 }),
    version: Flags.version(),
    help: Flags.help(),
  };

  async run(): Promise<void> {
    await this.parse(Serve);
    this.logToStderr('ftserve: not implemented yet');
    this.exit(1);
  }
}
