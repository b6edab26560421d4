/**
 * The commit step of the small-file path (small-file.ts) for a whole batch: one flush of the
 * file system for many files instead of one fsync per file.
 *
 * Each small file is verified in memory, then written into a temp file of its own
 * (`OUTPUT.part.PID.N.tmp`, created O_EXCL) and *left unsynced*, its descriptor open. Once the
 * batch has BATCH_FILES of them (fewer under a low open-file limit), or no other small file of
 * the run is still being received, the batch is flushed: one syncfs(2) per file system, then
 * every temp file of the batch is renamed to its output, then (at the end of the run,
 * DownloadSession.close) one fsync per directory makes the renames durable.
 *
 * Why this keeps the guarantee. On Linux, syncfs() waits for the writeback of every dirty
 * inode of the file system and then has the file system make it durable (sync(2): "Linux
 * waits for I/O completions, and thus sync() or syncfs() provide the same guarantees as
 * fsync() called on every file in the system or filesystem respectively"); ext4 commits its
 * journal (or, without one, writes its inode tables) and flushes the disk cache, XFS forces its
 * log, btrfs commits its transaction. Since Linux 5.8 (commit 735e4ae5ba28) syncfs() also
 * reports every writeback error of the file system recorded since *that open file* last
 * checked (the sample is per open file description, so another process's syncfs does not hide
 * it); before 5.8 it only fails on EBADF. So the descriptor matters: ftget opens its
 * directory before the first temp file of the run is written there, and syncfs is run on that
 * very open file. Node has no syncfs binding: libc's is called through koffi, on one of koffi's
 * worker threads (syncfs.ts). Any failure — syncfs reports an error, koffi or libc cannot be
 * loaded, Linux before 5.8, another system — turns the
 * batches off for the rest of the run: every file not yet renamed is then fsynced on its own
 * (as the full path does; that fsync reports errors since its own open, before its write),
 * and a file whose fsync fails is not renamed (its download fails with that error). So a file
 * is renamed only after a syncfs on a descriptor older than its write returned success, or
 * after its own fsync did.
 *
 * Bounds: at most 2 × the batch size files wait here (one batch being flushed, one filling); a
 * download that would exceed that waits before it lets its slot go (`onWritten`). Each holds
 * one descriptor and no file data.
 */
import { closeSync, fstatSync, fsync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DownloadSession } from './session.js';
import { abortError } from './retry.js';
import { loadSyncfs, syncfsReportsErrors } from './syncfs.js';
import type { Syncfs } from './syncfs.js';
import { verbose } from './verbose-log.js';

export { syncfsReportsErrors } from './syncfs.js';

/** Files flushed together at most. */
export const BATCH_FILES = 256;

/**
 * Files per batch under the open-file limit: each waiting file holds a descriptor, and up to
 * two batches wait, so they may take at most half of what the limit leaves beyond 128 for the
 * rest of ftget (connections, the full path's files). 0: too few to batch.
 */
export function batchSizeFor(limits: string | undefined): number {
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits ?? '')?.[1];
  if (soft === undefined) return 0;
  if (soft === 'unlimited') return BATCH_FILES;
  const size = Math.min(BATCH_FILES, Math.floor((Number(soft) - 128) / 4));
  return size >= 8 ? size : 0;
}

function readLimits(): string | undefined {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined;
  }
}

interface Entry {
  fd: number;
  temp: string;
  output: string;
  signal: AbortSignal | undefined;
  resolve: () => void;
  reject: (error: Error) => void;
}

function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) =>
    fsync(fd, (error) => (error === null ? resolve() : reject(error))),
  );
}

export class SmallBatch {
  /** Written, waiting for the next flush. */
  private filling: Entry[] = [];
  /** The flush under way, if any. */
  private flushing: Promise<void> | undefined;
  /** Small downloads started and not yet handed to the batch (or gone to the full path). */
  private receiving = 0;
  private checkQueued = false;
  /** Waiters for room (two batches' worth waiting). */
  private readonly roomWaiters: (() => void)[] = [];
  private readonly watched = new WeakSet<AbortSignal>();
  /** False once syncfs turned out not to be usable here: fsync per file from then on. */
  private syncfsUsable: boolean;
  /** syncfs, loading (koffi) from the batch's first file on; undefined where it cannot load. */
  private syncfs: Promise<Syncfs | undefined> | undefined;
  /** Files per batch (BATCH_FILES, or fewer under a low open-file limit). */
  private readonly size: number;
  /** st_dev of each directory written to, and one open directory per file system (see above). */
  private readonly devOfDir = new Map<string, number>();
  private readonly fdOfDev = new Map<number, number>();

  constructor(private readonly session: DownloadSession) {
    this.syncfsUsable = process.platform === 'linux' && syncfsReportsErrors();
    this.size = this.syncfsUsable ? batchSizeFor(readLimits()) : 0;
    if (this.size === 0) this.syncfsUsable = false;
    // Loaded beside the first GETs; awaited only by the first flush.
    if (this.syncfsUsable) this.syncfs = loadSyncfs();
  }

  /**
   * Call before writing a temp file into `dir`: the descriptor syncfs will run on must be
   * older than the write (see the module comment).
   */
  prepare(dir: string): void {
    if (!this.syncfsUsable || this.devOfDir.has(dir)) return;
    const fd = openSync(dir, 'r');
    const dev = fstatSync(fd).dev;
    this.devOfDir.set(dir, dev);
    if (this.fdOfDev.has(dev)) closeSync(fd);
    else this.fdOfDev.set(dev, fd);
  }

