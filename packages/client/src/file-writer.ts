/**
 * Ordered positional writes into the partial file. Received buffers are batched (no copy:
 * writev of the original views) into large writes, queued on one promise chain, and counted
 * so the caller can pause the socket when too much is in flight. Other operations (a state
 * save, a truncate) can be queued on the same chain, so they see exactly the writes before
 * them. A slow operation that only needs the writes before it (a state save: fdatasync, then
 * the state file) can instead run *beside* the chain, so later writes are not held back behind
 * the disk flush. After a failure every later operation is skipped and the failure is reported.
 */
import type { FileHandle } from 'node:fs/promises';

/** Bytes gathered before one writev. */
export const WRITE_BATCH_BYTES = 1024 * 1024;
/** Pause the socket above this many queued bytes, resume below LOW_WATER. */
export const HIGH_WATER = 8 * 1024 * 1024;
export const LOW_WATER = 2 * 1024 * 1024;

export class FileWriter {
  private batch: Buffer[] = [];
  /** Called once the batch's write is over (receive memory the buffers pin goes back). */
  private releases: (() => void)[] = [];
  private batchBytes = 0;
  private batchPosition = 0;
  private chain: Promise<void> = Promise.resolve();
  /** Operations running beside the chain (see `beside`), in their own order. */
  private side: Promise<void> = Promise.resolve();
  private sideRunning = 0;
  private queued = 0;
  private failure: Error | undefined;

  constructor(
    private readonly handle: FileHandle,
    /** Called when queued bytes fall below LOW_WATER (resume the socket). */
    private readonly onLow: () => void = () => {},
    /** Called once, on the first failed operation (stop the socket). */
    private readonly onFailure: (error: Error) => void = () => {},
  ) {}

  /** Bytes accepted but not yet written. */
  get queuedBytes(): number {
    return this.queued + this.batchBytes;
  }

  /** True when the caller should stop feeding data until `onLow`. */
  get congested(): boolean {
    return this.queuedBytes > HIGH_WATER;
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  /** True while an operation queued with `beside` has not finished. */
  get besideBusy(): boolean {
    return this.sideRunning > 0;
  }

  /**
   * Queues `chunk` to be written at `position`. The buffer must not be modified until
   * `release` is called, once the write is over (done, failed or skipped after a failure).
   */
  write(chunk: Buffer, position: number, release?: () => void): void {
    if (this.batchBytes > 0 && this.batchPosition + this.batchBytes !== position) this.flush();
    if (this.batchBytes === 0) this.batchPosition = position;
    this.batch.push(chunk);
    if (release !== undefined) this.releases.push(release);
    this.batchBytes += chunk.length;
    // The buffer count is capped too: many tiny reads must not exceed the iovec limit.
    if (this.batchBytes >= WRITE_BATCH_BYTES || this.batch.length >= 512) this.flush();
  }

  /** Queues the current batch for writing. */
  flush(): void {
    if (this.batchBytes === 0) return;
    const buffers = this.batch;
    const bytes = this.batchBytes;
    const position = this.batchPosition;
    const releases = this.releases;
    this.batch = [];
    this.releases = [];
    this.batchBytes = 0;
    this.queued += bytes;
    this.runAfterQueued(async () => {
      try {
        await writeAll(this.handle, buffers, position);
      } finally {
        this.queued -= bytes;
        if (this.queued < LOW_WATER) this.onLow();
      }
    }, releases);
  }

  /** Runs `op` after every write queued so far (the pending batch is flushed first). */
  enqueue(op: () => Promise<void>): void {
    this.flush();
    this.runAfterQueued(op);
  }

  /**
   * Runs `op` once every write queued so far has completed, without holding back the writes
   * queued after it. Operations queued this way run one at a time, in order.
   */
  beside(op: () => Promise<void>): void {
    this.flush();
    const before = this.chain;
    this.sideRunning++;
    this.side = Promise.all([before, this.side]).then(async () => {
      try {
        await this.guarded(op);
      } finally {
        this.sideRunning--;
      }
    });
  }

  private runAfterQueued(op: () => Promise<void>, releases: (() => void)[] = []): void {
    this.chain = this.chain.then(async () => {
      try {
        await this.guarded(op);
      } finally {
        for (const release of releases) release();
      }
    });
  }

  private async guarded(op: () => Promise<void>): Promise<void> {
    if (this.failure !== undefined) return;
    try {
      await op();
    } catch (error) {
      if (this.failure !== undefined) return;
      this.failure = error as Error;
      this.onFailure(this.failure);
    }
  }

  /** Flushes and waits for every queued operation; throws the first failure, if any. */
  async drain(): Promise<void> {
    this.flush();
    await Promise.all([this.chain, this.side]);
    if (this.failure !== undefined) throw this.failure;
  }
}

/** writev until every byte is written: a short write (e.g. just before ENOSPC) is continued. */
async function writeAll(handle: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let rest = buffers;
  let at = position;
  while (rest.length > 0) {
    const { bytesWritten } = await handle.writev(rest, at);
    at += bytesWritten;
    let skip = bytesWritten;
    const next: Buffer[] = [];
    for (const b of rest) {
      if (skip >= b.length) {
        skip -= b.length;
        continue;
      }
      next.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
    if (bytesWritten === 0 && next.length > 0) {
      throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    }
    rest = next;
  }
}
