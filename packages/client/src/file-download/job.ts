/**
 * The state of one file download, shared by the modules that drive it (attempt-loop.ts,
 * local-partial.ts, transfer.ts), plus what they all need: crash-safe state saves, throttled
 * progress, backpressure and cleanup.
 */
import type { FileHandle } from 'node:fs/promises';
import { rm } from 'node:fs/promises';
import type { TransferConnection } from '../udp/transport.js';
import { ClientError, ClientErrorCode } from '../errors.js';
import { FileWriter } from '../file-writer.js';
import { ChunkDigester } from '../hashing/chunk-digester.js';
import type { DigesterOptions } from '../hashing/chunk-digester.js';
import { ringHasherFor } from '../hashing/ring-hasher.js';
import type { OutputLock } from '../output-lock.js';
import {
  STATE_FORMAT,
  identityOf,
  partPathFor,
  statePathFor,
  writeState,
} from '../partial-state.js';
import type { PartialState } from '../partial-state.js';
import { formatServer } from '../remote.js';
import { RetryBudget, abortError, retryOptionsOf } from '../retry.js';
import type { ChunkLedger } from '../verify.js';
import type { DownloadOptions } from '../download-types.js';

/** How often, at most, the state file is rewritten during a transfer. */
export const STATE_INTERVAL_MS = 1000;
/** How often, at most, onProgress is called. */
export const PROGRESS_INTERVAL_MS = 100;

/** Everything one download knows; see the module comment. */
export class DownloadJob {
  readonly part: string;
  readonly statePath: string;
  readonly server: string;
  readonly started = performance.now();
  readonly budget: RetryBudget;
  lock: OutputLock | undefined;
  handle: FileHandle | undefined;
  writer: FileWriter | undefined;
  ledger: ChunkLedger | undefined;
  validator: Buffer | undefined;
  mtimeMs = 0;
  /** Everything below this offset is present in the partial (written or queued). */
  fillEnd = 0;
  /** Digester of the incomplete chunk at fillEnd, primed with its bytes already present. */
  tail: ChunkDigester | undefined;
  /** The digester of the GET being received, if any (for backpressure). */
  receiving: ChunkDigester | undefined;
  /**
   * The ledger came from OUTPUT.part.json and no server answer has confirmed it yet: a header
   * that contradicts it means the state is damaged (local-partial.ts distrustState), not that
   * the server misbehaves.
   */
  stateAdopted = false;
  /**
   * --verify-partial: the re-hash of the adopted chunks, running beside the transfer. It never
   * rejects (nothing may be left unhandled while an attempt fails for another reason): it
   * resolves with its error, which settlePartialCheck() throws.
   */
  partialCheck: Promise<unknown> | undefined;

  /** Starts `check` beside the transfer (see partialCheck). */
  checkPartialBeside(check: Promise<void>): void {
    this.partialCheck = check.then(
      () => undefined,
      (error: unknown) => error ?? new Error('the partial check failed'),
    );
  }
  /** A partial found without a usable state: it must be hashed once the version is known. */
  unprimedBytes = 0;
  resumedFrom = 0;
  fetchedSomething = false;
  readonly refetches = new Map<number, number>();
  restarts = 0;
  /** This run created OUTPUT.part: remove it again if the server never named a version. */
  createdPart = false;
  /** What backpressure pauses and resumes: the one connection, or (sources/) all of them. */
  connection: Pick<TransferConnection, 'pause' | 'resume' | 'close'> | undefined;
  /**
   * Bytes present for progress reports when the partial does not fill up from the start
   * (several connections, sources/): otherwise fillEnd is.
   */
  presentBytes: (() => number) | undefined;
  /** Hashing of a stateless partial's whole chunks, running beside the fetch of the rest. */
  private partialHash: Promise<void> | undefined;
  /** When the state was last saved (or, before the first save, when the download started). */
  private lastStateSave = this.started;
  private stateSaved = false;
  private lastProgress = 0;
  private trailingReport: NodeJS.Timeout | undefined;

