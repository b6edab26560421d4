import { Args, Command, Flags } from '@oclif/core';
import { EXIT_CODE_MEANINGS } from '../exit-codes.js';
import { seconds, serverFlags, toMs } from '../cli/shared-flags.js';

const exitCodeHelp = Object.entries(EXIT_CODE_MEANINGS)
  .map(([code, meaning]) => `  ${code.padStart(3)}  ${meaning}`)
  .join('\n');

export default class Get extends Command {
  static override summary = 'Download files, resumably and verified.';

  static override description = `Data goes to OUTPUT.part (with its state in OUTPUT.part.json); OUTPUT only ever appears complete and verified against the server's SHA-256 chunk digests, by an atomic rename.

Failed connections, stalls and BUSY answers are retried with exponential backoff and jitter, resuming where the data stopped. --retries counts consecutive failed attempts WITHOUT progress: an attempt that moved the download forward resets the count, so a link that drops every few megabytes still finishes while a dead server is given up on after --retries attempts.

Exit codes:
${exitCodeHelp}`;

  static override examples = [
    {
      description: 'Download a file from the server on localhost:7070',
      command: '<%= config.bin %> <%= command.id %> docs/report.pdf',
    },
    {
      description: 'Continue an interrupted download',
      command: '<%= config.bin %> <%= command.id %> -c big.iso',
    },
    {
      description: 'Name the server in the REMOTE (IPv6 in brackets)',
      command: '<%= config.bin %> <%= command.id %> ft://[::1]:7070/big.iso -o /tmp/big.iso',
    },
    {
      description: 'Download a directory tree into ./photos',
      command: '<%= config.bin %> <%= command.id %> -r photos',
    },
    {
      description: 'Stream to stdout (verified chunk by chunk)',
      command: '<%= config.bin %> <%= command.id %> logs/today.txt -o - | grep ERROR',
    },
    {
      description: 'Machine-readable results, no progress',
      command: '<%= config.bin %> <%= command.id %> a.bin b.bin -o downloads --json',
    },
  ];

  static override strict = false;

  static override args = {
    remote: Args.string({
      description:
        'file on the server: a path (docs/a.txt) or ft://host:port/path; several may be given',
      required: true,
    }),
  };

  static override flags = {
    output: Flags.string({
      char: 'o',
      description: 'output file ("-" for stdout); a directory with several REMOTEs or -r',
      helpValue: 'OUTPUT',
    }),
    resume: Flags.boolean({
      char: 'c',
      description: 'continue a partial download (and accept an existing complete output)',
      default: false,
    }),
    force: Flags.boolean({
      description: 'discard any partial download and replace the output',
      default: false,
      exclusive: ['resume'],
    }),
    restart: Flags.boolean({
      description:
        'when the remote file changed since the partial was started, start over from 0 (--no-restart: stop with exit code 5)',
      default: true,
      allowNo: true,
    }),
    'verify-partial': Flags.boolean({
      description:
        'with --resume, re-hash from disk the bytes the partial already holds, beside fetching the rest, and fetch again chunks that differ (--no-verify-partial: trust the state file for them)',
      default: true,
      allowNo: true,
    }),
    recursive: Flags.boolean({
      char: 'r',
      description: 'download directory trees',
      default: false,
    }),
    ...serverFlags,
    retries: Flags.integer({
      description: 'consecutive failed attempts without progress before giving up',
      default: 5,
      min: 0,
      max: 1000,
    }),
    'retry-max-wait': seconds({ description: 'cap on one backoff delay, in seconds', default: 30 }),
    'stall-timeout': seconds({
      description: 'give up on a connection that sends nothing for this many seconds (then retry)',
      default: 30,
    }),
    udp: Flags.boolean({
      description: "transfer over UDP (to the server's port; same resume state as TCP)",
      default: false,
    }),
    quiet: Flags.boolean({ char: 'q', description: 'print only errors', default: false }),
    json: Flags.boolean({
      description:
        'print one JSON object per file on stdout: path, bytes, resumedFrom, durationMs, throughputMBps, digest, attempts',
      default: false,
    }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Get);
    const { runGet } = await import('../cli/run-get.js');
    const code = await runGet(argv as string[], {
      output: flags.output,
      resume: flags.resume,
      force: flags.force,
      restart: flags.restart,
      verifyPartial: flags['verify-partial'],
      recursive: flags.recursive,
      host: flags.host,
      port: flags.port,
      retries: flags.retries,
      retryMaxWaitMs: toMs(flags['retry-max-wait']),
      stallTimeoutMs: toMs(flags['stall-timeout']),
      quiet: flags.quiet,
      udp: flags.udp,
      json: flags.json,
    });
    if (code !== 0) this.exit(code);
  }
}
