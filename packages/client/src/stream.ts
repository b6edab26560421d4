/**
 * `-o -`: stream a remote file to a Writable (stdout) with nothing unverified ever emitted.
 * Each chunk is held until its digest (computed on the hashing thread) matches, then written;
 * memory is a chunk plus a bounded number of chunks awaiting their digest. A dropped
 * connection resumes after the last emitted chunk. A chunk that does not match is never
 * emitted: if the remote file changed meanwhile (END says CHANGED, or the server now names
 * another version) that is FT_REMOTE_CHANGED — or, when nothing was emitted yet, a silent
 * start over — else FT_INTEGRITY, since emitted bytes cannot be taken back.
 */
import {
  DIGEST_SIZE,
  EndStatus,
  RemoteError,
  STREAM_DIGESTS_MIN_VERSION,
  rootDigest,
} from '@ft/protocol';
import type { End } from '@ft/protocol';
import { Connection } from './connection.js';
import { openConnection } from './udp/transport.js';
import type { TransferConnection } from './udp/transport.js';
import { ClientError, ClientErrorCode, isRetryable } from './errors.js';
import type { DownloadOptions, DownloadResult } from './download-types.js';
import { ChunkDigester } from './hashing/chunk-digester.js';
import { ringHasherFor, startRingThreadFor } from './hashing/ring-hasher.js';
import { usesTls } from './tls-options.js';
import { formatServer } from './remote.js';
import { fitsPinned } from './receive/receive-ring.js';
import { checkFileHeader } from './response-checks.js';
import { RetryBudget, retryOptionsOf } from './retry.js';

/** Times the remote may change before anything was emitted, before we give up. */
const MAX_RESTARTS = 3;
/** Bytes held awaiting digests, beyond one chunk, before the socket is paused. */
const HOLD_BYTES = 8 * 1024 * 1024;

interface Version {
  size: number;
  chunkSize: number;
  root: Buffer;
  validator: Buffer;
  digests: (Buffer | undefined)[];
}

/** The root of a version whose digests were streamed, until one is known. */
const NO_ROOT = Buffer.alloc(DIGEST_SIZE);

/** A chunk that did not match its digest (internal: classified before it is reported). */
class ChunkMismatch extends Error {
  constructor(readonly chunk: number) {
    super(`chunk ${chunk} does not match its digest`);
  }
}

/** The remote changed under the stream (internal: becomes a restart or FT_REMOTE_CHANGED). */
class StreamChanged extends Error {}

/** Streams `o.remote` to `o.stdout` (default process.stdout); see the module comment. */
export async function streamToWritable(o: DownloadOptions): Promise<DownloadResult> {
  const out = o.stdout ?? process.stdout;
  const started = performance.now();
  const budget = new RetryBudget(retryOptionsOf(o));
  let version: Version | undefined;
  let emitted = 0;
  let restarts = 0;
  let outError: Error | undefined;
  let connection: TransferConnection | undefined;
  const onOutError = (error: Error): void => {
    outError = error;
    connection?.close();
  };
  out.on('error', onOutError);
  try {
    for (;;) {
      budget.start();
      const before = emitted;
      try {
        connection = await openConnection(o.transport, o.remote, {
          signal: o.signal,
          timeoutMs: o.stallTimeoutMs ?? 30_000,
        });
        await streamOnce(connection, o, out, version, emitted, {
          onVersion: (v) => (version = v),
          onEmitted: (n) => {
            emitted += n;
            o.onProgress?.({
              path: '-',
              bytes: emitted,
              total: version?.size ?? 0,
              resumedFrom: 0,
            });
          },
        });
        break;
      } catch (caught) {
        if (outError !== undefined) throw outError;
        const error = caught as Error;
        if (emitted > before) budget.progress();
        const changed =
          error instanceof StreamChanged ||
          (error instanceof RemoteError && error.code === 'FT_PRECONDITION_FAILED');
        if (changed) {
          if (emitted > 0 || ++restarts > MAX_RESTARTS) {
            throw new ClientError(
              ClientErrorCode.REMOTE_CHANGED,
              emitted > 0
                ? `${o.remote.path} changed on the server after ${emitted} bytes were written to stdout`
                : `${o.remote.path} keeps changing on the server (${restarts} versions seen)`,
              {
                hint:
                  emitted > 0
                    ? 'stdout received only verified bytes of the previous version; run the command again to stream the new one'
                    : 'try again once the file has stopped changing',
              },
            );
          }
          version = undefined;
          continue;
        }
        if (!isRetryable(error)) throw error;
        if (
          !(await budget.shouldRetry(
            (error as { retryAfterMs?: number }).retryAfterMs,
            o.signal,
            error,
          ))
        ) {
          throw error;
        }
      } finally {
        connection?.close();
        connection = undefined;
      }
    }
  } finally {
    // Verified chunks may still sit in the stream's buffer: on success and on failure alike,
    // they must reach the reader before the process exits.
    if (outError === undefined) await drained(out);
    out.removeListener('error', onOutError);
  }
  // The reader may have gone away while the last verified chunks were written.
  if (outError !== undefined) throw outError;
  const v = version!;
  // Streamed digests (§4.13) bring no root unless one pass covered the whole file: every chunk
  // was verified against its digest, so the root is theirs.
  const root = v.root.equals(NO_ROOT) ? rootDigest(v.digests as Buffer[]) : v.root;
  return {
    path: '-',
    bytes: v.size,
    resumedFrom: 0,
    durationMs: performance.now() - started,
    digest: root.toString('hex'),
    validator: v.validator.toString('hex'),
    attempts: budget.attempts,
    alreadyComplete: false,
  };
}

