/**
 * One attempt of a download from several connections or sources (--connections, --mirror):
 * choose the reference version, start the connections (one per source first, the others once
 * the file is known to have chunks enough for them), let them fetch from the chunk board until
 * every wanted chunk is verified, then, as the one-connection path does, repair chunks found
 * bad on disk and settle chunks whose digest was never sent through the root digest. The
 * partial, its state file and the final rename are the one-connection path's (job.ts,
 * local-partial.ts, attempt-loop.ts): whatever mix of connections wrote the partial, the state
 * says which chunks are verified, so any later run resumes it.
 */
import { RemoteError, WireError, sameValidator } from '@ft/protocol';
import type { StatResult } from '@ft/protocol';
import { ClientError, ClientErrorCode } from '../../errors.js';
import { hashLocalRange } from '../../verify.js';
import { ChunkLedger } from '../../verify.js';
import type { DownloadJob } from '../job.js';
import { UntrustedState } from '../local-partial.js';
import { MAX_REFETCHES } from '../transfer.js';
import { SourcesRun } from './sources-run.js';
import type { Reference, Source, Worker } from './sources-run.js';
import { runWorker } from './worker.js';

/** Marks a failure after which every source already spent its retries: not retried again. */
export const RETRIES_SPENT = Symbol('retries spent');

/** True for a failure of attemptSources that the attempt loop must not retry. */
export function retriesSpent(error: unknown): boolean {
  return (error as { [RETRIES_SPENT]?: boolean } | null)?.[RETRIES_SPENT] === true;
}

/** See the module comment. */
export async function attemptSources(job: DownloadJob): Promise<void> {
  const connections = job.o.connections ?? 1;
  // Bounded: each round either verifies chunks or spends refetches, which are capped.
  for (let round = 0; round < MAX_REFETCHES + 3; round++) {
    const wanted = await runRound(job, connections, round === 0);
    if (wanted === 0) {
      job.fillEnd = job.ledger!.size;
      job.fetchedSomething = true;
      job.stateAdopted = false;
      return;
    }
  }
  throw new ClientError(
    ClientErrorCode.INTEGRITY,
    `${job.o.remote.path}: chunks kept failing verification`,
    { hint: `the partial is kept in ${job.part}; run again with --force to start over` },
  );
}

/** One round over every source; resolves with the chunks still wanted after it (0: done). */
async function runRound(job: DownloadJob, connections: number, first: boolean): Promise<number> {
  const run = new SourcesRun(job);
  const workers: Promise<void>[] = [];
  const start = (source: Source): void => {
    const w: Worker = {
      source: source.index,
      rate: 0,
      connection: undefined,
      digester: undefined,
      unverified: 0,
      idle: false,
    };
    run.workers.push(w);
    workers.push(runWorker(run, source, w));
  };
  // The workers wait for this before their first piece: the version, and the board.
  const ready = chooseReference(run).then(async (ref) => {
    const wanted = await prepareLocal(job, ref, first);
    const ledger = job.ledger!;
    if (first && !job.fetchedSomething) job.resumedFrom = verifiedBytes(ledger);
    run.verifiedBytes = verifiedBytes(ledger);
    run.startBoard(wanted);
    // More connections than pieces would only STAT: start the others when there is work.
    const extra = Math.min(connections - 1, Math.max(0, wanted.length - 1));
    for (let k = 0; k < extra; k++) for (const source of run.sources) start(source);
    return ref;
  });
  run.reference = ready;
  // A failed choice ends the round; the workers waiting for it see run.over.
  ready.catch((error: unknown) => run.fail(error as Error));
  job.connection = run.group();
  job.presentBytes = () => run.presentBytes();
  try {
    for (const source of run.sources) start(source);
    try {
      await ready;
    } catch (error) {
      await settleWorkers(run, workers);
      throw error;
    }
    const board = run.board!;
    await waitForBoard(run, workers);
    job.checkAborted();
    if (run.fatal !== undefined) throw run.fatal;
    if (!board.finished) throw noSourceLeft(run);
    await job.partialHashed();
    await job.settlePartialCheck();
    return settleUnknown(job);
  } finally {
    run.stop();
    await Promise.all(workers);
    job.connection = undefined;
    job.presentBytes = undefined;
  }
}

/** Waits until the board is done or no worker is left. */
async function waitForBoard(run: SourcesRun, workers: Promise<void>[]): Promise<void> {
  const board = run.board!;
  const all = Promise.all(workers);
  let ended = false;
  void all.then(() => {
    ended = true;
    board.wake();
  });
  while (!ended && !board.finished && !run.over) await board.changed(1000);
  // Done: idle connections go back to the session; connects and retry waits are abandoned.
  run.stop(board.finished && run.fatal === undefined);
  await all;
}

async function settleWorkers(run: SourcesRun, workers: Promise<void>[]): Promise<void> {
  run.stop();
  await Promise.all(workers);
}

