/**
 * `ftget get`: plan the jobs, run download() for each, report. SIGINT/SIGTERM/SIGHUP abort
 * the download (the partial and its state are saved) and ftget then dies by that signal
 * (interrupts.ts). A reader closing stdout (`-o - | head`) ends it quietly (stdout-pipe.ts).
 */
import { mkdir } from 'node:fs/promises';
import { TokenBucket, parseRate, throttleOf } from '@ft/protocol';
import { download } from '../download.js';
import type { DownloadResult } from '../download-types.js';
import { ClientError, ClientErrorCode } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { list } from '../list.js';
import { usesTls } from '../tls-options.js';
import { formatServer, parsePort, resolveServer } from '../remote.js';
import type { Remote } from '../remote.js';
import { DownloadSession, PIPELINE_DEPTH } from '../session.js';
import { parseLinkedRemote } from '../signed-link.js';
import { GetReporter } from './get-reporter.js';
import { Interrupts } from './interrupts.js';
import { hideInternalNames, resolveOutput } from './output-target.js';
import { planDownloads } from './plan.js';
import type { ProgressMode } from './progress-bars.js';
import { reportError, reportNote, reportWarning } from './report.js';
import { dieOfClosedStdout, isClosedStdout } from './stdout-pipe.js';
import { TreeRun } from './tree-run.js';
import { InOrder, runAtMost } from './parallel.js';
import { TreeFilter } from './tree-filter.js';
import { checkExpectedChecksum } from './expected-checksum.js';
import { readListFile } from './list-file.js';
import { sourcesFrom } from './mirror-sources.js';
import type { FilterRule } from './tree-filter.js';

export interface GetFlags {
  output: string | undefined;
  /** --output-dir DIR. */
  outputDir?: string | undefined;
  /** -O/--remote-name. */
  remoteName?: boolean;
  /** --create-dirs. */
  createDirs?: boolean;
  resume: boolean;
  force: boolean;
  restart: boolean;
  /** --verify-partial: re-hash the partial's adopted bytes instead of trusting the state file. */
  verifyPartial?: boolean;
  recursive: boolean;
  /** -r: follow symlinks (each directory once) instead of recreating or skipping them. */
  followLinks?: boolean;
  /** -r: directory levels to descend. */
  maxDepth?: number | undefined;
  /** Give files (and with -r directories) the remote modification time (default true). */
  preserveMtime?: boolean;
  /** -r re-runs: compare contents, not sizes and times (--checksum). */
  checksum?: boolean;
  /** -r re-runs: replace files that changed remotely and not locally (--update). */
  update?: boolean;
  /** -r: delete local files that vanished remotely (--delete). */
  delete?: boolean;
  /** -r: --include/--exclude rules in command-line order (first match wins). */
  filters?: FilterRule[];
  /** --checksum sha256:HEX: the one file's expected SHA-256 (lower-case hex). */
  expectedSha256?: string | undefined;
  /** -i: a file of REMOTEs, one a line. */
  listFile?: string | undefined;
  /** --connections N: connections to each source of each file (default 1). */
  connections?: number;
  /** --mirror URL: other copies of the one FILE. */
  mirrors?: string[];
  /** --parallel N: files downloaded at once (default 1). */
  parallel?: number;
  /** --limit-rate RATE ("10M"): bytes per second for all downloads together. */
  limitRate?: string | undefined;
  host: string | undefined;
  port: string | undefined;
  /** Consecutive failures without progress before giving up (undefined: no count limit). */
  retries: number | undefined;
  retryMaxWaitMs: number;
  /** Longest outage retried through. */
  retryMaxTimeMs?: number;
  stallTimeoutMs: number;
  /** --udp: transfer over UDP. */
  udp?: boolean;
  quiet: boolean;
  json: boolean;
  progress?: ProgressMode | undefined;
  /** --verbose. */
  verbose?: boolean;
}

function resultJson(r: DownloadResult): string {
  const seconds = r.durationMs / 1000;
  return JSON.stringify({
    path: r.path,
    bytes: r.bytes,
    resumedFrom: r.resumedFrom,
    durationMs: Math.round(r.durationMs),
    throughputMBps:
      seconds > 0 ? Number(((r.bytes - r.resumedFrom) / 1e6 / seconds).toFixed(3)) : 0,
    digest: r.digest,
    attempts: r.attempts,
  });
}

/**
 * The command that continues one download: `ftget get -c ft://host:port/path -o OUTPUT`. For
 * a signed link, whose signature is never printed, it says `<the signed link>` instead.
 */
