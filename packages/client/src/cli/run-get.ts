/**
 * `ftget get`: plan the jobs, run download() for each, report. SIGINT/SIGTERM/SIGHUP abort
 * the download (the partial and its state are saved) and ftget then dies by that signal
 * (interrupts.ts). A reader closing stdout (`-o - | head`) ends it quietly (stdout-pipe.ts).
 */
import { mkdir } from 'node:fs/promises';
import { download } from '../download.js';
import type { DownloadResult } from '../download-types.js';
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
import { reportError, reportWarning } from './report.js';
import { dieOfClosedStdout, isClosedStdout } from './stdout-pipe.js';

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
  recursive: boolean;
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
    const output = await resolveOutput(flags, parsed.length, flags.recursive);
    let listedBytes = 0;
    const plan = await planDownloads(parsed, output, flags.recursive, async (remote) => {
      server = formatServer(remote);
      const entries = await list({
        remote,
        recursive: true,
        signal: interrupts.signal,
        timeoutMs: flags.stallTimeoutMs,
      });
      for (const e of entries) if (e.kind === 'file') listedBytes += e.size;
      return entries;
    });
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
    let exitCode: ExitCode = ExitCode.OK;
    for (const job of plan.jobs) {
      server = formatServer(job.remote);
      reporter.startFile(job.output);
      try {
        const result = await download({
          remote: job.remote,
          output: job.output,
          resume: flags.resume,
          force: flags.force,
          noRestart: !flags.restart,
          signal: interrupts.signal,
          ...(flags.retries === undefined ? {} : { retries: flags.retries }),
          retryMaxWaitMs: flags.retryMaxWaitMs,
          ...(flags.retryMaxTimeMs === undefined ? {} : { retryMaxTimeMs: flags.retryMaxTimeMs }),
          stallTimeoutMs: flags.stallTimeoutMs,
          session,
          ...(flags.udp === true ? { transport: 'udp' as const } : {}),
          onProgress: reporter.onProgress,
          onRetry: reporter.onRetry,
          onWarning: reporter.onWarning,
        });
        reporter.fileDone(result);
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
    if (plan.jobs.length === 0 && !flags.quiet) reportWarning('nothing to download');
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
