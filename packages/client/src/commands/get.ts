import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import type { Interfaces } from '@oclif/core';
import { FtgetCommand } from '../cli/base-command.js';
import { EXIT_CODE_MEANINGS } from '../exit-codes.js';
import type { ProgressMode } from '../cli/progress-bars.js';
import { seconds, serverFlags, toMs } from '../cli/shared-flags.js';
import { treeFlags } from '../cli/tree-flags.js';
import { filterRulesFrom } from '../cli/tree-filter.js';

const exitCodeHelp = Object.entries(EXIT_CODE_MEANINGS)
  .map(([code, meaning]) => `  ${code.padStart(3)}  ${meaning}`)
  .join('\n');

export default class Get extends FtgetCommand {
  static override summary = 'Download files, resumably and verified.';

  static override description = `Data goes to OUTPUT.part (with its state in OUTPUT.part.json); OUTPUT only ever appears complete and verified against the server's SHA-256 chunk digests, by an atomic rename.

Failed connections, stalls and BUSY answers are retried with exponential backoff and jitter, resuming where the data stopped. The retry budget is spent only WITHOUT progress: an outage is retried through for --retry-max-time seconds (default 120), and, with --retries N, for at most N consecutive failed attempts; an attempt that moved the download forward starts the budget over, so a link that drops every few megabytes still finishes. Each retry prints "retrying in 4 s (attempt 3): connection refused".

Ctrl-C (SIGINT), SIGTERM and SIGHUP save the partial and its state, release the lock, print one line and end ftget by that same signal, so that shell loops and make stop too.

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
      description: 'Fetch one file over 4 connections, from two servers at once',
      command:
        '<%= config.bin %> <%= command.id %> ft://a:7070/big.iso --mirror ft://b:7070/pub/big.iso --connections 4',
    },
    {
      description: 'Machine-readable results, no progress',
      command: '<%= config.bin %> <%= command.id %> a.bin b.bin -o downloads/ --json',
    },
  ];

  static override strict = false;

  static override args = {
    remote: Args.string({
      description:
        'file on the server: a path (docs/a.txt) or ft://host:port/path; several may be given (or none with -i)',
      required: false,
    }),
  };

  static override flags = {
    output: Flags.string({
      char: 'o',
      description:
        'output file ("-" for stdout); "DIR/" or an existing directory: into it (needed with several REMOTEs)',
      helpValue: 'OUTPUT',
    }),
    'output-dir': Flags.string({
      description: 'put the files in DIR (created if its parent exists); -o is then relative to it',
      helpValue: 'DIR',
    }),
    'remote-name': Flags.boolean({
      char: 'O',
      description: 'name the output after the remote file (the default without -o)',
      default: false,
      exclusive: ['output'],
    }),
    'create-dirs': Flags.boolean({
      description: "create the output's missing parent directories",
      default: false,
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
        'with --resume, re-hash from disk the bytes a partial with a state file already holds, beside fetching the rest, and fetch again chunks that differ (default: trust the state file while the partial is exactly as it recorded)',
      default: false,
      allowNo: true,
    }),
    recursive: Flags.boolean({
      char: 'r',
      description: 'download directory trees',
      default: false,
    }),
    checksum: Flags.boolean({
      description:
        '-r re-runs: decide whether an existing file is up to date by its SHA-256 digests, not by size, mtime and validator. --checksum sha256:HEX (one FILE): the download must have this SHA-256 (else exit 6, and OUTPUT is not created)',
      default: false,
    }),
    'list-file': Flags.string({
      char: 'i',
      description:
        'read REMOTEs from FILE, one a line (blank lines and #comments skipped; - is stdin)',
      helpValue: 'FILE',
    }),
    update: Flags.boolean({
      char: 'u',
      description:
        '-r re-runs: replace files that changed on the server (not those modified locally since ftget wrote them: --force)',
      default: false,
    }),
    delete: Flags.boolean({
      description:
        '-r: delete local files and directories inside OUTPUT that no longer exist on the server',
      default: false,
    }),
    include: Flags.string({
      description:
        '-r: include entries matching GLOB (rules apply in command-line order, the first match wins; see README)',
      multiple: true,
      // One value per flag: a REMOTE after --include GLOB must stay a REMOTE.
      multipleNonGreedy: true,
      helpValue: 'GLOB',
    }),
    exclude: Flags.string({
      description: '-r: exclude entries matching GLOB (an excluded directory is not descended)',
      multiple: true,
      // One value per flag: a REMOTE after --include GLOB must stay a REMOTE.
      multipleNonGreedy: true,
      helpValue: 'GLOB',
    }),
    'preserve-mtime': Flags.boolean({
      description:
        'give files (and with -r directories) the remote modification time (--no-preserve-mtime: the time of download)',
      default: true,
      allowNo: true,
    }),
    ...treeFlags,
    ...serverFlags,
    retries: Flags.integer({
      description:
        'give up after this many consecutive failed attempts without progress [default: no count limit]',
      helpValue: 'N',
      min: 0,
      max: 1000,
    }),
    'retry-max-time': seconds({
      description: 'give up on an outage (no progress) after this many seconds',
      default: 120,
    }),
    'retry-max-wait': seconds({ description: 'cap on one backoff delay, in seconds', default: 30 }),
    'stall-timeout': seconds({
      description: 'give up on a connection that sends nothing for this many seconds (then retry)',
      default: 30,
    }),
    parallel: Flags.integer({
      description:
        'download up to N files at once (-r and several REMOTEs), over up to N shared connections',
      default: 1,
      min: 1,
      max: 64,
      helpValue: 'N',
    }),
    connections: Flags.integer({
      description:
        'fetch each file over N connections to each of its sources at once, each fetching other chunks (not with -o - or --udp)',
      default: 1,
      min: 1,
      max: 16,
      helpValue: 'N',
    }),
    mirror: Flags.string({
      description:
        'another copy of the one FILE (repeatable): chunks come from every source at once; a copy that differs is dropped with a warning',
      multiple: true,
      // One value per flag: a REMOTE after --mirror URL must stay a REMOTE.
      multipleNonGreedy: true,
      helpValue: 'URL',
    }),
    'limit-rate': Flags.string({
      description:
        'download at most RATE bytes per second, all files together (k, M, G: powers of 1024), e.g. 10M',
      helpValue: 'RATE',
    }),
    udp: Flags.boolean({
      description:
        "transfer over UDP (to the server's port; same resume state as TCP); encrypted with fts:// or --tls",
      default: false,
    }),
    quiet: Flags.boolean({ char: 'q', description: 'print only errors', default: false }),
    verbose: Flags.boolean({
      char: 'v',
      description: 'also print connections, addresses tried, resume decisions and digests verified',
      default: false,
      exclusive: ['quiet'],
    }),
    progress: Flags.string({
      description: 'progress display on stderr [default: bar on a terminal, else none]',
      options: ['bar', 'line', 'none'],
    }),
    json: Flags.boolean({
      description:
        'print one JSON object per file on stdout: path, bytes, resumedFrom, durationMs, throughputMBps, digest, attempts (not with -o -)',
      default: false,
    }),
  };

  async run(): Promise<void> {
    const { extractExpectedChecksum } = await import('../cli/expected-checksum.js');
    let raw: ReturnType<typeof extractExpectedChecksum>;
    try {
      raw = extractExpectedChecksum(this.argv);
    } catch (error) {
      const { reportError } = await import('../cli/report.js');
      this.exit(reportError(error));
    }
    const { argv, flags } = await this.parse(Get, raw.argv);
    const code = await runParsedGet(argv as string[], flags, raw, (message) =>
      this.usageError(message),
    );
    if (code !== 0) this.exit(code);
  }
}

/** The flags of `ftget get` as oclif parses them. */
export type ParsedGetFlags = Interfaces.InferredFlags<typeof Get.flags>;

/**
 * Everything `ftget get` does once its command line is parsed: TLS, credentials, the
 * download. Shared by Get.run and the lean path (cli/lean-get.ts, which parses with the same
 * oclif parser and these same flag definitions), so the two cannot drift. Returns the exit
 * code; `usageError` ends the run with exit 2.
 */
export async function runParsedGet(
  argv: string[],
  flags: ParsedGetFlags,
  raw: { argv: string[]; expected: string | undefined },
  usageError: (message: string) => never,
): Promise<number> {
  const tlsExit = (await import('../cli/tls-setup.js')).setupTls(flags);
  if (tlsExit !== undefined) return tlsExit;
  // REMOTE is optional only for -i, which supplies the REMOTEs.
  if (argv.length === 0 && flags['list-file'] === undefined) usageError('missing REMOTE');
  // As FtgetCommand.setCredentials: an unsafe or malformed tokens file ends the run.
  try {
    (await import('../credentials.js')).configureCredentials(flags.token);
  } catch (error) {
    return (await import('../cli/report.js')).reportError(error);
  }
  const { runGet } = await import('../cli/run-get.js');
  (await import('../cli/stdout-pipe.js')).watchStdout();
  return runGet(argv, {
    expectedSha256: raw.expected,
    listFile: flags['list-file'],
    limitRate: flags['limit-rate'],
    parallel: flags.parallel,
    connections: flags.connections,
    mirrors: flags.mirror ?? [],
    output: flags.output,
    outputDir: flags['output-dir'],
    remoteName: flags['remote-name'],
    createDirs: flags['create-dirs'],
    resume: flags.resume,
    force: flags.force,
    restart: flags.restart,
    verifyPartial: flags['verify-partial'],
    recursive: flags.recursive,
    followLinks: flags['follow-links'],
    maxDepth: flags['max-depth'],
    preserveMtime: flags['preserve-mtime'],
    checksum: flags.checksum,
    update: flags.update,
    delete: flags.delete,
    filters: filterRulesFrom(raw.argv),
    host: flags.host,
    port: flags.port,
    retries: flags.retries,
    retryMaxWaitMs: toMs(flags['retry-max-wait']),
    retryMaxTimeMs: toMs(flags['retry-max-time']),
    stallTimeoutMs: toMs(flags['stall-timeout']),
    quiet: flags.quiet,
    udp: flags.udp,
    json: flags.json,
    progress: flags.progress as ProgressMode | undefined,
    verbose: flags.verbose,
  });
}