  constructor(readonly o: DownloadOptions) {
    this.part = partPathFor(o.output);
    this.statePath = statePathFor(o.output);
    this.server = formatServer(o.remote);
    this.budget = new RetryBudget(retryOptionsOf(o));
  }

  /** Starts writing into the partial through a fresh FileWriter. */
  useHandle(handle: FileHandle): void {
    this.handle = handle;
    this.writer = new FileWriter(
      handle,
      () => this.resumeIfClear(),
      () => this.connection?.close(),
    );
  }

  /** Digester options that tie its backpressure and failures to the connection. */
  digesterOptions(): DigesterOptions {
    return {
      // One received stream: hashed on this thread as it arrives (see DigesterOptions.inline).
      inline: true,
      // ... until the ring thread, started for a large TCP body (transfer.ts), is ready.
      ring: ringHasherFor(this.o.transport),
      onLow: () => this.resumeIfClear(),
      onError: () => this.connection?.close(),
    };
  }

  /** A digester recording into the ledger, starting at chunk `first`. */
  newDigester(first: number): ChunkDigester {
    const ledger = this.ledger!;
    return new ChunkDigester(
      ledger.chunkSize,
      first,
      (i, d) => ledger.record(i, d),
      this.digesterOptions(),
    );
  }

  /** Waits for the --verify-partial check, if one runs; its failure fails the attempt. */
  async settlePartialCheck(): Promise<void> {
    const check = this.partialCheck;
    if (check === undefined) return;
    const error = await check;
    this.partialCheck = undefined;
    if (error !== undefined) throw error;
  }

  /** Resumes the socket once neither the disk nor the hashing thread is behind. */
  resumeIfClear(): void {
    if (this.writer?.congested || this.receiving?.congested) return;
    this.connection?.resume();
  }

  /** Lets `hashing` (digests of bytes already in the partial) run beside the fetch. */
  /** Whether the partial is being hashed from disk beside the transfer (either way above). */
  get rehashingBeside(): boolean {
    return this.partialHash !== undefined || this.partialCheck !== undefined;
  }

  hashPartialBeside(hashing: Promise<void>): void {
    // Awaited by partialHashed() or close(); never an unhandled rejection meanwhile.
    hashing.catch(() => {});
    this.partialHash = hashing;
  }

  /**
   * Waits for the hashing started by hashPartialBeside, if any, and throws its failure. A
   * failed hashing leaves chunks without a digest: the next attempt hashes the partial again.
   */
  async partialHashed(): Promise<void> {
    const hashing = this.partialHash;
    this.partialHash = undefined;
    try {
      await hashing;
    } catch (error) {
      this.unprimedBytes = this.fillEnd;
      throw error;
    }
  }

  /** Releases the connection, the partial's handle and the lock. */
  async close(): Promise<void> {
    clearTimeout(this.trailingReport);
    this.connection?.close();
    // It reads through the handle: let it end before the handle closes.
    await this.partialHash?.catch(() => {});
    this.tail?.dispose();
    this.tail = undefined;
    const handle = this.handle;
    this.handle = undefined;
    try {
      // Its reads use the handle: let it end first (an abort ends it at the next read).
      await this.partialCheck;
      await handle?.close().catch(() => {});
      // Nothing learned, nothing written (e.g. not found): leave no empty partial behind.
      if (handle !== undefined && this.createdPart && this.ledger === undefined) {
        await rm(this.part, { force: true });
      }
    } finally {
      await this.lock?.release();
    }
  }

