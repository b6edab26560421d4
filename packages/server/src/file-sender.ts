/**
 * Streams a byte range of an open file to a socket. Two buffers alternate: one is being written
 * to the socket while the next is read from disk, and a buffer is reused only after the socket
 * has taken all of it. The socket therefore throttles the disk reads, memory per transfer is two
 * buffers whatever the file size, and file bytes are never copied into frames.
 */
import { read, readSync } from 'node:fs';
import type { Socket } from 'node:net';
import { promisify } from 'node:util';

const readAsync = promisify(read);

/** Size of each of the two read buffers. */
export const READ_BUFFER_SIZE = 512 * 1024;
/**
 * Ranges up to this size are read synchronously, at once, into a buffer of their own (see
 * readSmallRange): for small files a thread-pool round trip costs more than the read (a copy
 * from the page cache), and the connection needs no pair of large buffers.
 */
export const SMALL_RANGE = 64 * 1024;

/** Reads bytes [offset, offset + length) of the file `fd`; throws TruncatedFileError if it ends early. */
export function readSmallRange(fd: number, offset: number, length: number): Buffer {
  const data = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, data, got, length - got, offset + got);
    if (n === 0) throw new TruncatedFileError(offset + got);
    got += n;
  }
  return data;
}

/** Writes frames in one system call (cork), and resolves once the socket has taken them all. */
export function writeAll(socket: Socket, frames: Buffer[]): Promise<void> {
  socket.cork();
  const written = frames.map((f) => writeTo(socket, f));
  socket.uncork();
  return Promise.all(written).then(() => {});
}

/** Thrown when the file ends before the announced bytes were read: the caller must cut the connection. */
export class TruncatedFileError extends Error {
  constructor(readonly position: number) {
    super(`file ended at byte ${position} before the announced range`);
    this.name = 'TruncatedFileError';
  }
}

/** Resolves when the socket has taken `data` (flushed to the kernel), rejects if it fails or closes. */
export function writeTo(socket: Socket, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.write(data, (error) => (error ? reject(error) : resolve()));
  });
}

/** A reusable pair of read buffers, allocated on first use. */
export class BufferPair {
  private buffers: [Buffer, Buffer] | undefined;
  get(): [Buffer, Buffer] {
    this.buffers ??= [
      Buffer.allocUnsafeSlow(READ_BUFFER_SIZE),
      Buffer.allocUnsafeSlow(READ_BUFFER_SIZE),
    ];
    return this.buffers;
  }
}

/**
 * Writes `header`, then bytes [offset, offset + length) of the file `fd`, to `socket`. The header and
 * the first data buffer leave in one write (cork). Resolves with the byte count once the socket
 * has taken everything; `onProgress` is told the bytes handed over so far.
 */
export async function sendRange(
  socket: Socket,
  fd: number,
  header: Buffer,
  offset: number,
  length: number,
  buffers: BufferPair,
  onProgress: (bytes: number) => void = () => {},
): Promise<number> {
  if (length === 0) {
    await writeTo(socket, header);
    return 0;
  }
  const pair = buffers.get();
  const inFlight: [Promise<void>, Promise<void>] = [Promise.resolve(), Promise.resolve()];
  // Unobserved rejections of the idle slot would be reported as unhandled; errors surface on await.
  const quiet = (p: Promise<void>): Promise<void> => (p.catch(() => {}), p);
  socket.cork();
  let corked = true;
  const headerWritten = quiet(writeTo(socket, header));
  const end = offset + length;
  let position = offset;
  let slot = 0;
  try {
    while (position < end) {
      await inFlight[slot];
      const buffer = pair[slot]!;
      const want = Math.min(buffer.length, end - position);
      const { bytesRead } = await readAsync(fd, buffer, 0, want, position);
      if (bytesRead === 0) throw new TruncatedFileError(position);
      inFlight[slot] = quiet(writeTo(socket, buffer.subarray(0, bytesRead)));
      if (corked) {
        socket.uncork();
        corked = false;
      }
      position += bytesRead;
      onProgress(position - offset);
      slot ^= 1;
    }
  } finally {
    if (corked) socket.uncork();
  }
  await headerWritten;
  await Promise.all(inFlight);
  return length;
}
