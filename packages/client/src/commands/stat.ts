import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import { FtgetCommand } from '../cli/base-command.js';
import { jsonFlag, seconds, serverFlags, toMs } from '../cli/shared-flags.js';

export default class Stat extends FtgetCommand {
  static override summary = 'Show size, modification time, validator and digest of a remote path.';

  static override examples = [
    {
      description: 'Metadata of a file on localhost:7070',
      command: '<%= config.bin %> <%= command.id %> docs/report.pdf',
    },
    {
      description: 'As JSON, from another server',
      command: '<%= config.bin %> <%= command.id %> ft://10.0.0.5:7070/big.iso --json',
    },
  ];

  static override args = {
    remote: Args.string({
      description: 'path on the server, or ft://host:port/path',
      required: true,
    }),
  };

  static override flags = {
    ...serverFlags,
    ...jsonFlag,
    udp: Flags.boolean({ description: 'ask over UDP instead of TCP', default: false }),
    timeout: seconds({
      description: 'connect timeout and longest silence, in seconds',
      default: 30,
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Stat);
    await this.setCredentials(flags.token);
    const tlsExit = (await import('../cli/tls-setup.js')).setupTls(flags);
    if (tlsExit !== undefined) this.exit(tlsExit);
    const { runStat } = await import('../cli/run-info.js');
    (await import('../cli/stdout-pipe.js')).watchStdout();
    const code = await runStat(args.remote, { ...flags, timeout: toMs(flags.timeout) });
    if (code !== 0) this.exit(code);
  }
}
