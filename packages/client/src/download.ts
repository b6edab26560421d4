/**
 * download(): one remote file into a local file, resumably and verifiably.
 *
 * Bytes go to OUTPUT.part, described by OUTPUT.part.json (see partial-state.ts). Every chunk
 * is hashed as it is written and checked against the server's chunk digests; a chunk that
 * fails is fetched again (by itself). Only when every chunk is verified and the chunk digests
 * add up to the version's root digest is the partial fsynced and renamed to OUTPUT.
 */
import { ChunkHasher, EntryKind, RemoteError, WireError } from '@ft/protocol';
import type { FileHeader, StatResult } from '@ft/protocol';
import { constants as fsConstants } from 'node:fs';
import { lstat, open, rename, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { openConnection } from './udp/transport.js';
import type { TransferConnection, TransportKind } from './udp/transport.js';
import { ClientError, ClientErrorCode, isRetryable } from './errors.js';
import { FileWriter } from './file-writer.js';
import {
  STATE_FORMAT,
  identityOf,
  partPathFor,
  readState,
  removeState,
  sameIdentity,
  statePathFor,
  syncDirectory,
  writeState,
} from './partial-state.js';
import type { PartialState } from './partial-state.js';
import { checkFileHeader } from './response-checks.js';
import { formatServer } from './remote.js';
import type { Remote } from './remote.js';
import { RetryBudget, abortError } from './retry.js';
import { ChunkLedger, hashLocalRange } from './verify.js';
import { streamToWritable } from './stream.js';
import { verifyCompleteFile } from './complete-check.js';

/** How often, at most, the state file is rewritten during a transfer. */
export const STATE_INTERVAL_MS = 1000;
/** How often, at most, onProgress is called. */
export const PROGRESS_INTERVAL_MS = 100;
/** Times one chunk may be refetched after failing verification before we call it an integrity failure. */
export const MAX_REFETCHES = 3;
/** Times the remote may change under one download before we give up. */
export const MAX_RESTARTS = 3;

/** A snapshot of a transfer's progress. */
export interface DownloadProgress {
  /** The output path. */
  path: string;
  /** Bytes of the file present locally (verified or about to be). */
  bytes: number;
  /** Size of the remote file, once known (0 before the first response). */
  total: number;
  /** Bytes that were already present when this run started. */
  resumedFrom: number;
}

export interface DownloadOptions {
  remote: Remote;
  /** Local output path; '-' streams to `stdout` (verified chunk by chunk, no resume). */
  output: string;
  /** Continue an existing partial (and accept an existing complete output). */
  resume?: boolean;
  /** Discard any partial and replace the output. */
  force?: boolean;
  /** When the remote file changed, fail with FT_REMOTE_CHANGED instead of starting over. */
  noRestart?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
  /** Human warnings (e.g. "the remote file changed; starting over"). */
  onWarning?: (message: string) => void;
  /** Consecutive failed attempts without progress before giving up (default 5). */
  retries?: number;
  /** Cap on one backoff delay in ms (default 30 000). */
  retryMaxWaitMs?: number;
  /** First backoff ceiling in ms (default 250). */
  retryBaseDelayMs?: number;
  /** Give up on a connection that sends nothing for this long, in ms (default 30 000). */
  stallTimeoutMs?: number;
  /** 'tcp' (default) or 'udp' (ftget --udp); the partial state is the same for both. */
  transport?: TransportKind;
  /** Where '-' writes (default process.stdout). */
  stdout?: NodeJS.WritableStream;
}

export interface DownloadResult {
  /** The output path ('-' for stdout). */
  path: string;
  /** Size of the file. */
  bytes: number;
  /** Bytes that were already present locally when this run started. */
  resumedFrom: number;
  durationMs: number;
  /** Root digest of the file version (hex): SHA-256 over its SHA-256 chunk digests. */
  digest: string;
  /** Connection attempts made. */
  attempts: number;
  /** True when nothing had to be fetched: the file was already complete. */
  alreadyComplete: boolean;
}

/**
 * Downloads `remote` to `output`. Resumable, verified, retried; see the module comment.
 * Rejects with a ClientError/RemoteError whose `code` maps to an exit code (exitCodeFor).
 */
export async function download(options: DownloadOptions): Promise<DownloadResult> {
  try {
    if (options.output === '-') return await streamToWritable(options);
    const job = new FileDownload(options);
    try {
      return await job.run();
    } finally {
      await job.close();
    }
  } catch (error) {
    // Whatever was interrupted (a read, a sleep, a write), an abort is reported as one.
    if (options.signal?.aborted) throw abortError();
    throw error;
  }
}

class FileDownload {
  private readonly part: string;
  private readonly statePath: string;
  private readonly server: string;
  private readonly started = performance.now();
  private handle: FileHandle | undefined;
  private writer: FileWriter | undefined;
  private ledger: ChunkLedger | undefined;
  private validator: Buffer | undefined;
  private mtimeMs = 0;
  /** Everything below this offset is present in the partial (written or queued). */
  private fillEnd = 0;
  /** Hasher of the incomplete chunk at fillEnd, primed with its bytes already present. */
  private tail: ChunkHasher | undefined;
  /** A partial found without a usable state: it must be hashed once the version is known. */
  private unprimedBytes = 0;
  private resumedFrom = 0;
  private fetchedSomething = false;
  private readonly refetches = new Map<number, number>();
  private restarts = 0;
  /** This run created OUTPUT.part: remove it again if the server never named a version. */
  private createdPart = false;
  private connection: TransferConnection | undefined;
  private lastStateSave = 0;
  private lastProgress = 0;
  private readonly budget: RetryBudget;

  constructor(private readonly o: DownloadOptions) {
    this.part = partPathFor(o.output);
    this.statePath = statePathFor(o.output);
    this.server = formatServer(o.remote);
    this.budget = new RetryBudget({
      retries: o.retries ?? 5,
      maxWaitMs: o.retryMaxWaitMs ?? 30_000,
      baseDelayMs: o.retryBaseDelayMs ?? 250,
    });
  }

  async run(): Promise<DownloadResult> {
    const complete = await this.checkLocal();
    if (complete !== undefined) return complete;
    await this.openPartial();
    for (;;) {
      this.checkAborted();
      this.budget.start();
      const before = this.progressMark();
      try {
        await this.attempt();
        break;
      } catch (caught) {
        const error = await this.settle(caught);
        if (this.progressMark() > before) this.budget.progress();
        if (error instanceof RemoteError && error.code === 'FT_PRECONDITION_FAILED') {
          await this.onRemoteChanged();
          continue;
        }
        await this.saveStateNow();
        if (!isRetryable(error)) throw error;
        if (
          !(await this.budget.shouldRetry(
            (error as { retryAfterMs?: number }).retryAfterMs,
            this.o.signal,
          ))
        ) {
          throw this.budget.attempts > 1
            ? Object.assign(error, {
                message: `${error.message} (gave up after ${this.budget.attempts} attempts)`,
              })
            : error;
        }
      }
    }
    return this.finish();
  }

  async close(): Promise<void> {
    this.connection?.close();
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close().catch(() => {});
    // Nothing learned, nothing written (e.g. not found): leave no empty partial behind.
    if (handle !== undefined && this.createdPart && this.ledger === undefined) {
      await rm(this.part, { force: true });
    }
  }

  /** Existing output/partial rules; returns a result when the output is already complete. */
  private async checkLocal(): Promise<DownloadResult | undefined> {
    const [outputExists, partExists, stateExists] = await Promise.all(
      [this.o.output, this.part, this.statePath].map(exists),
    );
    if (this.o.force) {
      await rm(this.part, { force: true });
      await removeState(this.statePath);
      return undefined;
    }
    if (!this.o.resume) {
      if (partExists || stateExists) {
        throw new ClientError(
          ClientErrorCode.LOCAL_CONFLICT,
          `a partial download of ${this.o.output} exists (${this.part})`,
          { hint: 'use --resume (-c) to continue it or --force to start over' },
        );
      }
      if (outputExists) {
        throw new ClientError(ClientErrorCode.LOCAL_CONFLICT, `${this.o.output} already exists`, {
          hint: 'use --force to replace it, or --resume (-c) to check that it is complete',
        });
      }
      return undefined;
    }
    if (outputExists && !partExists) {
      const result = await verifyCompleteFile(this.o, this.server);
      return { ...result, durationMs: performance.now() - this.started };
    }
    return undefined;
  }

  private async openPartial(): Promise<void> {
    this.createdPart = !(await exists(this.part));
    // O_RDWR|O_CREAT without O_TRUNC: an existing partial is continued, never clobbered.
    this.handle = await open(this.part, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o644);
    this.writer = this.newWriter();
    const present = (await this.handle.stat()).size;
    this.resumedFrom = present;
    this.fillEnd = present;
    if (present === 0 && !this.o.resume) return;
    const state = await readState(this.statePath);
    if (typeof state === 'string') {
      // No usable state: the bytes are unverified. Hash them once the version is known.
      this.unprimedBytes = present;
      if (present > 0) {
        this.warn(
          `${this.part} has no usable state file; its ${present} bytes will be checked against the server's digests`,
        );
      }
      return;
    }
    if (state.remotePath !== this.o.remote.path) {
      throw new ClientError(
        ClientErrorCode.LOCAL_CONFLICT,
        `${this.part} is a partial download of ${state.remotePath}, not of ${this.o.remote.path}`,
        { hint: 'use --force to discard it, or choose another output with -o' },
      );
    }
    if (present > state.size) throw this.tooLarge(present, state.size);
    this.ledger = ChunkLedger.restore(
      state.size,
      state.chunkSize,
      Buffer.from(state.root, 'hex'),
      state.digests,
      Buffer.from(state.verified, 'base64'),
    );
    this.validator = Buffer.from(state.validator, 'hex');
    this.mtimeMs = state.mtimeMs;
    const untouched = sameIdentity(await identityOf(this.handle), state.partial);
    // Our own last write is on record: trust it and re-read at most the incomplete tail chunk.
    // Otherwise something changed the partial (or we died after writing more than we
    // recorded): re-verify every chunk in one read pass and refetch only the bad ones.
    let fromChunk = Math.floor(present / state.chunkSize);
    if (!untouched) {
      fromChunk = 0;
      for (let i = 0; i < this.ledger.count; i++) this.ledger.invalidate(i);
    }
    await this.primeTail(fromChunk, present);
  }

  private async primeTail(fromChunk: number, present: number): Promise<void> {
    const ledger = this.ledger!;
    this.tail = await hashLocalRange(
      this.handle!,
      ledger.chunkSize,
      fromChunk,
      present,
      (index, digest) => {
        ledger.record(index, digest);
      },
      this.o.signal,
    );
    this.unprimedBytes = 0;
  }

  /** One connection: fill the partial to the end, then repair bad chunks, then settle unknown ones. */
  private async attempt(): Promise<void> {
    const connection = await openConnection(this.o.transport, this.o.remote, {
      signal: this.o.signal,
      timeoutMs: this.o.stallTimeoutMs ?? 30_000,
    });
    this.connection = connection;
    try {
      if (this.unprimedBytes > 0) await this.learnVersionByStat(connection);
      if (this.ledger === undefined || this.fillEnd < this.ledger.size || !this.fetchedSomething) {
        await this.fetch(connection, this.fillEnd, undefined);
      }
      const ledger = this.ledger!;
      if (this.fillEnd === ledger.size) this.tail?.finish();
      this.tail = undefined;
      for (;;) {
        const bad = ledger.unverifiedBelow(ledger.count).filter((i) => ledger.hasExpected(i));
        if (bad.length > 0) {
          await this.refetch(connection, bad);
          continue;
        }
        const unknown = ledger.unknownChunks();
        if (unknown.length === 0) break;
        if (ledger.rootMatches()) {
          ledger.acceptUnknownByRoot();
          break;
        }
        // The unverified prefix does not add up to the root: fetch it again, digests and all.
        for (const i of unknown) ledger.invalidate(i);
        await this.refetch(connection, unknown);
      }
    } finally {
      connection.close();
      this.connection = undefined;
    }
  }

  /** A partial without state: STAT for the version's digests, then hash the partial once. */
  private async learnVersionByStat(connection: TransferConnection): Promise<void> {
    const st = await connection.stat(this.o.remote.path, true);
    if (st.kind !== EntryKind.FILE) {
      throw new RemoteError(WireError.IS_DIRECTORY, `${this.o.remote.path} is not a file`, 0, 0);
    }
    if (this.unprimedBytes > st.size) throw this.tooLarge(this.unprimedBytes, st.size);
    if (st.chunkSize === 0) {
      throw new ClientError(ClientErrorCode.BAD_RESPONSE, 'protocol error: STAT without a digest');
    }
    this.ledger = new ChunkLedger(st.size, st.chunkSize, st.root);
    this.validator = st.validator;
    this.mtimeMs = st.mtimeMs;
    await this.primeTail(0, this.unprimedBytes);
  }

  /** GET [offset, offset+length) (to EOF when length is undefined) into the partial, verifying. */
  private async fetch(
    connection: TransferConnection,
    offset: number,
    length: number | undefined,
  ): Promise<void> {
    const writer = this.writer!;
    const sequential = length === undefined;
    let position = offset;
    let hasher: ChunkHasher | undefined;
    const end = await connection.get(
      {
        path: this.o.remote.path,
        offset,
        length,
        validator: this.validator,
        wantDigests: true,
      },
      {
        onHeader: (h) => {
          this.acceptHeader(h, offset, length);
          const ledger = this.ledger!;
          if (sequential && this.tail !== undefined) hasher = this.tail;
          else {
            hasher = new ChunkHasher(
              ledger.chunkSize,
              Math.floor(offset / ledger.chunkSize),
              (i, d) => ledger.record(i, d),
            );
            if (sequential) this.tail = hasher;
          }
        },
        onData: (chunk) => {
          hasher!.update(chunk);
          writer.write(chunk, position);
          position += chunk.length;
          if (sequential) this.fillEnd = position;
          this.fetchedSomething = true;
          if (writer.congested) connection.pause();
          this.tick();
        },
      },
    );
    if (end.status !== 0) {
      throw new RemoteError(
        WireError.PRECONDITION_FAILED,
        'the remote file changed while it was being sent',
        end.requestId,
        0,
      );
    }
    if (!sequential) hasher?.finish();
    this.fetchedSomething = true;
    await writer.drain();
  }

  private acceptHeader(h: FileHeader, offset: number, length: number | undefined): void {
    const ledger = this.ledger;
    checkFileHeader(h, {
      offset,
      length,
      validator: this.validator,
      known:
        ledger === undefined
          ? undefined
          : { size: ledger.size, chunkSize: ledger.chunkSize, root: ledger.root },
    });
    if (ledger === undefined) {
      // A fresh download: this header names the version. Record it before any byte lands.
      this.ledger = new ChunkLedger(h.size, h.chunkSize, h.root);
      this.validator = h.validator;
      this.mtimeMs = h.mtimeMs;
      this.enqueueStateSave();
    }
    if (h.length > 0) this.ledger!.learn(h.firstChunk, h.chunkDigests);
  }

  /** Refetches the given chunks, one GET per run of consecutive chunks. */
  private async refetch(connection: TransferConnection, chunks: number[]): Promise<void> {
    const ledger = this.ledger!;
    for (const i of chunks) {
      const n = (this.refetches.get(i) ?? 0) + 1;
      if (n > MAX_REFETCHES) {
        throw new ClientError(
          ClientErrorCode.INTEGRITY,
          `chunk ${i} of ${this.o.remote.path} failed verification ${MAX_REFETCHES} times`,
          {
            hint: `the partial is kept in ${this.part}; run again with --resume, or --force to start over`,
          },
        );
      }
      this.refetches.set(i, n);
    }
    for (const run of runsOf(chunks)) {
      const first = ledger.rangeOf(run.first);
      const last = ledger.rangeOf(run.first + run.count - 1);
      await this.fetch(connection, first.offset, last.offset + last.length - first.offset);
    }
  }

  /** The remote version differs from the one the partial holds. */
  private async onRemoteChanged(): Promise<void> {
    this.restarts++;
    const ledger = this.ledger;
    if (ledger !== undefined && this.restarts <= MAX_RESTARTS) {
      // Content identical, only metadata changed (touched, copied over)? Then keep the bytes.
      const st = await this.statForChange();
      if (
        st !== undefined &&
        st.kind === EntryKind.FILE &&
        st.size === ledger.size &&
        st.chunkSize === ledger.chunkSize &&
        st.root.equals(ledger.root)
      ) {
        this.warn(
          `${this.o.remote.path} was modified on the server but its content is identical; continuing`,
        );
        this.validator = st.validator;
        this.mtimeMs = st.mtimeMs;
        await this.saveStateNow();
        return;
      }
    }
    if (this.o.noRestart || this.restarts > MAX_RESTARTS) {
      throw new ClientError(
        ClientErrorCode.REMOTE_CHANGED,
        this.o.noRestart
          ? `${this.o.remote.path} changed on the server since the partial download started`
          : `${this.o.remote.path} keeps changing on the server (${this.restarts} versions seen)`,
        {
          hint: this.o.noRestart
            ? `the partial is kept in ${this.part}; run again without --no-restart to download the new version`
            : 'try again once the file has stopped changing',
        },
      );
    }
    this.warn(`${this.o.remote.path} changed on the server; starting over from 0`);
    await this.restartFromZero();
  }

  private async statForChange(): Promise<StatResult | undefined> {
    let connection: TransferConnection | undefined;
    try {
      connection = await openConnection(this.o.transport, this.o.remote, {
        signal: this.o.signal,
        timeoutMs: this.o.stallTimeoutMs ?? 30_000,
      });
      return await connection.stat(this.o.remote.path, true);
    } catch (error) {
      if ((error as { code?: string }).code === ClientErrorCode.ABORTED) throw error;
      return undefined;
    } finally {
      connection?.close();
    }
  }

  private async restartFromZero(): Promise<void> {
    await this.writer!.drain();
    await this.handle!.truncate(0);
    await removeState(this.statePath);
    this.ledger = undefined;
    this.validator = undefined;
    this.tail = undefined;
    this.fillEnd = 0;
    this.unprimedBytes = 0;
    this.resumedFrom = 0;
    this.fetchedSomething = false;
    this.refetches.clear();
  }

  /** After a failed attempt: let queued writes finish; a local write error wins over the network error it caused. */
  private async settle(caught: unknown): Promise<Error> {
    let error = caught as Error;
    try {
      await this.writer!.drain();
    } catch (writeError) {
      error = writeError as Error;
    }
    if (this.writer!.failed !== undefined) {
      // The writer is poisoned; start a fresh one for the next attempt (the partial is consistent up to what was written).
      const stat = await this.handle!.stat();
      this.fillEnd = Math.min(this.fillEnd, stat.size);
      throw error;
    }
    if (this.o.signal?.aborted) {
      await this.saveStateNow();
      throw abortError();
    }
    if ((error as { code?: string }).code === ClientErrorCode.ABORTED) {
      await this.saveStateNow();
      throw error;
    }
    return error;
  }

  private async finish(): Promise<DownloadResult> {
    const ledger = this.ledger!;
    const writer = this.writer!;
    await writer.drain();
    if (ledger.unverifiedBelow(ledger.count).length > 0 || !ledger.rootMatches()) {
      await this.saveStateNow();
      throw new ClientError(
        ClientErrorCode.INTEGRITY,
        `${this.o.output}: the downloaded data does not match the server's root digest`,
        { hint: `the partial is kept in ${this.part}; run again with --force to start over` },
      );
    }
    const handle = this.handle!;
    await handle.sync();
    await handle.close();
    this.handle = undefined;
    await rename(this.part, this.o.output);
    await syncDirectory(dirname(this.o.output));
    await removeState(this.statePath);
    this.report(true);
    return {
      path: this.o.output,
      bytes: ledger.size,
      resumedFrom: this.resumedFrom,
      durationMs: performance.now() - this.started,
      digest: ledger.root.toString('hex'),
      attempts: this.budget.attempts,
      alreadyComplete: this.resumedFrom === ledger.size && this.refetches.size === 0,
    };
  }

  private newWriter(): FileWriter {
    return new FileWriter(
      this.handle!,
      () => this.connection?.resume(),
      (error) => {
        this.connection?.close();
        void error;
      },
    );
  }

  /** Queues a state save behind the writes queued so far, with the ledger as of now. */
  private enqueueStateSave(): void {
    const ledger = this.ledger;
    const validator = this.validator;
    if (ledger === undefined || validator === undefined) return;
    this.lastStateSave = performance.now();
    const snapshot = ledger.snapshot();
    const writer = this.writer!;
    writer.flush();
    writer.enqueue(async () => {
      const handle = this.handle!;
      // Data first, then the state that vouches for it.
      await handle.datasync();
      const state: PartialState = {
        format: STATE_FORMAT,
        server: this.server,
        remotePath: this.o.remote.path,
        validator: validator.toString('hex'),
        size: ledger.size,
        mtimeMs: this.mtimeMs,
        chunkSize: ledger.chunkSize,
        root: ledger.root.toString('hex'),
        ...snapshot,
        partial: await identityOf(handle),
      };
      await writeState(this.statePath, state);
    });
  }

  private async saveStateNow(): Promise<void> {
    if (this.handle === undefined || this.writer?.failed !== undefined) return;
    this.enqueueStateSave();
    await this.writer!.drain();
  }

  /** Per received buffer: throttled state saves and progress reports. */
  private tick(): void {
    const now = performance.now();
    if (now - this.lastStateSave >= STATE_INTERVAL_MS) this.enqueueStateSave();
    if (now - this.lastProgress >= PROGRESS_INTERVAL_MS) this.report(false);
  }

  private report(final: boolean): void {
    if (this.o.onProgress === undefined) return;
    this.lastProgress = performance.now();
    const total = this.ledger?.size ?? 0;
    this.o.onProgress({
      path: this.o.output,
      bytes: final ? total : Math.min(this.fillEnd, total),
      total,
      resumedFrom: this.resumedFrom,
    });
  }

  /** Bytes fetched plus chunks verified: grows whenever an attempt achieved something. */
  private progressMark(): number {
    return this.fillEnd + (this.ledger?.verifiedCount ?? 0);
  }

  private tooLarge(present: number, size: number): ClientError {
    return new ClientError(
      ClientErrorCode.PARTIAL_TOO_LARGE,
      `${this.part} (${present} bytes) is larger than the remote file (${size} bytes)`,
      { hint: 'it cannot be a prefix of this file: use --force to start over' },
    );
  }

  private warn(message: string): void {
    this.o.onWarning?.(message);
  }

  private checkAborted(): void {
    if (this.o.signal?.aborted) throw abortError();
  }
}

/** Consecutive runs in a sorted list of chunk indices. */
export function runsOf(chunks: readonly number[]): { first: number; count: number }[] {
  const runs: { first: number; count: number }[] = [];
  for (const i of chunks) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last.first + last.count === i) last.count++;
    else runs.push({ first: i, count: 1 });
  }
  return runs;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
