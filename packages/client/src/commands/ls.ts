import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import { FtgetCommand } from '../cli/base-command.js';
import { jsonFlag, seconds, serverFlags, toMs } from '../cli/shared-flags.js';
import { treeFlags } from '../cli/tree-flags.js';

export default class Ls extends FtgetCommand {
  static override summary = 'List a remote directory (the server root by default).';

  static override examples = [
    { description: 'List the server root', command: '<%= config.bin %> <%= command.id %>' },
    {
      description: 'Long listing of a directory',
      command: '<%= config.bin %> <%= command.id %> -l photos/2024',
    },
    {
      description: 'The whole tree as JSON',
      command: '<%= config.bin %> <%= command.id %> ft://[::1]:7070/ -R --json',
    },
  ];

  static override args = {
    remote: Args.string({
      description: 'directory on the server, or ft://host:port/path',
      required: false,
    }),
  };

  static override flags = {
    ...serverFlags,
    ...jsonFlag,
    long: Flags.boolean({
      char: 'l',
      description: 'show kind, size and modification time',
      default: false,
    }),
    recursive: Flags.boolean({ char: 'R', description: 'list subdirectories too', default: false }),
    ...treeFlags,
    timeout: seconds({
      description: 'connect timeout and longest silence, in seconds',
      default: 30,
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Ls);
    await this.setCredentials(flags.token);
    const tlsExit = (await import('../cli/tls-setup.js')).setupTls(flags);
    if (tlsExit !== undefined) this.exit(tlsExit);
    const { runLs } = await import('../cli/run-info.js');
    (await import('../cli/stdout-pipe.js')).watchStdout();
    const code = await runLs(args.remote ?? '', {
      ...flags,
      followLinks: flags['follow-links'],
      maxDepth: flags['max-depth'],
      timeout: toMs(flags.timeout),
    });
    if (code !== 0) this.exit(code);
  }
}
