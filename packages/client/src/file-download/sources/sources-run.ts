/**
 * One round of a multi-source download: the sources and their connections (workers), the
 * chunk board they share, and what happens when a chunk's digest comes back, when a source
 * disagrees or fails, and when the round must stop. The reference version (size, chunk size,
 * root digest) is the partial's (from its state) or the first source's, in command-line order,
 * that answered a STAT; every source is compared with it before it sends a byte.
 */
import { getMaxListeners, setMaxListeners } from 'node:events';
import { EntryKind, RemoteError, WireError } from '@ft/protocol';
import type { StatResult } from '@ft/protocol';
import { ClientError, ClientErrorCode } from '../../errors.js';
import type { ChunkDigester } from '../../hashing/chunk-digester.js';
import { openConnection } from '../../udp/transport.js';
import type { TransferConnection } from '../../udp/transport.js';
import type { ConnectOptions } from '../../connection-types.js';
import type { Remote } from '../../remote.js';
import { abortError } from '../../retry.js';
import type { DownloadJob } from '../job.js';
import { MAX_REFETCHES } from '../transfer.js';
import { ChunkBoard } from './chunk-board.js';
import type { BoardWorker, Piece } from './chunk-board.js';
import { MAX_TOTAL_CONNECTIONS, sourceLabel } from './source-spec.js';

/** Chunks failing verification one source may send before it is dropped. */
export const MAX_BAD_CHUNKS_PER_SOURCE = 3;

/** The version every source must have. */
export interface Reference {
  size: number;
  chunkSize: number;
  root: Buffer;
}

/** One source: a URL of the file, with its connections. */
export interface Source {
  readonly index: number;
  readonly remote: Remote;
  readonly label: string;
  /** Its first STAT (or the failure of its first connection): the reference is chosen from these. */
  readonly first: Promise<StatResult | Error>;
  settleFirst(outcome: StatResult | Error): void;
  /** Why it is no longer used, once it is not. */
  dropped: string | undefined;
  /** Dropped because its copy differs from the reference. */
  disagreed: boolean;
  /** The last error of one of its connections. */
  lastError: Error | undefined;
  workersLeft: number;
  badChunks: number;
}

/** One connection of a source. */
export interface Worker extends BoardWorker {
  connection: TransferConnection | undefined;
  digester: ChunkDigester | undefined;
  /** Bytes of its current piece received whose chunk's digest has not come back yet. */
  unverified: number;
  /** Waiting for work (its connection has no request in flight). */
  idle: boolean;
}

/** See the module comment. */
export class SourcesRun {
  readonly sources: Source[];
  readonly workers: Worker[] = [];
  board: ChunkBoard | undefined;
  reference: Promise<Reference> | undefined;
  /** Bytes of verified chunks (for progress). */
  verifiedBytes = 0;
  /** A failure that ends the round (the remote changed, a damaged state, an integrity failure). */
  fatal: Error | undefined;
  private readonly controller = new AbortController();
  readonly signal: AbortSignal;
  readonly connectOptions: ConnectOptions;

  constructor(readonly job: DownloadJob) {
    const o = job.o;
    this.signal =
      o.signal === undefined
        ? this.controller.signal
        : AbortSignal.any([o.signal, this.controller.signal]);
    this.connectOptions = { signal: o.signal, timeoutMs: o.stallTimeoutMs ?? 30_000 };
    // Every connection, connect and retry wait listens to these: up to MAX_TOTAL_CONNECTIONS
    // of each at once is expected, not a leak.
    const listeners = 4 * MAX_TOTAL_CONNECTIONS;
    setMaxListeners(listeners, this.signal);
    if (o.signal !== undefined && getMaxListeners(o.signal) < listeners)
      setMaxListeners(listeners, o.signal);
    this.sources = [o.remote, ...(o.mirrors ?? [])].map((remote, index) => {
      let settle: (outcome: StatResult | Error) => void = () => {};
      const first = new Promise<StatResult | Error>((resolve) => (settle = resolve));
      let settled = false;
      return {
        index,
        remote,
        label: sourceLabel(remote),
        first,
        settleFirst: (outcome) => {
          if (settled) return;
          settled = true;
          settle(outcome);
        },
        dropped: undefined,
        disagreed: false,
        lastError: undefined,
        workersLeft: 0,
        badChunks: 0,
      };
    });
  }

  /** True once the round must end: it was stopped, or a fatal failure. */
  get over(): boolean {
    return this.fatal !== undefined || this.controller.signal.aborted;
  }

  /**
   * Ends the round: waiting workers wake, sleeping and connecting ones are aborted, and
   * connections are closed (but, with `keepIdle`, those waiting for work idle and clean: they
   * go back to the batch's session).
   */
  stop(keepIdle = false): void {
    if (!this.controller.signal.aborted) this.controller.abort();
    this.board?.wake();
    for (const w of this.workers) if (!(keepIdle && w.idle)) w.connection?.close();
  }

  /** Ends the round with `error` (reported by the attempt). */
  fail(error: Error): void {
    this.fatal ??= error;
    this.stop();
  }

