import { FtgetCommand } from '../cli/base-command.js';
import { commandSpecs } from '../cli/command-specs.js';
import { manPage } from '../cli/man-page.js';

export default class Manpage extends FtgetCommand {
  static override summary = 'Print the ftget(1) man page (roff).';

  static override examples = [
    { description: 'Read it', command: '<%= config.bin %> <%= command.id %> | man -l -' },
    {
      description: 'Install it',
      command: '<%= config.bin %> <%= command.id %> > ~/.local/share/man/man1/ftget.1',
    },
  ];

  async run(): Promise<void> {
    await this.parse(Manpage);
    process.stdout.write(manPage(this.config.version, commandSpecs(this.config)));
  }
}