  /** Nothing waits: the directory descriptors go (the next file opens them again). */
  private closeIdle(): void {
    for (const fd of this.fdOfDev.values()) closeSync(fd);
    this.fdOfDev.clear();
    this.devOfDir.clear();
  }

  /** Whether files are flushed together (false: each is fsynced by itself). */
  get batched(): boolean {
    return this.syncfsUsable;
  }

  /** A small download started receiving; `received()` once it is written or gave up. */
  startReceiving(): void {
    this.receiving++;
  }

  received(): void {
    this.receiving--;
    this.scheduleCheck();
  }

  /** Resolves once there is room for one more file (see the module comment's bound). */
  async room(): Promise<void> {
    while (this.filling.length >= this.size && this.flushing !== undefined)
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
  }

  /**
   * Takes a written temp file (`fd` open, not synced): resolves once it is renamed to
   * `output`, rejects (the temp file removed) if its data could not be made durable or the
   * run was aborted before its flush started.
   */
  add(fd: number, temp: string, output: string, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const entry: Entry = { fd, temp, output, signal, resolve, reject };
      this.filling.push(entry);
      if (signal !== undefined && !this.watched.has(signal)) {
        // One listener per signal (a run has one), not one per file.
        this.watched.add(signal);
        signal.addEventListener('abort', () => this.dropAll(signal), { once: true });
      }
      if (this.filling.length >= this.size) this.startFlush();
      else this.scheduleCheck();
    });
  }

  /** An abort: files whose flush has not started lose their temp file; their downloads fail. */
  private dropAll(signal: AbortSignal): void {
    const dropped = this.filling.filter((e) => e.signal === signal);
    this.filling = this.filling.filter((e) => e.signal !== signal);
    for (const e of dropped) {
      discard(e);
      e.reject(abortError());
    }
    if (this.filling.length === 0 && this.flushing === undefined) this.closeIdle();
  }

  /** Flush once nothing else is on its way (checked after the current I/O callbacks). */
  private scheduleCheck(): void {
    if (this.checkQueued) return;
    this.checkQueued = true;
    setImmediate(() => {
      this.checkQueued = false;
      if (this.receiving === 0 && this.filling.length > 0) this.startFlush();
    });
  }

  private startFlush(): void {
    if (this.flushing !== undefined || this.filling.length === 0) return;
    const batch = this.filling;
    this.filling = [];
    this.flushing = this.flush(batch).finally(() => {
      this.flushing = undefined;
      for (const wake of this.roomWaiters.splice(0)) wake();
      // What filled meanwhile goes next: at once if full or if nothing more is coming.
      if (this.filling.length >= this.size) this.startFlush();
      else if (this.filling.length > 0) this.scheduleCheck();
      else this.closeIdle();
    });
  }

  private async flush(batch: Entry[]): Promise<void> {
    let flushed = false;
    if (this.syncfsUsable) {
      try {
        // One syncfs per file system the batch wrote to.
        const syncfs = await this.syncfs;
        if (syncfs === undefined) throw new Error('koffi or libc could not be loaded');
        const devs = new Set(batch.map((e) => this.devOfDir.get(dirname(e.output))));
        for (const dev of devs) await syncfs(this.fdOfDev.get(dev!)!);
        flushed = true;
        verbose(() => `small files: ${batch.length} made durable by ${devs.size} syncfs`);
      } catch (error) {
        // Never trusted again this run: an error it reported may belong to a file of the next
        // batch, already written; fsyncs of their own find it for each file.
        this.syncfsUsable = false;
        verbose(() => `small files: no syncfs (${(error as Error).message}): one fsync per file`);
      }
    } else verbose(() => `small files: ${batch.length} fsynced one by one`);
    await holdForTest(batch);
    await Promise.all(
      batch.map(async (e) => {
        try {
          if (!flushed) await fsyncFd(e.fd);
          closeSync(e.fd);
          e.fd = -1;
          renameSync(e.temp, e.output);
          this.session.syncDirectoryLater(dirname(e.output));
          e.resolve();
        } catch (error) {
          discard(e);
          e.reject(error as Error);
        }
      }),
    );
  }
}

/** Closes (if still open) and removes an entry's temp file. */
function discard(e: Entry): void {
  if (e.fd >= 0) {
    try {
      closeSync(e.fd);
    } catch {
      // Already closed or never valid: the file is removed all the same.
    }
    e.fd = -1;
  }
  rmSync(e.temp, { force: true });
}

/**
 * Test hook (test/client-small-batch.test.ts): with FTGET_TEST_HOLD_BEFORE_RENAME=PATH, the
 * first flushed batch writes PATH and then never goes on, so a test can kill -9 the process
 * exactly between the flush and the renames.
 */
async function holdForTest(batch: Entry[]): Promise<void> {
  const marker = process.env.FTGET_TEST_HOLD_BEFORE_RENAME;
  if (marker === undefined || batch.length === 0) return;
  writeFileSync(marker, batch.map((e) => e.temp).join('\n'));
  await new Promise(() => setInterval(() => {}, 1000));
}

const batches = new WeakMap<DownloadSession, SmallBatch>();

/** The batch of a session's small files (one per run). */
export function batchOf(session: DownloadSession): SmallBatch {
  let batch = batches.get(session);
  if (batch === undefined) {
    batch = new SmallBatch(session);
    batches.set(session, batch);
  }
  return batch;
}