  /**
   * A connection to `source`, from the batch's session when there is one. The end of the
   * round abandons a connect still under way (the connection is closed once it comes).
   */
  connect(source: Source): Promise<TransferConnection> {
    const o = this.job.o;
    const pending =
      o.session === undefined
        ? openConnection(o.transport, source.remote, this.connectOptions)
        : o.session.acquire(o.transport, source.remote, this.connectOptions, true);
    const signal = this.signal;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        pending.then(
          (c) => c.close(),
          () => {},
        );
        reject(abortError());
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      pending.then(
        (c) => {
          signal.removeEventListener('abort', onAbort);
          if (signal.aborted) c.close();
          else resolve(c);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error as Error);
        },
      );
    });
  }

  /** Gives back a connection whose every request completed, or closes it. */
  done(source: Source, connection: TransferConnection): void {
    const o = this.job.o;
    if (o.session === undefined) connection.close();
    else o.session.release(o.transport, source.remote, this.connectOptions, connection);
  }

  /** Stops using `source` (once), with a one-line warning saying why. */
  drop(source: Source, why: string, disagreed = false): void {
    if (source.dropped !== undefined) return;
    source.dropped = why;
    source.disagreed = disagreed;
    // Alone, the source's failure is the download's, reported as its error.
    if (this.sources.length > 1) this.job.warn(`not using ${source.label}: ${why}`);
    for (const w of this.workers) if (w.source === source.index) w.connection?.close();
    this.board?.wake();
  }

  usable(index: number): boolean {
    const s = this.sources[index]!;
    return s.dropped === undefined && s.workersLeft > 0;
  }

  /** A STAT answer that cannot be the reference becomes the error it stands for. */
  statOutcome(source: Source, st: StatResult): StatResult | Error {
    if (st.kind !== EntryKind.FILE)
      return new RemoteError(WireError.IS_DIRECTORY, `${source.remote.path} is not a file`, 0, 0);
    if (st.chunkSize === 0)
      return new ClientError(ClientErrorCode.BAD_RESPONSE, 'protocol error: STAT without a digest');
    return st;
  }

  /** Why `st` is not the reference's copy, or undefined when it is the same content. */
  differs(st: StatResult, ref: Reference): string | undefined {
    if (st.kind !== EntryKind.FILE) return 'it is not a file';
    if (st.size !== ref.size) return `its copy has ${st.size} bytes, not ${ref.size}`;
    if (st.chunkSize !== ref.chunkSize)
      return `its copy has chunks of ${st.chunkSize} bytes, not ${ref.chunkSize}`;
    if (!st.root.equals(ref.root)) return 'its copy has other content (another root digest)';
    return undefined;
  }

  /** Starts the board for `wanted` chunks of the reference version. */
  startBoard(wanted: number[]): ChunkBoard {
    const ledger = this.job.ledger!;
    this.board = new ChunkBoard(
      ledger.count,
      ledger.chunkSize,
      this.sources.length,
      ledger.size,
      wanted,
    );
    return this.board;
  }

  /** Work for `w`, waiting while there is none; undefined once the round is over or done. */
  async nextPiece(w: Worker): Promise<Piece | undefined> {
    const board = this.board!;
    w.idle = true;
    try {
      for (;;) {
        if (this.over || board.finished || this.sources[w.source]!.dropped !== undefined)
          return undefined;
        const piece = board.take(w, this.workers.length, (s) => this.usable(s));
        if (piece !== undefined) return piece;
        await board.changed(250);
      }
    } finally {
      w.idle = false;
    }
  }

  /** Whether a connection that ends its work now may serve the batch's next download. */
  reusable(source: Source): boolean {
    return (
      this.fatal === undefined && source.dropped === undefined && this.board?.finished === true
    );
  }

  /** A digest of chunk `index` from `w`'s source came back. */
  onDigest(w: Worker, index: number, digest: Buffer): void {
    const job = this.job;
    const ledger = job.ledger!;
    const board = this.board!;
    const bytes = board.bytesOf(index);
    w.unverified -= bytes;
    if (ledger.record(index, digest) === 'verified') {
      this.verifiedBytes += bytes;
      board.done(index);
      return;
    }
    const source = this.sources[w.source]!;
    const n = (job.refetches.get(index) ?? 0) + 1;
    job.refetches.set(index, n);
    if (n > MAX_REFETCHES) {
      this.fail(
        new ClientError(
          ClientErrorCode.INTEGRITY,
          `chunk ${index} of ${job.o.remote.path} failed verification ${MAX_REFETCHES} times`,
          {
            hint: `the partial is kept in ${job.part}; run again with --resume, or --force to start over`,
          },
        ),
      );
      return;
    }
    job.warn(`chunk ${index} from ${source.label} failed verification; fetching it again`);
    board.again(index, source.index);
    if (++source.badChunks >= MAX_BAD_CHUNKS_PER_SOURCE)
      this.drop(source, `${source.badChunks} of its chunks failed verification`);
  }

  /** Bytes present for the progress display: verified chunks plus those arriving. */
  presentBytes(): number {
    let bytes = this.verifiedBytes;
    for (const w of this.workers) bytes += Math.max(0, w.unverified);
    return bytes;
  }

  /** Resumes the connections that neither the disk nor their hashing holds back. */
  resumeClear(): void {
    if (this.job.writer?.congested) return;
    for (const w of this.workers) if (w.digester?.congested !== true) w.connection?.resume();
  }

  /** What job.connection stands for during the round: every connection at once. */
  group(): Pick<TransferConnection, 'pause' | 'resume' | 'close'> {
    return {
      pause: () => {
        for (const w of this.workers) w.connection?.pause();
      },
      resume: () => this.resumeClear(),
      close: () => this.stop(),
    };
  }
}
