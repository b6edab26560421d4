/**
 * The small-file path of a batch (`ftget get A B C… -o DIR`, `get -r`): a file of at most
 * SMALL_FILE_BYTES arrives whole in one GET, is verified in memory, and is written once, into a
 * file of its own that goes to the output name only once it is on disk. It skips what only a
 * file that streams to disk needs: the lock, OUTPUT.part and its state, the write queue and
 * the hashing thread, about twenty file-system calls of ~22 per file; and, batched, its own
 * fsync.
 *
 * The GET asks for [0, SMALL_FILE_BYTES) with the digests: a file that turns out larger (the
 * FILE header gives its size) is left to the full path (file-download/), which fetches it
 * again from 0; at most SMALL_FILE_BYTES are wasted. Whatever goes wrong here (a lost
 * connection, a body that fails verification, a file that changed while sent) is also left to
 * the full path, with its retries, refetches and error reports; only an answer the full path
 * would give too (an ERROR from the server: not found, a directory, denied) is thrown as is.
 *
 * Why no lock is needed. The lock (output-lock.ts) keeps two processes from writing into the
 * same OUTPUT.part. This path never opens OUTPUT.part, its state or its lock: it writes into
 * `OUTPUT.part.<pid>.<n>.tmp`, created O_EXCL, a name no other process uses (the pid is ours
 * while we live), so no other process ever writes into our file and we never write into
 * anyone's. The file holds bytes already verified against the server's digests before it is
 * created; it is made durable (by the batch's one syncfs, small-batch.ts, or by its own fsync
 * where that cannot be trusted), then renamed to OUTPUT, atomically. Should another ftget
 * download the same OUTPUT at the same time, each renames a complete, verified file of its own
 * into place and the last rename wins: the same end state as two runs one after the other. A
 * kill at any point leaves either no output or the verified one, plus at worst the `.tmp` file.
 * An existing OUTPUT.part, state or lock sends the file to the full path, which owns them.
 */
