/**
 * `ftget get`: plan the jobs, run download() for each, report. SIGINT/SIGTERM/SIGHUP abort
 * the download (the partial and its state are saved) and ftget then dies by that signal
 * (interrupts.ts). A reader closing stdout (`-o - | head`) ends it quietly (stdout-pipe.ts).
 */
import { mkdir } from 'node:fs/promises';
import { download } from '../download.js';
import type { DownloadResult } from '../download-types.js';
import { ClientError, ClientErrorCode } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { list } from '../list.js';
import {
  checkServerConflict,
  formatServer,
  parsePort,
  parseRemote,
  resolveServer,
} from '../remote.js';
import type { Remote } from '../remote.js';
import { DownloadSession } from '../session.js';
import { GetReporter } from './get-reporter.js';
import { Interrupts } from './interrupts.js';
import { hideInternalNames, resolveOutput } from './output-target.js';
import { planDownloads } from './plan.js';
import type { ProgressMode } from './progress-bars.js';
import { reportError, reportNote, reportWarning } from './report.js';
import { dieOfClosedStdout, isClosedStdout } from './stdout-pipe.js';
import { TreeRun } from './tree-run.js';
import { TreeFilter } from './tree-filter.js';
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
  /** --no-verify-partial: trust the state file for the partial's adopted bytes. */
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

/** The command that continues one download: `ftget get -c ft://host:port/path -o OUTPUT`. */
function continueCommand(remote: Remote, output: string): string {
  const path = remote.path.split('/').map(encodeURIComponent).join('/');
  const quoted = /^[\w./@:+-]+$/.test(output) ? output : `'${output.replace(/'/g, `'\\''`)}'`;
  return `ftget get -c ft://${formatServer(remote)}/${path} -o ${quoted}`;
}

export async function runGet(remotes: string[], flags: GetFlags): Promise<ExitCode> {
  let reporter: GetReporter | undefined;
  const interrupts = new Interrupts(() => reporter?.stop());
  let server = 'the server';
  let resumeHint = 'run the same command with -c to continue from where it stopped';
  // One connection per server for all REMOTEs, one directory fsync per directory at the end.
  const session = new DownloadSession();
  try {
    const defaults = resolveServer(
      { host: flags.host, port: flags.port === undefined ? undefined : parsePort(flags.port) },
      process.env,
    );
    server = formatServer(defaults);
    const parsed = remotes.map((r) => {
      checkServerConflict(r, flags);
      return parseRemote(r, defaults);
    });
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
    for (const job of plan.jobs) {
      server = formatServer(job.remote);
      reporter.startFile(job.output);
      try {
        const decision = await trees?.decide(job);
        if (decision?.kind === 'up-to-date') {
          if (flags.json) {
            process.stdout.write(
              `${JSON.stringify({ path: job.output, bytes: decision.bytes, upToDate: true })}\n`,
            );
          }
          continue;
        }
        if (decision?.kind === 'conflict') throw decision.error;
        const result = await download({
          remote: job.remote,
          output: job.output,
          resume: flags.resume,
          force: flags.force || decision?.replace === true,
          noRestart: !flags.restart,
          ...(flags.verifyPartial === false ? { verifyPartial: false } : {}),
          signal: interrupts.signal,
          ...(flags.retries === undefined ? {} : { retries: flags.retries }),
          retryMaxWaitMs: flags.retryMaxWaitMs,
          ...(flags.retryMaxTimeMs === undefined ? {} : { retryMaxTimeMs: flags.retryMaxTimeMs }),
          stallTimeoutMs: flags.stallTimeoutMs,
          session,
          preserveMtime: flags.preserveMtime !== false,
          ...(flags.udp === true ? { transport: 'udp' as const } : {}),
          onProgress: reporter.onProgress,
          onRetry: reporter.onRetry,
          onWarning: reporter.onWarning,
        });
        reporter.fileDone(result);
        await trees?.written(job, result);
        if (flags.json) process.stdout.write(`${resultJson(result)}\n`);
      } catch (error) {
        reporter.fileFailed();
        if (interrupts.received !== undefined) break;
        if (job.output === '-' && isClosedStdout(error)) dieOfClosedStdout(() => reporter?.stop());
        const code = reportError(hideInternalNames(error, job.output), {
          server,
          ...(job.output === '-' ? {} : { continueWith: continueCommand(job.remote, job.output) }),
        });
        if (exitCode === ExitCode.OK) exitCode = code;
      }
    }
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