  /**
   * Saves the state with the ledger as of now. The snapshot only vouches for digests already
   * recorded, all of them of bytes queued before this call; the partial's identity is taken
   * in the write queue right after those bytes. The fdatasync and the state file then run
   * beside later writes (data first, then the state that vouches for it).
   */
  enqueueStateSave(): void {
    const ledger = this.ledger;
    const validator = this.validator;
    if (ledger === undefined || validator === undefined) return;
    this.lastStateSave = performance.now();
    this.stateSaved = true;
    const snapshot = ledger.snapshot();
    const handle = this.handle!;
    let partial: PartialState['partial'] | undefined;
    const writer = this.writer!;
    writer.enqueue(async () => {
      partial = await identityOf(handle);
    });
    writer.beside(async () => {
      await handle.datasync();
      await writeState(this.statePath, {
        format: STATE_FORMAT,
        server: this.server,
        remotePath: this.o.remote.path,
        validator: validator.toString('hex'),
        size: ledger.size,
        mtimeMs: this.mtimeMs,
        chunkSize: ledger.chunkSize,
        root: ledger.root.toString('hex'),
        ...snapshot,
        partial: partial!,
      });
    });
  }

  /** Saves the state once every queued write is done and every digest is in, and waits. */
  async saveStateNow(): Promise<void> {
    if (this.handle === undefined || this.writer?.failed !== undefined) return;
    await this.writer!.drain();
    await this.receiving?.flushed().catch(() => {});
    await this.tail?.flushed().catch(() => {});
    this.enqueueStateSave();
    await this.writer!.drain();
  }

  /** Per received buffer: throttled state saves and progress reports. */
  tick(): void {
    const now = performance.now();
    if (!this.writer!.besideBusy && this.stateDue(now)) this.enqueueStateSave();
    if (now - this.lastProgress >= PROGRESS_INTERVAL_MS) this.report(false);
    else if (this.trailingReport === undefined && this.o.onProgress !== undefined) {
      // Report the last bytes too, even when no more arrive (a stall must not freeze an old figure).
      this.trailingReport = setTimeout(
        () => {
          this.trailingReport = undefined;
          if (this.handle !== undefined) this.report(false);
        },
        PROGRESS_INTERVAL_MS - (now - this.lastProgress),
      );
      this.trailingReport.unref();
    }
  }

  /**
   * The state file costs three fsyncs, worth paying only once a crash would lose real work:
   * after the first whole chunk of a file that has more to come, or STATE_INTERVAL_MS into
   * the download; then every STATE_INTERVAL_MS. A file that arrives whole sooner never gets
   * one (a crash leaves a bare partial, which a resume re-verifies against the server's
   * digests); a failed or interrupted attempt saves it regardless (attempt-loop.ts).
   */
  private stateDue(now: number): boolean {
    if (now - this.lastStateSave >= STATE_INTERVAL_MS) return true;
    const ledger = this.ledger;
    return (
      !this.stateSaved &&
      ledger !== undefined &&
      this.fillEnd >= ledger.chunkSize &&
      this.fillEnd < ledger.size
    );
  }

  report(final: boolean): void {
    if (this.o.onProgress === undefined) return;
    this.lastProgress = performance.now();
    const total = this.ledger?.size ?? 0;
    this.o.onProgress({
      path: this.o.output,
      bytes: final ? total : Math.min(this.presentBytes?.() ?? this.fillEnd, total),
      total,
      resumedFrom: this.resumedFrom,
    });
  }

  /** Bytes fetched plus chunks verified: grows whenever an attempt achieved something. */
  progressMark(): number {
    return this.fillEnd + (this.ledger?.verifiedCount ?? 0);
  }

  tooLarge(present: number, size: number): ClientError {
    return new ClientError(
      ClientErrorCode.PARTIAL_TOO_LARGE,
      `${this.part} (${present} bytes) is larger than the remote file (${size} bytes)`,
      { hint: 'it cannot be a prefix of this file: use --force to start over' },
    );
  }

  warn(message: string): void {
    this.o.onWarning?.(message);
  }

  checkAborted(): void {
    if (this.o.signal?.aborted) throw abortError();
  }
}