interface HeldChunk {
  index: number;
  pieces: Buffer[];
  /** One per piece when the pieces are pinned receive memory: run once the piece is written. */
  releases: (() => void)[];
  bytes: number;
}

/** One GET from `offset` (a chunk boundary) to EOF, emitting chunk by chunk as they verify. */
async function streamOnce(
  connection: TransferConnection,
  o: DownloadOptions,
  out: NodeJS.WritableStream,
  known: Version | undefined,
  offset: number,
  events: { onVersion(v: Version): void; onEmitted(n: number): void },
): Promise<void> {
  let version = known;
  let digester: ChunkDigester | undefined;
  /** Complete chunks awaiting their digest, in order, then the chunk being received. */
  const held: HeldChunk[] = [];
  let heldBytes = 0;
  let outBlocked = false;
  const resumeIfClear = (): void => {
    if (outBlocked || digester?.congested || heldBytes > holdLimit()) return;
    connection.resume();
  };
  const holdLimit = (): number => (version?.chunkSize ?? 0) + HOLD_BYTES;
  /**
   * Digests of held chunks computed here whose expected digest has not arrived yet: with
   * streamed digests (§4.13) either may come first, and a chunk is emitted only with both.
   */
  const computed = new Map<number, Buffer>();
  let streamMismatch: ChunkMismatch | undefined;
  /** Emits the held chunks, in order, whose computed and expected digests are both known. */
  const settle = (): void => {
    for (;;) {
      const chunk = held[0];
      const local = chunk === undefined ? undefined : computed.get(chunk.index);
      const expected = chunk === undefined ? undefined : version!.digests[chunk.index];
      if (local === undefined || expected === undefined) return;
      computed.delete(chunk!.index);
      if (!local.equals(expected)) throw new ChunkMismatch(chunk!.index);
      held.shift();
      emit(chunk!);
    }
  };
  // The digester reports chunks in order, so `index` is always a held chunk's.
  const onChunk = (index: number, digest: Buffer): void => {
    computed.set(index, digest);
    settle();
  };
  const emit = (chunk: HeldChunk): void => {
    let ok = true;
    chunk.pieces.forEach((piece, k) => {
      ok = out.write(piece, chunk.releases[k]) && ok;
    });
    heldBytes -= chunk.bytes;
    events.onEmitted(chunk.bytes);
    if (!ok && !outBlocked) {
      outBlocked = true;
      out.once('drain', () => {
        outBlocked = false;
        resumeIfClear();
      });
    }
    resumeIfClear();
  };

  let end: End | undefined;
  let failure: unknown;
  // Streamed digests over TCP to a version-3 server: the first byte comes without a hash pass.
  const streamDigests =
    connection instanceof Connection &&
    (await connection.serverVersion()) >= STREAM_DIGESTS_MIN_VERSION;
  try {
    end = await connection.get(
      {
        path: o.remote.path,
        offset,
        length: undefined,
        validator: version?.validator,
        wantDigests: true,
        ...(streamDigests ? { streamDigests: true } : {}),
      },
      {
        onChunkDigest: (m) => {
          const v = version!;
          const known = v.digests[m.index];
          if (known !== undefined && !known.equals(m.digest))
            throw new ClientError(
              ClientErrorCode.BAD_RESPONSE,
              `the server sent two different digests for chunk ${m.index} of the same file version`,
            );
          v.digests[m.index] = m.digest;
          if (m.root !== undefined) v.root = m.root;
          try {
            settle();
          } catch (error) {
            if (error instanceof ChunkMismatch) streamMismatch = error;
            throw error;
          }
        },
        onHeader: (h) => {
          checkFileHeader(h, {
            offset,
            length: undefined,
            streamed: streamDigests,
            validator: version?.validator,
            known: version,
          });
          if (version === undefined) {
            version = {
              size: h.size,
              chunkSize: h.chunkSize,
              root: h.root,
              validator: h.validator,
              digests: new Array<Buffer | undefined>(Math.ceil(h.size / h.chunkSize)).fill(
                undefined,
              ),
            };
            events.onVersion(version);
          }
          h.chunkDigests.forEach((d, k) => (version!.digests[h.firstChunk + k] = d));
          const first = Math.floor(offset / h.chunkSize);
          // A large TCP body is hashed beside the event loop once the thread is up (ring-hasher.ts).
          startRingThreadFor(h.size - offset, usesTls(o.remote), o.transport);
          held.push({ index: first, pieces: [], releases: [], bytes: 0 });
          digester = new ChunkDigester(h.chunkSize, first, onChunk, {
            inline: true,
            ring: ringHasherFor(o.transport),
            onLow: resumeIfClear,
            onError: () => connection.close(),
          });
        },
        onData: (received, pin) => {
          const v = version!;
          // Pieces are held until their chunk verifies: in the receive ring under a pin when a
          // whole chunk fits there (else the ring would wait for the chunk and the chunk for the
          // ring; the ring's backpressure then bounds what is held), else copied out of it.
          const keep = pin !== undefined && fitsPinned(v.chunkSize) ? pin : undefined;
          const data = pin !== undefined && keep === undefined ? Buffer.from(received) : received;
          let rest = data;
          while (rest.length > 0) {
            const current = held[held.length - 1]!;
            const chunkEnd = Math.min((current.index + 1) * v.chunkSize, v.size);
            const need = chunkEnd - (current.index * v.chunkSize + current.bytes);
            const piece = rest.length > need ? rest.subarray(0, need) : rest;
            current.pieces.push(piece);
            if (keep !== undefined) current.releases.push(keep());
            current.bytes += piece.length;
            heldBytes += piece.length;
            rest = rest.subarray(piece.length);
            if (piece.length === need)
              held.push({ index: current.index + 1, pieces: [], releases: [], bytes: 0 });
          }
          if (keep === undefined) digester!.update(data);
          else digester!.updateShared(data, keep());
          if (outBlocked || digester!.congested || heldBytes > holdLimit()) connection.pause();
        },
      },
    );
    digester?.finish();
  } catch (error) {
    failure = error;
  }
  // Whatever happened, chunks already received and verified still go out (less to refetch).
  await digester?.flushed().catch(() => {});
  digester?.dispose();
  const hashFailure = streamMismatch ?? digester?.failed;
  if (hashFailure instanceof ChunkMismatch) {
    if (end?.status === EndStatus.CHANGED || (await remoteChanged(o, version!))) {
      throw new StreamChanged(`${o.remote.path} changed on the server while it was streamed`);
    }
    throw new ClientError(
      ClientErrorCode.INTEGRITY,
      `chunk ${hashFailure.chunk} of ${o.remote.path} from ${formatServer(o.remote)} does not match its digest; stopped before writing it`,
      { hint: 'stdout received only verified chunks before it; retry later or download to a file' },
    );
  }
  if (hashFailure !== undefined) throw hashFailure;
  if (failure !== undefined) throw failure;
  if (end!.status !== EndStatus.OK) {
    // Every chunk matched the version's digests: stdout holds that version, complete.
    o.onWarning?.(
      `${o.remote.path} changed on the server right after it was sent; stdout holds the complete, verified version that was current when the transfer started`,
    );
  }
}

function drained(out: NodeJS.WritableStream): Promise<void> {
  if (!(out as { writableNeedDrain?: boolean }).writableNeedDrain) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      out.removeListener('drain', done);
      out.removeListener('error', done);
      out.removeListener('close', done);
      resolve();
    };
    out.once('drain', done);
    out.once('error', done);
    out.once('close', done);
  });
}

/** After a mismatch: does the server now name another version (or no file at all)? */
async function remoteChanged(o: DownloadOptions, version: Version): Promise<boolean> {
  let connection: TransferConnection | undefined;
  try {
    connection = await openConnection(o.transport, o.remote, {
      signal: o.signal,
      timeoutMs: o.stallTimeoutMs ?? 30_000,
    });
    const st = await connection.stat(o.remote.path, false);
    return !st.validator.equals(version.validator);
  } catch (error) {
    if (error instanceof RemoteError && error.code === 'FT_NOT_FOUND') return true;
    // Cannot tell: report what we know for sure, the mismatch.
    return false;
  } finally {
    connection?.close();
  }
}
