/**
 * The body of a FILE whose digests are streamed (protocol version 3, PROTOCOL.md §4.13): the
 * range is sent chunk by chunk, each chunk hashed as it is read, and after the range's bytes of
 * each chunk a CHUNK_DIGEST frame carries the digest of the whole chunk. The first byte leaves
 * after one read, whatever the file's size: nothing is hashed before the header.
 *
 * A chunk the range covers only in part is read whole: the bytes before the range (a resume
 * from mid-chunk) and after it (a range ending mid-chunk) are read and hashed, not sent, so the
 * extra work is at most two chunks. When the range starts in chunk 0 and runs to the end of the
 * file, the pass saw every byte in order: it yields the version's digests (root, whole-file
 * SHA-256), and the root rides on the last CHUNK_DIGEST.
 */
import { createHash } from 'node:crypto';
import { read } from 'node:fs';
import type { Socket } from 'node:net';
import { promisify } from 'node:util';
import { encodeChunkDigest, rootDigest } from '@ft/protocol';
import type { Throttle } from '@ft/protocol';
import { SHA256_UNKNOWN } from './digest-cache.js';
import type { FileDigests } from './digest-cache.js';
import { TruncatedFileError, writeAll, writeTo } from './file-sender.js';
import type { BufferPool } from './file-sender.js';

const readAsync = promisify(read);

export interface StreamedRange {
  requestId: number;
  fd: number;
  size: number;
  chunkSize: number;
  offset: number;
  length: number;
}

export interface StreamedSendOptions {
  pool: BufferPool;
  address: string;
  onTaken?: (bytes: number) => void;
  throttle?: Throttle | undefined;
}

/** One read of the pass: bytes [at, at + length) of chunk `index`, sent or only hashed. */
interface Piece {
  at: number;
  length: number;
  index: number;
  send: boolean;
  /** The last piece of its chunk: its CHUNK_DIGEST follows. */
  endsChunk: boolean;
}

/**
 * The reads of one pass, in file order: whole chunks from the first the range touches to the
 * last, cut at the range's edges (so that a read is either all sent or all skipped), at chunk
 * ends and at the buffer size.
 */
function* piecesOf(r: StreamedRange, bufferSize: number, most: number): Generator<Piece> {
  const end = r.offset + r.length;
  const first = Math.floor(r.offset / r.chunkSize);
  const last = Math.floor((end - 1) / r.chunkSize);
  for (let index = first; index <= last; index++) {
    const chunkEnd = Math.min((index + 1) * r.chunkSize, r.size);
    let at = index * r.chunkSize;
    while (at < chunkEnd) {
      const edge = at < r.offset ? r.offset : at < end ? end : chunkEnd;
      const stop = Math.min(edge, chunkEnd, at + bufferSize, at + most);
      yield {
        at,
        length: stop - at,
        index,
        send: at >= r.offset && at < end,
        endsChunk: stop === chunkEnd,
      };
      at = stop;
    }
  }
}

/** Reads a piece whole into a pool buffer (released by the caller, or here on failure). */
async function readPiece(
  fd: number,
  piece: Piece,
  o: StreamedSendOptions,
): Promise<{ piece: Piece; buffer: Buffer }> {
  const buffer = await o.pool.acquire(o.address);
  try {
    let got = 0;
    while (got < piece.length) {
      const { bytesRead } = await readAsync(fd, buffer, got, piece.length - got, piece.at + got);
      if (bytesRead === 0) throw new TruncatedFileError(piece.at + got);
      got += bytesRead;
    }
    if (piece.send && o.throttle !== undefined) await o.throttle.consume(piece.length);
    return { piece, buffer };
  } catch (error) {
    o.pool.release(buffer, o.address);
    throw error;
  }
}

/**
 * Writes `header`, then the range with a CHUNK_DIGEST after each chunk's bytes. Resolves with
 * the digests of the whole version when the pass covered every chunk (else undefined) once the
 * socket has taken everything; rejects (TruncatedFileError, a socket error) otherwise, and the
 * caller must cut the connection. As in sendRange, the next read runs while the socket takes
 * the current buffer (at most two pool buffers per transfer; under a rate limit, one, reads and
 * writes alternating), and the hash runs while the socket takes the bytes it reads.
 */
export async function sendStreamed(
  socket: Socket,
  header: Buffer,
  r: StreamedRange,
  o: StreamedSendOptions,
): Promise<FileDigests | undefined> {
  const end = r.offset + r.length;
  if (r.length === 0) {
    await writeTo(socket, header);
    return undefined;
  }
  const last = Math.floor((end - 1) / r.chunkSize);
  // Every chunk, in order from byte 0 to EOF: this pass can fill the digest cache. It does not
  // hash the whole file a second time for its plain SHA-256 (one more pass of SHA-256 on this
  // thread, about a fifth slower a send): that is computed when a STAT first asks for it.
  const whole = r.offset < r.chunkSize && end === r.size;
  const digests: Buffer[] = [];
  const pieces = piecesOf(r, o.pool.bufferSize, o.throttle?.chunk ?? Infinity);
  const readNext = (): Promise<{ piece: Piece; buffer: Buffer }> | undefined => {
    const step = pieces.next();
    return step.done === true ? undefined : readPiece(r.fd, step.value, o);
  };
  let pendingHeader: Buffer | undefined = header;
  let hash = createHash('sha256');
  let sent = 0;
  let next = readNext();
  try {
    while (next !== undefined) {
      const { piece, buffer } = await next;
      next = undefined;
      try {
        if (o.throttle === undefined) next = readNext();
        const data = buffer.subarray(0, piece.length);
        if (piece.send) {
          // The write only reads the buffer: hashing it meanwhile costs no time when the peer
          // is slower than SHA-256.
          const written =
            pendingHeader !== undefined
              ? writeAll(socket, [pendingHeader, data])
              : writeTo(socket, data);
          pendingHeader = undefined;
          hash.update(data);
          await written;
          sent += piece.length;
          o.onTaken?.(sent);
        } else hash.update(data);
      } finally {
        o.pool.release(buffer, o.address);
      }
      if (piece.endsChunk) {
        const digest = hash.digest();
        hash = createHash('sha256');
        if (whole) digests.push(digest);
        const root = piece.index === last && whole ? rootDigest(digests) : undefined;
        const frame = encodeChunkDigest({
          requestId: r.requestId,
          index: piece.index,
          digest,
          root,
        });
        // Small frames need no backpressure of their own: the next data write waits for the socket.
        if (piece.index === last) await writeTo(socket, frame);
        else socket.write(frame);
      }
      if (next === undefined && o.throttle !== undefined) next = readNext();
    }
  } finally {
    // A failed write leaves the read ahead in flight: its buffer goes back once it is done.
    if (next !== undefined)
      next.then(
        ({ buffer }) => o.pool.release(buffer, o.address),
        () => {},
      );
  }
  if (!whole) return undefined;
  return {
    chunkSize: r.chunkSize,
    root: rootDigest(digests),
    chunkDigests: digests,
    sha256: SHA256_UNKNOWN,
  };
}
