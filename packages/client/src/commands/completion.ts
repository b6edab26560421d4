import * as Args from '@oclif/core/args';
import { FtgetCommand } from '../cli/base-command.js';
import { commandSpecs } from '../cli/command-specs.js';
import { SHELLS, completionScript } from '../cli/completion-script.js';
import type { Shell } from '../cli/completion-script.js';

export default class Completion extends FtgetCommand {
  static override summary = 'Print a shell completion script (bash or zsh).';

  static override examples = [
    {
      description: 'bash: complete ftget in every new shell',
      command:
        '<%= config.bin %> <%= command.id %> bash > ~/.local/share/bash-completion/completions/ftget',
    },
    {
      description: 'zsh: load it from ~/.zshrc',
      command: "echo 'source <(ftget completion zsh)' >> ~/.zshrc",
    },
  ];

  static override args = {
    shell: Args.string({ description: 'bash or zsh', required: true, options: [...SHELLS] }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(Completion);
    const specs = commandSpecs(this.config).filter(
      (c) => c.id !== 'completion' && c.id !== 'manpage',
    );
    process.stdout.write(completionScript(args.shell as Shell, specs));
  }
}
