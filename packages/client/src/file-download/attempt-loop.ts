/**
 * The life of a file download: lock the output, look at what is on disk, then attempts
 * (transfer.ts) until the partial is complete and verified, with retries, backoff and the
 * remote-changed policy (continue when only metadata changed, else start over or stop),
 * and finally the atomic rename into place.
 */
import { RemoteError } from '@ft/protocol';
import type { StatResult } from '@ft/protocol';
import { rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { openConnection } from '../udp/transport.js';
import type { TransferConnection } from '../udp/transport.js';
import { ClientError, ClientErrorCode, isRetryable } from '../errors.js';
import { acquireOutputLock } from '../output-lock.js';
import { removeState, syncDirectory } from '../partial-state.js';
import { abortError } from '../retry.js';
import type { DownloadOptions, DownloadResult } from '../download-types.js';
import { DownloadJob } from './job.js';
import { UntrustedState, checkLocal, distrustState, openPartial } from './local-partial.js';
import { adoptValidator, sameContent } from './same-content.js';
import { attempt } from './transfer.js';
import { attemptSources, retriesSpent } from './sources/multi-attempt.js';
import { usesSources } from './sources/source-spec.js';

/** Times the remote may change under one download before we give up. */
export const MAX_RESTARTS = 3;

/** Downloads to a file (not '-'); see download() for the contract. */
export async function downloadToFile(o: DownloadOptions): Promise<DownloadResult> {
  const job = new DownloadJob(o);
  try {
    job.lock = await acquireOutputLock(o.output);
    const complete = await checkLocal(job);
    if (complete !== undefined) return complete;
    await openPartial(job);
    await attemptUntilDone(job);
    return await finish(job);
  } finally {
    await job.close();
  }
}

async function attemptUntilDone(job: DownloadJob): Promise<void> {
  for (;;) {
    job.checkAborted();
    job.budget.start();
    const before = job.progressMark();
    try {
      // Several connections or sources: the scheduler of sources/ (the one-connection path
      // stays as it is, the hot one).
      await (usesSources(job.o) ? attemptSources(job) : attempt(job));
      return;
    } catch (caught) {
      const error = await settle(job, caught);
      if (error instanceof UntrustedState) {
        await distrustState(job, error.why);
        continue;
      }
      if (job.progressMark() > before) job.budget.progress();
      if (error instanceof RemoteError && error.code === 'FT_PRECONDITION_FAILED') {
        await onRemoteChanged(job);
        continue;
      }
      await job.saveStateNow();
      if (!isRetryable(error) || retriesSpent(error)) throw error;
      const retryAfterMs = (error as { retryAfterMs?: number }).retryAfterMs;
      if (!(await job.budget.shouldRetry(retryAfterMs, job.o.signal, error))) {
        throw job.budget.attempts > 1
          ? Object.assign(error, {
              message: `${error.message} (gave up after ${job.budget.attempts} attempts)`,
            })
          : error;
      }
    }
  }
}

/** After a failed attempt: let queued writes finish; a local write error wins over the network error it caused. */
async function settle(job: DownloadJob, caught: unknown): Promise<Error> {
  let error = caught as Error;
  try {
    await job.writer!.drain();
  } catch (writeError) {
    error = writeError as Error;
  }
  if (job.writer!.failed !== undefined) throw error;
  if (job.o.signal?.aborted) {
    await job.saveStateNow();
    throw abortError();
  }
  if ((error as { code?: string }).code === ClientErrorCode.ABORTED) {
    await job.saveStateNow();
    throw error;
  }
  return error;
}

/** The remote version differs from the one the partial holds. */
async function onRemoteChanged(job: DownloadJob): Promise<void> {
  const { o } = job;
  job.restarts++;
  const ledger = job.ledger;
  if (ledger !== undefined && job.restarts <= MAX_RESTARTS) {
    // Content identical, only metadata changed (touched, copied over)? Then keep the bytes.
    const st = await statForChange(job);
    if (st !== undefined && sameContent(st, ledger)) {
      await adoptValidator(job, st);
      return;
    }
  }
  if (o.noRestart || job.restarts > MAX_RESTARTS) {
    throw new ClientError(
      ClientErrorCode.REMOTE_CHANGED,
      o.noRestart
        ? `${o.remote.path} changed on the server since the partial download started`
        : `${o.remote.path} keeps changing on the server (${job.restarts} versions seen)`,
      {
        hint: o.noRestart
          ? `the partial is kept in ${job.part}; run again without --no-restart to download the new version`
          : 'try again once the file has stopped changing',
      },
    );
  }
  job.warn(`${o.remote.path} changed on the server; starting over from 0`);
  await restartFromZero(job);
}

async function statForChange(job: DownloadJob): Promise<StatResult | undefined> {
  const { o } = job;
  let connection: TransferConnection | undefined;
  try {
    connection = await openConnection(o.transport, o.remote, {
      signal: o.signal,
      timeoutMs: o.stallTimeoutMs ?? 30_000,
    });
    return await connection.stat(o.remote.path, true);
  } catch (error) {
    if ((error as { code?: string }).code === ClientErrorCode.ABORTED) throw error;
    return undefined;
  } finally {
    connection?.close();
  }
}

async function restartFromZero(job: DownloadJob): Promise<void> {
  await job.writer!.drain();
  await job.partialCheck;
  job.partialCheck = undefined;
  await job.handle!.truncate(0);
  await removeState(job.statePath);
  job.tail?.dispose();
  job.tail = undefined;
  job.ledger = undefined;
  job.validator = undefined;
  job.stateAdopted = false;
  job.fillEnd = 0;
  job.unprimedBytes = 0;
  job.resumedFrom = 0;
  job.fetchedSomething = false;
  job.refetches.clear();
}

/**
 * Every chunk verified and the root matches: fsync, rename into place, drop the state. Only
 * a complete, verified, fsynced file ever appears at the output name; a crash before the
 * directory fsync leaves either that file or the complete partial (re-verified on --resume).
 */
async function finish(job: DownloadJob): Promise<DownloadResult> {
  const { o } = job;
  const ledger = job.ledger!;
  await job.writer!.drain();
  if (ledger.unverifiedBelow(ledger.count).length > 0 || !ledger.rootMatches()) {
    await job.saveStateNow();
    throw new ClientError(
      ClientErrorCode.INTEGRITY,
      `${o.output}: the downloaded data does not match the server's root digest`,
      { hint: `the partial is kept in ${job.part}; run again with --force to start over` },
    );
  }
  const handle = job.handle!;
  // Set before the rename: the file appears at its name with the remote version's mtime.
  if (o.preserveMtime === true) await handle.utimes(new Date(), new Date(job.mtimeMs));
  await handle.sync();
  await handle.close();
  job.handle = undefined;
  await o.beforeCommit?.(job.part);
  await rename(job.part, o.output);
  // In a batch, one fsync per directory when the batch closes makes every rename durable.
  if (o.session === undefined) await syncDirectory(dirname(o.output));
  else o.session.syncDirectoryLater(dirname(o.output));
  await removeState(job.statePath);
  job.report(true);
  return {
    path: o.output,
    bytes: ledger.size,
    resumedFrom: job.resumedFrom,
    durationMs: performance.now() - job.started,
    digest: ledger.root.toString('hex'),
    validator: job.validator?.toString('hex') ?? '',
    attempts: job.budget.attempts,
    alreadyComplete: job.resumedFrom === ledger.size && job.refetches.size === 0,
  };
}