/**
 * The version every source must have: the partial's, when its state names one (and the first
 * source, if it answers, still has it: else the remote changed, and the attempt loop's policy
 * applies), otherwise the first source's, in order, whose first STAT answered.
 */
async function chooseReference(run: SourcesRun): Promise<Reference> {
  const job = run.job;
  const ledger = job.ledger;
  if (ledger !== undefined && job.unprimedBytes === 0) {
    const primary = await run.sources[0]!.first;
    if (!(primary instanceof Error)) {
      const sameVersion =
        job.validator !== undefined && sameValidator(primary.validator, job.validator);
      const why = run.differs(primary, ledger);
      if (why !== undefined && sameVersion && job.stateAdopted) throw new UntrustedState(why);
      if (why !== undefined) {
        throw new RemoteError(
          WireError.PRECONDITION_FAILED,
          `${job.o.remote.path} changed on the server`,
          0,
          0,
        );
      }
      adopt(job, primary);
    }
    return { size: ledger.size, chunkSize: ledger.chunkSize, root: ledger.root };
  }
  let firstError: Error | undefined;
  for (const source of run.sources) {
    const outcome = await source.first;
    if (outcome instanceof Error) {
      firstError ??= outcome;
      continue;
    }
    if (job.unprimedBytes > outcome.size) throw job.tooLarge(job.unprimedBytes, outcome.size);
    job.ledger = new ChunkLedger(outcome.size, outcome.chunkSize, outcome.root);
    adopt(job, outcome);
    return { size: outcome.size, chunkSize: outcome.chunkSize, root: outcome.root };
  }
  throw firstError!;
}

/** The state records the validator and mtime of the copy the reference came from. */
function adopt(job: DownloadJob, st: StatResult): void {
  job.validator = st.validator;
  job.mtimeMs = st.mtimeMs;
}

/**
 * The chunks to fetch. A partial found without its state has its whole chunks hashed beside
 * the transfer (their digests are checked through the root digest at the end); the rest of
 * it, and every chunk the state does not vouch for, is fetched.
 */
async function prepareLocal(job: DownloadJob, ref: Reference, first: boolean): Promise<number[]> {
  const ledger = job.ledger!;
  let hashedBelow = 0;
  if (first && job.unprimedBytes > 0) {
    hashedBelow = Math.min(Math.floor(job.unprimedBytes / ref.chunkSize), ledger.count);
    job.unprimedBytes = 0;
    if (hashedBelow > 0) {
      job.hashPartialBeside(
        hashLocalRange(
          job.handle!,
          ref.chunkSize,
          0,
          hashedBelow * ref.chunkSize,
          (index, digest) => ledger.record(index, digest),
          job.o.signal,
        ).then((digester) => digester.dispose()),
      );
    }
  }
  // The one-connection path's incomplete tail chunk is fetched again whole here.
  job.tail?.dispose();
  job.tail = undefined;
  const unknown = new Set(ledger.unknownChunks());
  const wanted: number[] = [];
  for (let i = hashedBelow; i < ledger.count; i++)
    if (!ledger.isVerified(i) && !unknown.has(i)) wanted.push(i);
  return wanted;
}

/**
 * After the board: chunks the partial check found bad, and chunks known only by their local
 * digest (settled by the root digest, else fetched again), are the next round's work.
 */
function settleUnknown(job: DownloadJob): number {
  const ledger = job.ledger!;
  const bad = ledger.unverifiedBelow(ledger.count).filter((i) => ledger.hasExpected(i));
  if (bad.length > 0) return bad.length;
  const unknown = ledger.unknownChunks();
  if (unknown.length === 0) return 0;
  if (ledger.rootMatches()) {
    ledger.acceptUnknownByRoot();
    return 0;
  }
  for (const i of unknown) ledger.invalidate(i);
  return unknown.length;
}

function verifiedBytes(ledger: ChunkLedger): number {
  let bytes = 0;
  for (let i = 0; i < ledger.count; i++)
    if (ledger.isVerified(i)) bytes += ledger.rangeOf(i).length;
  return bytes;
}

/**
 * Every source is gone with chunks still wanted: FT_NO_SOURCE when copies that differ were
 * dropped, else the first source's last failure. Either way every source spent its retries.
 */
function noSourceLeft(run: SourcesRun): Error {
  const why = run.sources.map((s) => `${s.label}: ${s.dropped ?? 'stopped'}`).join('; ');
  const disagreed = run.sources.some((s) => s.disagreed);
  const error: Error = disagreed
    ? new ClientError(
        ClientErrorCode.NO_SOURCE,
        `no source of ${run.job.o.remote.path} can complete it (${why})`,
        {
          hint: `the partial is kept in ${run.job.part}; give a source that has this copy, or --force to start over`,
        },
      )
    : (run.sources.find((s) => s.lastError !== undefined)?.lastError ??
      new ClientError(
        ClientErrorCode.CONNECTION_LOST,
        `no source of ${run.job.o.remote.path} is left (${why})`,
      ));
  return Object.assign(error, { [RETRIES_SPENT]: true });
}
