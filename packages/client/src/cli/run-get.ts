/**
 * `ftget get`: plan the jobs, run download() for each, report. Handles SIGINT/SIGTERM by
 * aborting (the partial and its state are flushed; exit 130); a second signal exits at once.
 */
import { mkdir } from 'node:fs/promises';
import { download } from '../download.js';
import type { DownloadProgress, DownloadResult } from '../download-types.js';
import { ClientError, ClientErrorCode } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { list } from '../list.js';
import { formatServer, parsePort, parseRemote, resolveServer } from '../remote.js';
import { DownloadSession } from '../session.js';
import { planDownloads } from './plan.js';
import { humanBytes, reportError, reportWarning } from './report.js';

export interface GetFlags {
  output: string | undefined;
  resume: boolean;
  force: boolean;
  restart: boolean;
  /** --no-verify-partial: trust the state file for the partial's adopted bytes. */
  verifyPartial?: boolean;
  recursive: boolean;
  host: string | undefined;
  port: string | undefined;
  retries: number;
  retryMaxWaitMs: number;
  stallTimeoutMs: number;
  /** --udp: transfer over UDP. */
  udp?: boolean;
  quiet: boolean;
  json: boolean;
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

export async function runGet(remotes: string[], flags: GetFlags): Promise<ExitCode> {
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (): void => {
    if (++signals > 1) process.exit(ExitCode.INTERRUPTED);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let server = 'the server';
  let bars: import('./progress-bars.js').ProgressBars | undefined;
  // One connection per server for all REMOTEs, one directory fsync per directory at the end.
  const session = new DownloadSession();
  try {
    const defaults = resolveServer(
      { host: flags.host, port: flags.port === undefined ? undefined : parsePort(flags.port) },
      process.env,
    );
    server = formatServer(defaults);
    const parsed = remotes.map((r) => parseRemote(r, defaults));
    const plan = await planDownloads(parsed, flags.output, flags.recursive, (remote) => {
      server = formatServer(remote);
      return list({
        remote,
        recursive: true,
        signal: controller.signal,
        timeoutMs: flags.stallTimeoutMs,
      });
    });
    for (const dir of plan.directories) await mkdir(dir, { recursive: true });
    const quiet = flags.quiet || flags.json;
    if (!quiet && process.stderr.isTTY && !plan.jobs.every((j) => j.output === '-')) {
      const { ProgressBars } = await import('./progress-bars.js');
      bars = new ProgressBars();
    }
    let exitCode: ExitCode = ExitCode.OK;
    for (const job of plan.jobs) {
      server = formatServer(job.remote);
      try {
        const result = await download({
          remote: job.remote,
          output: job.output,
          resume: flags.resume,
          force: flags.force,
          noRestart: !flags.restart,
          ...(flags.verifyPartial === false ? { verifyPartial: false } : {}),
          signal: controller.signal,
          retries: flags.retries,
          retryMaxWaitMs: flags.retryMaxWaitMs,
          stallTimeoutMs: flags.stallTimeoutMs,
          session,
          ...(flags.udp === true ? { transport: 'udp' as const } : {}),
          ...(bars === undefined ? {} : { onProgress: (p: DownloadProgress) => bars!.update(p) }),
          ...(flags.quiet ? {} : { onWarning: reportWarning }),
        });
        if (flags.json) process.stdout.write(`${resultJson(result)}\n`);
        else if (
          !flags.quiet &&
          result.path !== '-' &&
          (bars === undefined || result.alreadyComplete)
        ) {
          const what = result.alreadyComplete
            ? 'already complete'
            : `${humanBytes(result.bytes)} in ${(result.durationMs / 1000).toFixed(1)} s`;
          process.stderr.write(`ftget: ${result.path}: ${what}\n`);
        }
      } catch (error) {
        const code = reportError(error, { server });
        if (code === ExitCode.INTERRUPTED) return code;
        if (exitCode === ExitCode.OK) exitCode = code;
      }
    }
    if (plan.jobs.length === 0 && !flags.quiet) reportWarning('nothing to download');
    await session.close();
    return exitCode;
  } catch (error) {
    if (controller.signal.aborted)
      return reportError(new ClientError(ClientErrorCode.ABORTED, 'interrupted'));
    return reportError(error, { server });
  } finally {
    // After an interrupt or an error: still make the finished files' renames durable.
    await session.close().catch(() => {});
    bars?.stop();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