import { closeSync, fsync, futimesSync, lstatSync, opendirSync, openSync } from 'node:fs';
import { renameSync, rmSync } from 'node:fs';
import { writeSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { RemoteError, sha256 } from '@ft/protocol';
import type { End, FileHeader } from '@ft/protocol';
import type { DownloadOptions, DownloadResult } from './download-types.js';
import type { TransferConnection } from './udp/transport.js';
import type { DownloadSession } from './session.js';
import { lockPathFor } from './output-lock.js';
import { partPathFor, statePathFor } from './partial-state.js';
import { checkFileHeader } from './response-checks.js';
import { isRetryable } from './errors.js';
import { abortError } from './retry.js';
import { ChunkLedger } from './verify.js';
import { batchOf } from './small-batch.js';
import type { SmallBatch } from './small-batch.js';

/** Largest file taken whole in one GET and held in memory (one per file in flight). */
export const SMALL_FILE_BYTES = 64 * 1024;

let tempCount = 0;

/** Whether `download()` should try this path first: files of a batch (smallFile), over TCP, no resume. */
export function smallFileEligible(o: DownloadOptions): boolean {
  return (
    o.smallFile === true &&
    o.session !== undefined &&
    o.output !== '-' &&
    o.transport !== 'udp' &&
    o.resume !== true &&
    o.beforeCommit === undefined
  );
}

/** Whether `path` exists; one synchronous lstat (cheaper than a trip to the thread pool). */
function present(path: string): boolean {
  return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
}

/** Directories listed at most this large; past it, each file's names are lstat'ed. */
const LISTING_MAX = 4096;
/** Per session: each output directory's names when first seen, or null (too large to keep). */
const listings = new WeakMap<DownloadSession, Map<string, Set<string> | null>>();

/**
 * Whether the full path's own files for `output` (OUTPUT.part, its state, its lock) exist, from
 * one listing of the directory per run instead of three lstats per file. A name that appears
 * after the listing is another process's download of the same OUTPUT: each then renames a
 * verified file of its own into place and the last rename wins (see the module comment), as
 * when it appears just after an lstat. Our own names there (temp files, renamed outputs) are
 * never among those three.
 */
function partialStatePresent(session: DownloadSession, output: string): boolean {
  let byDir = listings.get(session);
  if (byDir === undefined) listings.set(session, (byDir = new Map()));
  const dir = dirname(output);
  let names = byDir.get(dir);
  if (names === undefined) byDir.set(dir, (names = listDir(dir)));
  if (names === null)
    return (
      present(partPathFor(output)) || present(statePathFor(output)) || present(lockPathFor(output))
    );
  const part = basename(partPathFor(output));
  return (
    names.has(part) ||
    names.has(basename(statePathFor(output))) ||
    names.has(basename(lockPathFor(output)))
  );
}

/** The names in `dir` (a missing one: none), or null past LISTING_MAX. */
function listDir(dir: string): Set<string> | null {
  let handle;
  try {
    handle = opendirSync(dir, { bufferSize: 256 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Set();
    return null;
  }
  const names = new Set<string>();
  try {
    for (let e = handle.readSync(); e !== null; e = handle.readSync()) {
      if (names.size >= LISTING_MAX) return null;
      names.add(e.name);
    }
  } finally {
    handle.closeSync();
  }
  return names;
}

/**
 * Downloads `o.remote` to `o.output` if it is a small file; undefined when the full path must
 * (a larger file, local partial state, or any failure it handles better: see the module comment).
 */
export async function downloadSmall(o: DownloadOptions): Promise<DownloadResult | undefined> {
  const batch = batchOf(o.session!);
  batch.startReceiving();
  let receiving = true;
  const received = (): void => {
    if (receiving) batch.received();
    receiving = false;
  };
  try {
    return await fetchAndCommit(o, batch, received);
  } finally {
    received();
  }
}

async function fetchAndCommit(
  o: DownloadOptions,
  batch: SmallBatch,
  received: () => void,
): Promise<DownloadResult | undefined> {
  const started = performance.now();
  const session = o.session!;
  // Existing partial state, a lock, or an output we may not replace: the full path decides.
  if (partialStatePresent(session, o.output)) return undefined;
  if (o.force !== true && present(o.output)) return undefined;
  const options = { signal: o.signal, timeoutMs: o.stallTimeoutMs ?? 30_000 };
  let header: FileHeader | undefined;
  let body: Buffer | undefined;
  let filled = 0;
  let end: End;
  let connection: TransferConnection;
  try {
    connection = await session.acquire(o.transport, o.remote, options);
  } catch {
    return undefined;
  }
  try {
    end = await connection.get(
      { path: o.remote.path, offset: 0, length: SMALL_FILE_BYTES, wantDigests: true },
      {
        onHeader: (h) => {
          checkFileHeader(h, {
            offset: 0,
            length: SMALL_FILE_BYTES,
            validator: undefined,
            known: undefined,
          });
          header = h;
          body = Buffer.allocUnsafe(h.length);
        },
        onData: (chunk) => {
          // The chunk may view receive memory that is reused on return: copy it.
          filled += chunk.copy(body!, filled);
        },
      },
    );
    session.release(o.transport, o.remote, options, connection);
  } catch (error) {
    session.abandon(connection);
    if (o.signal?.aborted) throw abortError();
    // The server's answer for this file (not found, is a directory…): the full path's too.
    if (error instanceof RemoteError && error.requestId !== 0 && !isRetryable(error)) throw error;
    return undefined;
  }
  const h = header!;
  if (end.status !== 0 || h.size > SMALL_FILE_BYTES || filled !== h.size) return undefined;
  const ledger = new ChunkLedger(h.size, h.chunkSize, h.root);
  ledger.learn(h.firstChunk, h.chunkDigests);
  for (let i = 0; i < ledger.count; i++) {
    const { offset, length } = ledger.rangeOf(i);
    ledger.record(i, sha256(body!.subarray(offset, offset + length)));
  }
  if (ledger.unverifiedBelow(ledger.count).length > 0 || !ledger.rootMatches()) return undefined;
  if (batch.batched) await batch.room();
  o.signal?.throwIfAborted();
  // No await from here to the batch's add(): the flush's descriptor is opened before the write.
  if (batch.batched) batch.prepare(dirname(o.output));
  const temp = writeTemp(o, body!, h.mtimeMs);
  // A batch may hold many files until its flush: their bytes are in the page cache, not here.
  body = undefined;
  await commit(o, temp, batch, received);
  o.onProgress?.({ path: o.output, bytes: h.size, total: h.size, resumedFrom: 0 });
  return {
    path: o.output,
    bytes: h.size,
    resumedFrom: 0,
    durationMs: performance.now() - started,
    digest: h.root.toString('hex'),
    validator: h.validator.toString('hex'),
    attempts: 1,
    alreadyComplete: false,
  };
}

/** A temp file of ours holding a file's verified bytes, not yet fsynced (`fd` still open). */
interface Temp {
  path: string;
  fd: number;
}

/**
 * Writes the verified bytes into a new file of ours (created O_EXCL). The calls are synchronous:
 * microseconds each for one write of at most SMALL_FILE_BYTES into the page cache, and no
 * promise or thread hop per call. On failure the file is removed.
 */
function writeTemp(o: DownloadOptions, bytes: Buffer, mtimeMs: number): Temp {
  const path = `${partPathFor(o.output)}.${process.pid}.${++tempCount}.tmp`;
  const fd = openSync(path, 'wx', 0o644);
  try {
    for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at, at);
    if (o.preserveMtime === true) futimesSync(fd, new Date(), new Date(mtimeMs));
  } catch (error) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw error;
  }
  return { path, fd };
}

/**
 * Makes the temp file durable and renames it to the output: only then does the output name
 * see it. Batched (small-batch.ts): it joins the batch unsynced, the download's slot is given
 * back (`onWritten`: the next file's GET goes out) and the rename waits for the batch's flush.
 * Otherwise it is fsynced by itself, in the thread pool beside the other files' work.
 */
async function commit(
  o: DownloadOptions,
  temp: Temp,
  batch: SmallBatch,
  received: () => void,
): Promise<void> {
  if (batch.batched) {
    const committed = batch.add(temp.fd, temp.path, o.output, o.signal);
    received();
    o.onWritten?.();
    await committed;
    return;
  }
  let open = true;
  try {
    await new Promise<void>((resolve, reject) =>
      fsync(temp.fd, (error) => (error === null ? resolve() : reject(error))),
    );
    open = false;
    closeSync(temp.fd);
    renameSync(temp.path, o.output);
    o.session!.syncDirectoryLater(dirname(o.output));
  } catch (error) {
    if (open) closeSync(temp.fd);
    rmSync(temp.path, { force: true });
    throw error;
  }
}
