/**
 * One attempt of a file download over one connection: fill the partial up to the end of the
 * file, then refetch the chunks that failed verification, then settle chunks whose expected
 * digest was never sent (a partial found without its state) through the root digest.
 */
import {
  DigestAlgorithm,
  EntryKind,
  RemoteError,
  STREAM_DIGESTS_MIN_VERSION,
  WireError,
  sameValidator,
} from '@ft/protocol';
import type { ChunkDigest, FileHeader } from '@ft/protocol';
import { Connection } from '../connection.js';
import { openConnection } from '../udp/transport.js';
import type { TransferConnection } from '../udp/transport.js';
import { ClientError, ClientErrorCode } from '../errors.js';
import type { ChunkDigester } from '../hashing/chunk-digester.js';
import { startRingThreadFor } from '../hashing/ring-hasher.js';
import { usesTls } from '../tls-options.js';
import { checkFileHeader } from '../response-checks.js';
import { ChunkLedger } from '../verify.js';
import type { DownloadJob } from './job.js';
import { UntrustedState, primeTail, rehashBeside } from './local-partial.js';
import { runsOf } from './runs.js';
import { adoptValidator, sameContent } from './same-content.js';

/** Times one chunk may be refetched after failing verification before we call it an integrity failure. */
export const MAX_REFETCHES = 3;