function continueCommand(remote: Remote, output: string): string {
  const path = remote.path.split('/').map(encodeURIComponent).join('/');
  const quoted = /^[\w./@:+-]+$/.test(output) ? output : `'${output.replace(/'/g, `'\\''`)}'`;
  const scheme = usesTls(remote) ? 'fts' : 'ft';
  const url = remote.signed ? '<the signed link>' : `${scheme}://${formatServer(remote)}/${path}`;
  return `ftget get -c ${url} -o ${quoted}`;
}

export async function runGet(remotes: string[], flags: GetFlags): Promise<ExitCode> {
  const rate = flags.limitRate === undefined ? undefined : parseRate(flags.limitRate);
  if (flags.limitRate !== undefined && rate === undefined) {
    return reportError(
      new ClientError(ClientErrorCode.USAGE, `--limit-rate "${flags.limitRate}" is not a rate`, {
        hint: 'give bytes per second such as 500k, 10M or 1G (powers of 1024)',
      }),
    );
  }
  let reporter: GetReporter | undefined;
  const interrupts = new Interrupts(() => reporter?.stop());
  let server = 'the server';
  let resumeHint = 'run the same command with -c to continue from where it stopped';
  // One connection per server for all REMOTEs (up to PIPELINE_DEPTH files pipelined on it),
  // one directory fsync per directory at the end.
  const session = new DownloadSession({
    pipeline: PIPELINE_DEPTH,
    connections: flags.parallel ?? 1,
    ...(rate === undefined ? {} : { throttle: throttleOf(new TokenBucket(rate)) }),
  });
  try {
    const defaults = resolveServer(
      { host: flags.host, port: flags.port === undefined ? undefined : parsePort(flags.port) },
      process.env,
    );
    server = formatServer(defaults);
    const all = [
      ...remotes,
      ...(flags.listFile === undefined ? [] : await readListFile(flags.listFile)),
    ];
    if (all.length === 0) {
      throw new ClientError(ClientErrorCode.USAGE, 'no REMOTE given', {
        hint: 'name a file on the server, or give -i FILE with one REMOTE a line',
      });
    }
    const { remotes: parsed, mirrors } = sourcesFrom(
      all.map((r) => parseLinkedRemote(r, flags, defaults)),
      flags,
      defaults,
    );
    const treeOnly: string[] = (['checksum', 'update', 'delete'] as const).filter(
      (f) => flags[f] === true,
    );
    if ((flags.filters ?? []).length > 0) treeOnly.push('include/--exclude');
    const filter = new TreeFilter(flags.filters ?? []);
    if (!flags.recursive && treeOnly.length > 0) {
      throw new ClientError(ClientErrorCode.USAGE, `--${treeOnly[0]} applies to -r only`, {
        hint: 'add -r to download a directory tree',
      });
    }
    const output = await resolveOutput(flags, parsed.length, flags.recursive);
    const onNotice = flags.quiet ? undefined : reportWarning;
    const tree = { followLinks: flags.followLinks === true, ...(onNotice ? { onNotice } : {}) };
    let listedBytes = 0;
    const plan = await planDownloads(
      parsed,
      output,
      flags.recursive,
      async (remote) => {
        server = formatServer(remote);
        const entries = await list({
          remote,
          recursive: true,
          signal: interrupts.signal,
          timeoutMs: flags.stallTimeoutMs,
          ...tree,
          ...(filter.empty ? {} : { filter: (p: string, d: boolean) => filter.includes(p, d) }),
          ...(flags.maxDepth === undefined ? {} : { maxDepth: flags.maxDepth }),
        });
        for (const e of entries) if (e.kind === 'file') listedBytes += e.size;
        return entries;
      },
      tree,
    );
    const expected = flags.expectedSha256;
    if (
      expected !== undefined &&
      (flags.recursive || plan.jobs.length !== 1 || flags.output === '-')
    ) {
      throw new ClientError(
        ClientErrorCode.USAGE,
        '--checksum sha256:HEX checks exactly one FILE downloaded to a file',
        { hint: 'give a single REMOTE, without -r and -o -' },
      );
    }
    for (const dir of plan.directories) await mkdir(dir, { recursive: true });
    reporter = new GetReporter({
      quiet: flags.quiet,
      json: flags.json,
      progress: flags.progress,
      verbose: flags.verbose === true,
      files: plan.jobs.length,
      totalBytes: flags.recursive && parsed.length === 1 ? listedBytes : undefined,
      labelBase: output !== undefined && (plan.jobs.length > 1 || flags.recursive) ? output : '.',
      toStdout: plan.jobs.every((j) => j.output === '-'),
    });
    const report = reporter;
    if (plan.jobs.length === 1 && plan.jobs[0]!.output !== '-')
      resumeHint = `"${continueCommand(plan.jobs[0]!.remote, plan.jobs[0]!.output)}" continues from where it stopped`;
    const trees = await TreeRun.start(
      plan,
      {
        checksum: flags.checksum === true,
        update: flags.update === true,
        force: flags.force,
        delete: flags.delete === true,
        preserveMtime: flags.preserveMtime !== false,
        stallTimeoutMs: flags.stallTimeoutMs,
        transport: flags.udp === true ? 'udp' : undefined,
        filter,
      },
      session,
      interrupts.signal,
    );
    let exitCode: ExitCode = ExitCode.OK;
    let interrupted = false;
    const inOrder = new InOrder();
    // One job; false stops the run (interrupted). Several run at once (pipelined, --parallel);
    // what each prints waits for the jobs before it (InOrder).
    const runJob = async (
      job: (typeof plan.jobs)[number],
      index: number,
      leave: () => void,
    ): Promise<boolean> => {
      const jobServer = formatServer(job.remote);
      server = jobServer;
      report.startFile(job.output);
      let reportIt = (): void => {};
      try {
        const decision = await trees?.decide(job);
        if (decision?.kind === 'up-to-date') {
          const line = `${JSON.stringify({ path: job.output, bytes: decision.bytes, upToDate: true })}\n`;
          if (flags.json) reportIt = () => process.stdout.write(line);
          return true;
        }
        if (decision?.kind === 'conflict') throw decision.error;
        const result = await download({
          remote: job.remote,
          output: job.output,
          resume: flags.resume,
          force: flags.force || decision?.replace === true,
          noRestart: !flags.restart,
          ...(flags.verifyPartial === true ? { verifyPartial: true } : {}),
          signal: interrupts.signal,
          ...(flags.retries === undefined ? {} : { retries: flags.retries }),
          retryMaxWaitMs: flags.retryMaxWaitMs,
          ...(flags.retryMaxTimeMs === undefined ? {} : { retryMaxTimeMs: flags.retryMaxTimeMs }),
          stallTimeoutMs: flags.stallTimeoutMs,
          session,
          preserveMtime: flags.preserveMtime !== false,
          ...(expected === undefined
            ? {}
            : {
                beforeCommit: (part: string) =>
                  checkExpectedChecksum(part, expected, job.output, interrupts.signal),
              }),
          ...(flags.udp === true ? { transport: 'udp' as const } : {}),
          ...(mirrors.length > 0 ? { mirrors } : {}),
          ...((flags.connections ?? 1) > 1 ? { connections: flags.connections } : {}),
          onProgress: report.onProgress,
          onRetry: (notice) => report.retried(job.output, notice),
          onWarning: report.onWarning,
          smallFile: plan.jobs.length > 1,
          onWritten: leave,
        });
        if (expected !== undefined && result.alreadyComplete)
          await checkExpectedChecksum(result.path, expected, result.path, interrupts.signal);
        await trees?.written(job, result);
        reportIt = () => {
          report.fileDone(result);
          if (flags.json) process.stdout.write(`${resultJson(result)}\n`);
        };
      } catch (error) {
        report.fileFailed(job.output);
        if (interrupts.received !== undefined) {
          interrupted = true;
          return false;
        }
        if (job.output === '-' && isClosedStdout(error)) dieOfClosedStdout(() => report.stop());
        reportIt = () => {
          const code = reportError(hideInternalNames(error, job.output), {
            server: jobServer,
            ...(job.output === '-'
              ? {}
              : { continueWith: continueCommand(job.remote, job.output) }),
          });
          if (exitCode === ExitCode.OK) exitCode = code;
        };
      } finally {
        inOrder.done(index, reportIt);
      }
      return true;
    };
    // --parallel N connections, each with up to PIPELINE_DEPTH files in flight on it.
    const inFlight = (flags.parallel ?? 1) * session.depthFor(flags.udp === true ? 'udp' : 'tcp');
    await runAtMost(plan.jobs, inFlight, runJob);
    inOrder.flush();
    if (interrupted) return ExitCode.INTERRUPTED;
    await trees?.finish(onNotice);
    if (trees !== undefined && trees.upToDate > 0 && !flags.quiet && !flags.json)
      reportNote(`${trees.upToDate} file${trees.upToDate === 1 ? '' : 's'} up to date`);
    if (plan.jobs.length === 0 && plan.links.length === 0 && !flags.quiet)
      reportWarning('nothing to download');
    await session.close();
    return exitCode;
  } catch (error) {
    // Interrupted while planning: the one line is printed when ftget dies by the signal.
    if (interrupts.received !== undefined) return ExitCode.INTERRUPTED;
    return reportError(error, { server });
  } finally {
    // After an interrupt or an error: still make the finished files' renames durable.
    await session.close().catch(() => {});
    reporter?.stop();
    interrupts.dieIfInterrupted(resumeHint);
  }
}
