/**
 * `ftget get`: plan the jobs, run download() for each, report. Handles SIGINT/SIGTERM by
 * aborting (the partial and its state are flushed; exit 130); a second signal exits at once.
 */
import { mkdir } from 'node:fs/promises';
import { TokenBucket, parseRate, throttleOf } from '@ft/protocol';
import { download } from '../download.js';
import type { DownloadProgress, DownloadResult } from '../download-types.js';
import { ClientError, ClientErrorCode } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { list } from '../list.js';
import { formatServer, parsePort, parseRemote, resolveServer } from '../remote.js';
import { DownloadSession } from '../session.js';
import { planDownloads } from './plan.js';
import { TreeRun } from './tree-run.js';
import { runAtMost } from './parallel.js';
import { TreeFilter } from './tree-filter.js';
import { checkExpectedChecksum } from './expected-checksum.js';
import { readListFile } from './list-file.js';
import type { FilterRule } from './tree-filter.js';
import { humanBytes, reportError, reportWarning } from './report.js';

export interface GetFlags {
  output: string | undefined;
  resume: boolean;
  force: boolean;
  restart: boolean;
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
  /** --parallel N: files downloaded at once (default 1). */
  parallel?: number;
  /** --limit-rate RATE ("10M"): bytes per second for all downloads together. */
  limitRate?: string | undefined;
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
  const rate = flags.limitRate === undefined ? undefined : parseRate(flags.limitRate);
  if (flags.limitRate !== undefined && rate === undefined) {
    return reportError(
      new ClientError(ClientErrorCode.USAGE, `--limit-rate "${flags.limitRate}" is not a rate`, {
        hint: 'give bytes per second such as 500k, 10M or 1G (powers of 1024)',
      }),
    );
  }
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
  const session = new DownloadSession(
    rate === undefined ? {} : { throttle: throttleOf(new TokenBucket(rate)) },
  );
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
    const parsed = all.map((r) => parseRemote(r, defaults));
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
    const onNotice = flags.quiet ? undefined : reportWarning;
    const tree = { followLinks: flags.followLinks === true, ...(onNotice ? { onNotice } : {}) };
    const plan = await planDownloads(
      parsed,
      flags.output,
      flags.recursive,
      (remote) => {
        server = formatServer(remote);
        return list({
          remote,
          recursive: true,
          signal: controller.signal,
          timeoutMs: flags.stallTimeoutMs,
          ...tree,
          ...(filter.empty ? {} : { filter: (p: string, d: boolean) => filter.includes(p, d) }),
          ...(flags.maxDepth === undefined ? {} : { maxDepth: flags.maxDepth }),
        });
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
    const quiet = flags.quiet || flags.json;
    if (!quiet && process.stderr.isTTY && !plan.jobs.every((j) => j.output === '-')) {
      const { ProgressBars } = await import('./progress-bars.js');
      bars = new ProgressBars();
    }
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
      controller.signal,
    );
    let exitCode: ExitCode = ExitCode.OK;
    let interrupted = false;
    // One job; false stops the run (interrupted). With --parallel several run at once.
    const runJob = async (job: (typeof plan.jobs)[number]): Promise<boolean> => {
      const jobServer = formatServer(job.remote);
      server = jobServer;
      try {
        const decision = await trees?.decide(job);
        if (decision?.kind === 'up-to-date') {
          if (flags.json) {
            process.stdout.write(
              `${JSON.stringify({ path: job.output, bytes: decision.bytes, upToDate: true })}\n`,
            );
          }
          return true;
        }
        if (decision?.kind === 'conflict') throw decision.error;
        const result = await download({
          remote: job.remote,
          output: job.output,
          resume: flags.resume,
          force: flags.force || decision?.replace === true,
          noRestart: !flags.restart,
          signal: controller.signal,
          retries: flags.retries,
          retryMaxWaitMs: flags.retryMaxWaitMs,
          stallTimeoutMs: flags.stallTimeoutMs,
          session,
          preserveMtime: flags.preserveMtime !== false,
          ...(expected === undefined
            ? {}
            : {
                beforeCommit: (part: string) =>
                  checkExpectedChecksum(part, expected, job.output, controller.signal),
              }),
          ...(flags.udp === true ? { transport: 'udp' as const } : {}),
          ...(bars === undefined ? {} : { onProgress: (p: DownloadProgress) => bars!.update(p) }),
          ...(flags.quiet ? {} : { onWarning: reportWarning }),
        });
        if (expected !== undefined && result.alreadyComplete)
          await checkExpectedChecksum(result.path, expected, result.path, controller.signal);
        await trees?.written(job, result);
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
        const code = reportError(error, { server: jobServer });
        if (code === ExitCode.INTERRUPTED) {
          interrupted = true;
          return false;
        }
        if (exitCode === ExitCode.OK) exitCode = code;
      }
      return true;
    };
    await runAtMost(plan.jobs, flags.parallel ?? 1, runJob);
    if (interrupted) return ExitCode.INTERRUPTED;
    await trees?.finish(onNotice);
    if (trees !== undefined && trees.upToDate > 0 && !quiet)
      process.stderr.write(
        `ftget: ${trees.upToDate} file${trees.upToDate === 1 ? '' : 's'} up to date\n`,
      );
    if (plan.jobs.length === 0 && plan.links.length === 0 && !flags.quiet)
      reportWarning('nothing to download');
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