/** One connection: fill the partial to the end, then repair bad chunks, then settle unknown ones. */
export async function attempt(job: DownloadJob): Promise<void> {
  const { o } = job;
  const options = { signal: o.signal, timeoutMs: o.stallTimeoutMs ?? 30_000 };
  const connection =
    o.session === undefined
      ? await openConnection(o.transport, o.remote, options)
      : await o.session.acquire(o.transport, o.remote, options);
  job.connection = connection;
  let clean = false;
  try {
    if (job.unprimedBytes > 0) await learnVersionByStat(job, connection);
    if (job.ledger === undefined || job.fillEnd < job.ledger.size || !job.fetchedSomething) {
      await fetchFollowingCopies(job, connection);
    }
    await job.partialHashed();
    const ledger = job.ledger!;
    const tail = job.tail;
    job.tail = undefined;
    if (tail !== undefined) {
      try {
        if (job.fillEnd === ledger.size) tail.finish();
        await tail.flushed();
      } finally {
        tail.dispose();
      }
    }
    await job.settlePartialCheck();
    for (;;) {
      const bad = ledger.unverifiedBelow(ledger.count).filter((i) => ledger.hasExpected(i));
      if (bad.length > 0) {
        // RECHECK: should the server's digests be stale, it drops them and says the version
        // changed (PRECONDITION_FAILED), and the download starts over with fresh ones.
        await refetch(job, connection, bad, true);
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
      await refetch(job, connection, unknown, false);
    }
    clean = true;
  } finally {
    // A failed attempt still lets the partial's hashing end before anything else touches it.
    await job.partialHashed().catch(() => {});
    job.connection = undefined;
    // Every request on it completed: the next download of the batch may reuse it.
    if (clean && o.session !== undefined)
      o.session.release(o.transport, o.remote, options, connection);
    // A connection other downloads pipeline on is only closed if it failed itself.
    else if (o.session !== undefined) o.session.abandon(connection);
    else connection.close();
  }
}

/**
 * The fill from job.fillEnd to the end. Refused with PRECONDITION_FAILED before any byte came,
 * it asks on this same connection whether only the validator changed (sameContent) and then
 * goes on here under the new one: behind a load balancer every new connection may reach
 * another replica, each with its own validator, so a STAT or GET on a fresh connection could
 * meet yet another copy and never settle. Anything else goes up to the attempt loop.
 */
async function fetchFollowingCopies(
  job: DownloadJob,
  connection: TransferConnection,
): Promise<void> {
  const from = job.fillEnd;
  try {
    await fetch(job, connection, from, undefined);
  } catch (error) {
    const refused =
      error instanceof RemoteError &&
      error.code === 'FT_PRECONDITION_FAILED' &&
      job.fillEnd === from &&
      job.ledger !== undefined;
    if (!refused) throw error;
    const st = await connection.stat(job.o.remote.path, true);
    if (!sameContent(st, job.ledger!)) throw error;
    await adoptValidator(job, st);
    await fetch(job, connection, from, undefined);
  }
}

/** A partial without state: STAT for the version's digests, then hash the partial once. */
async function learnVersionByStat(job: DownloadJob, connection: TransferConnection): Promise<void> {
  const { o } = job;
  const st = await connection.stat(o.remote.path, true);
  if (st.kind !== EntryKind.FILE) {
    throw new RemoteError(WireError.IS_DIRECTORY, `${o.remote.path} is not a file`, 0, 0);
  }
  if (job.unprimedBytes > st.size) throw job.tooLarge(job.unprimedBytes, st.size);
  if (st.chunkSize === 0) {
    throw new ClientError(ClientErrorCode.BAD_RESPONSE, 'protocol error: STAT without a digest');
  }
  const ledger = new ChunkLedger(st.size, st.chunkSize, st.root);
  job.ledger = ledger;
  job.validator = st.validator;
  job.mtimeMs = st.mtimeMs;
  // Only the incomplete last chunk must be read before the fetch (it primes the tail); the
  // whole chunks are hashed beside the fetch, and checked once both are done.
  const whole = Math.floor(job.unprimedBytes / st.chunkSize);
  await primeTail(job, whole, job.unprimedBytes);
  if (whole > 0) {
    const chunks = Array.from({ length: whole }, (_, i) => i);
    job.hashPartialBeside(
      rehashBeside(job, chunks, ledger.count - whole, (index, digest) => {
        ledger.record(index, digest);
      }),
    );
  }
}

/**
 * GET [offset, offset+length) (to EOF when length is undefined) into the partial. Every
 * received buffer is written as it is (no copy) and hashed where it is (TCP's receive ring is
 * shared with the hashing thread; other buffers are copied for it once); the digests land in
 * the ledger, all of them before this resolves.
 */
async function fetch(
  job: DownloadJob,
  connection: TransferConnection,
  offset: number,
  length: number | undefined,
  recheck = false,
): Promise<void> {
  const writer = job.writer!;
  const sequential = length === undefined;
  let position = offset;
  let digester: ChunkDigester | undefined;
  const streamDigests = await acceptsStreamedDigests(connection);
  const adopted = job.stateAdopted;
  try {
    const end = await connection.get(
      {
        path: job.o.remote.path,
        offset,
        length,
        validator: job.validator,
        wantDigests: true,
        ...(recheck ? { recheck: true } : {}),
        ...(streamDigests ? { streamDigests: true } : {}),
      },
      {
        onChunkDigest: (m) => learnStreamed(job, m, adopted),
        onHeader: (h) => {
          acceptHeader(job, h, offset, length, streamDigests);
          // A large body is hashed beside the event loop once the thread is up (ring-hasher.ts).
          // ... unless the partial is being re-hashed beside this fetch (see startRingThreadFor).
          if (!job.rehashingBeside)
            startRingThreadFor(length ?? h.size - offset, usesTls(job.o.remote), job.o.transport);
          if (sequential && job.tail !== undefined) digester = job.tail;
          else {
            digester = job.newDigester(Math.floor(offset / job.ledger!.chunkSize));
            if (sequential) job.tail = digester;
          }
          job.receiving = digester;
        },
        onData: (chunk, pin) => {
          // Receive-ring bytes are hashed and written in place, each use under its own pin.
          if (pin === undefined) digester!.update(chunk);
          else digester!.updateShared(chunk, pin());
          writer.write(chunk, position, pin?.());
          position += chunk.length;
          if (sequential) job.fillEnd = position;
          job.fetchedSomething = true;
          if (writer.congested || digester!.congested) connection.pause();
          job.tick();
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
    if (!sequential) digester?.finish();
    job.fetchedSomething = true;
    await digester?.flushed();
    await writer.drain();
  } catch (error) {
    // A hashing failure closes the connection: report the cause, not the closed connection.
    throw digester?.failed ?? error;
  } finally {
    job.receiving = undefined;
    if (!sequential) digester?.dispose();
  }
}

/**
 * Whether GETs on `connection` may ask for streamed digests (PROTOCOL.md §4.13): TCP to a
 * server that chose version 3 or later. This waits for WELCOME (one round trip on a new
 * connection); a version-1 or -2 server would refuse the flag.
 */
async function acceptsStreamedDigests(connection: TransferConnection): Promise<boolean> {
  if (!(connection instanceof Connection)) return false;
  return (await connection.serverVersion()) >= STREAM_DIGESTS_MIN_VERSION;
}

/**
 * A chunk's digest, streamed after its bytes: it becomes the chunk's expected digest, and the
 * chunk counts as verified only once its bytes, hashed beside the transfer, match it (the
 * ledger takes the two in either order). The state file records only verified chunks.
 */
function learnStreamed(job: DownloadJob, m: ChunkDigest, adopted: boolean): void {
  const ledger = job.ledger!;
  if (ledger.conflicts(m.index, [m.digest])) {
    if (adopted) throw new UntrustedState('has chunk digests other than the server’s');
    // The server hashed the chunk afresh and got another digest under the same validator: the
    // content changed without the metadata showing it (what RECHECK finds when the server has
    // digests to compare, §4.3), so this version is gone.
    throw new RemoteError(
      WireError.PRECONDITION_FAILED,
      `chunk ${m.index} of ${job.o.remote.path} has another digest than before under the same validator: the file changed`,
      m.requestId,
      0,
    );
  }
  ledger.learn(m.index, [m.digest]);
  if (m.root !== undefined) ledger.adoptRoot(m.root);
}

function acceptHeader(
  job: DownloadJob,
  h: FileHeader,
  offset: number,
  length: number | undefined,
  streamDigests: boolean,
): void {
  const ledger = job.ledger;
  const streamed = h.algorithm === DigestAlgorithm.SHA256_CHUNKS_STREAMED;
  const sameVersion = job.validator !== undefined && sameValidator(h.validator, job.validator);
  if (job.stateAdopted && ledger !== undefined && sameVersion) {
    // Same validator, yet other facts than the state file's: the state is what is wrong.
    if (h.size !== ledger.size)
      throw new UntrustedState(`says the file has ${ledger.size} bytes, the server ${h.size}`);
    if (h.chunkSize !== ledger.chunkSize)
      throw new UntrustedState(
        `says chunks of ${ledger.chunkSize} bytes, the server ${h.chunkSize}`,
      );
    if (!streamed && ledger.rootKnown && !h.root.equals(ledger.root))
      throw new UntrustedState('has a root digest other than the server’s');
    if (h.length > 0 && ledger.conflicts(h.firstChunk, h.chunkDigests))
      throw new UntrustedState('has chunk digests other than the server’s');
  }
  checkFileHeader(h, {
    offset,
    length,
    streamed: streamDigests,
    validator: job.validator,
    known:
      ledger === undefined
        ? undefined
        : { size: ledger.size, chunkSize: ledger.chunkSize, root: ledger.root },
  });
  if (ledger === undefined) {
    // A fresh download: this header names the version. The state file recording it is
    // written later, once there is enough to lose (DownloadJob.tick, or a failed attempt).
    job.ledger = new ChunkLedger(h.size, h.chunkSize, h.root);
    job.validator = h.validator;
    job.mtimeMs = h.mtimeMs;
  }
  if (h.length > 0) job.ledger!.learn(h.firstChunk, h.chunkDigests);
  if (!streamed && !job.ledger!.rootKnown) job.ledger!.adoptRoot(h.root);
  job.stateAdopted = false;
}

/** Refetches the given chunks, one GET per run of consecutive chunks (with RECHECK if asked). */
async function refetch(
  job: DownloadJob,
  connection: TransferConnection,
  chunks: number[],
  recheck: boolean,
): Promise<void> {
  const ledger = job.ledger!;
  for (const i of chunks) {
    const n = (job.refetches.get(i) ?? 0) + 1;
    if (n > MAX_REFETCHES) {
      throw new ClientError(
        ClientErrorCode.INTEGRITY,
        `chunk ${i} of ${job.o.remote.path} failed verification ${MAX_REFETCHES} times`,
        {
          hint: `the partial is kept in ${job.part}; run again with --resume, or --force to start over`,
        },
      );
    }
    job.refetches.set(i, n);
  }
  for (const run of runsOf(chunks)) {
    const first = ledger.rangeOf(run.first);
    const last = ledger.rangeOf(run.first + run.count - 1);
    await fetch(job, connection, first.offset, last.offset + last.length - first.offset, recheck);
  }
}
