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

/**
 * Writes `header`, then the range with a CHUNK_DIGEST after each chunk's bytes. Resolves with
 * the digests of the whole version when the pass covered every chunk (else undefined) once the
 * socket has taken everything; rejects (TruncatedFileError, a socket error) otherwise, and the
 * caller must cut the connection.
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
  const first = Math.floor(r.offset / r.chunkSize);
  const last = Math.floor((end - 1) / r.chunkSize);
  // Every chunk, in order from byte 0 to EOF: this pass can fill the digest cache. It does not
  // hash the whole file a second time for its plain SHA-256 (one more pass of SHA-256 on this
  // thread, about a fifth slower a send): that is computed when a STAT first asks for it.
  const whole = first === 0 && end === r.size;
  const digests: Buffer[] = [];
  let pendingHeader: Buffer | undefined = header;
  let sent = 0;
  for (let index = first; index <= last; index++) {
    const chunkStart = index * r.chunkSize;
    const chunkEnd = Math.min(chunkStart + r.chunkSize, r.size);
    const hash = createHash('sha256');
    let position = chunkStart;
    while (position < chunkEnd) {
      const buffer = await o.pool.acquire(o.address);
      try {
        // Reads stop at the range's edges so that each read is either all sent or all skipped.
        const edge = position < r.offset ? r.offset : position < end ? end : chunkEnd;
        const stop = Math.min(edge, chunkEnd);
        const want = Math.min(buffer.length, stop - position, o.throttle?.chunk ?? Infinity);
        const { bytesRead } = await readAsync(r.fd, buffer, 0, want, position);
        if (bytesRead === 0) throw new TruncatedFileError(position);
        const data = buffer.subarray(0, bytesRead);
        if (position >= r.offset && position < end) {
          if (o.throttle !== undefined) await o.throttle.consume(bytesRead);
          // Hashed while the socket takes the bytes (the write only reads the buffer): when the
          // peer is slower than SHA-256, the hash costs no time at all.
          const written =
            pendingHeader !== undefined
              ? writeAll(socket, [pendingHeader, data])
              : writeTo(socket, data);
          pendingHeader = undefined;
          hash.update(data);
          await written;
          sent += bytesRead;
          o.onTaken?.(sent);
        } else {
          hash.update(data);
        }
        position += bytesRead;
      } finally {
        o.pool.release(buffer, o.address);
      }
    }
    const digest = hash.digest();
    if (whole) digests.push(digest);
    const root = index === last && whole ? rootDigest(digests) : undefined;
    const frame = encodeChunkDigest({ requestId: r.requestId, index, digest, root });
    // Small frames need no backpressure of their own: the next data write waits for the socket.
    if (index === last) await writeTo(socket, frame);
    else socket.write(frame);
  }
  if (!whole) return undefined;
  return {
    chunkSize: r.chunkSize,
    root: rootDigest(digests),
    chunkDigests: digests,
    sha256: SHA256_UNKNOWN,
  };
}
