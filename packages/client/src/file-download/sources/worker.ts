/**
 * The life of one connection of a multi-source download: connect, STAT (on this very
 * connection: behind a load balancer each connection may reach another copy, each with its own
 * validator), check the copy against the reference, then fetch pieces from the board until it
 * is done. A failure puts the connection's unfinished chunks back on the board and is retried
 * by the retry policy of one download (retry.ts), per connection; a source whose connections
 * all gave up, that refuses the file, or whose copy differs, is dropped with a warning.
 */
import { RemoteError } from '@ft/protocol';
import type { StatResult } from '@ft/protocol';
import { isRetryable } from '../../errors.js';
import { RetryBudget, retryOptionsOf } from '../../retry.js';
import type { TransferConnection } from '../../udp/transport.js';
import { UntrustedState } from '../local-partial.js';
import { fetchPiece } from './piece-fetch.js';
import type { Source, SourcesRun, Worker } from './sources-run.js';

/** The connection's copy differs from the reference: the source is dropped. */
class Disagrees extends Error {}

/** Runs worker `w` of `source` until the round is over; never rejects. */
export async function runWorker(run: SourcesRun, source: Source, w: Worker): Promise<void> {
  const budget = new RetryBudget(retryOptionsOf(run.job.o));
  source.workersLeft++;
  try {
    for (;;) {
      if (run.over || source.dropped !== undefined) return;
      budget.start();
      try {
        if ((await serve(run, source, w, budget)) === 'done') return;
      } catch (error) {
        w.connection?.close();
        w.connection = undefined;
        source.settleFirst(error as Error);
        source.lastError = error as Error;
        if (run.over || source.dropped !== undefined || run.job.o.signal?.aborted) return;
        if (error instanceof UntrustedState) return run.fail(error);
        if (error instanceof Disagrees) return run.drop(source, error.message, true);
        if (!isRetryable(error)) return run.drop(source, (error as Error).message);
        const retryAfterMs = (error as { retryAfterMs?: number }).retryAfterMs;
        const again = await budget.shouldRetry(retryAfterMs, run.signal, error).catch(() => false);
        if (!again) {
          if (source.workersLeft === 1 && !run.over) {
            run.drop(
              source,
              `${(error as Error).message} (gave up after ${budget.attempts} attempts)`,
            );
          }
          return;
        }
      }
    }
  } finally {
    source.workersLeft--;
    w.connection?.close();
    w.connection = undefined;
    run.board?.wake();
  }
}

/**
 * One connection: 'done' once the round needs nothing more from it, 'again' when it closed the
 * connection on purpose (a piece cut short or taken over) and a new one should follow.
 */
async function serve(
  run: SourcesRun,
  source: Source,
  w: Worker,
  budget: RetryBudget,
): Promise<'done' | 'again'> {
  const connection = await run.connect(source);
  w.connection = connection;
  if (run.over) return 'done';
  let validator = await agree(run, source, connection);
  for (;;) {
    const piece = await run.nextPiece(w);
    if (piece === undefined) {
      w.connection = undefined;
      if (run.reusable(source)) run.done(source, connection);
      else connection.close();
      return 'done';
    }
    piece.onCancel = () => connection.close();
    try {
      const end = await fetchPiece(run, w, source, connection, piece, validator);
      budget.progress();
      if (end === 'cut') return 'again';
    } catch (error) {
      if (piece.received > 0) budget.progress();
      if (piece.cancelled) return 'again';
      if (!(error instanceof RemoteError && error.code === 'FT_PRECONDITION_FAILED')) throw error;
      // Its copy changed (or a balancer moved us to another copy): same content, go on.
      validator = await agree(run, source, connection);
    } finally {
      run.board!.release(piece);
    }
  }
}

/** STATs the source on `connection` and checks it has the reference's content. */
async function agree(
  run: SourcesRun,
  source: Source,
  connection: TransferConnection,
): Promise<Buffer> {
  const answer = await connection.stat(source.remote.path, true);
  const st: StatResult | Error = run.statOutcome(source, answer);
  source.settleFirst(st);
  if (st instanceof Error) throw st;
  const ref = await run.reference!;
  const why = run.differs(st, ref);
  if (why !== undefined) throw new Disagrees(why);
  return st.validator;
}
