/**
 * Streams a byte range of an open file to a socket. Up to two buffers are in use per transfer:
 * one is being written to the socket while the next is read from disk, and a buffer goes back to
 * the process's pool only after the socket has taken all of it. The socket therefore throttles
 * the disk reads, memory per transfer is at most two buffers whatever the file size, memory per
 * process is bounded by the pool's budget, and file bytes are never copied into frames. A
 * Throttle (the rate limits) paces the reads, and so the sends, in small pieces.
 */
import { read, readSync } from 'node:fs';
import type { Socket } from 'node:net';
import { promisify } from 'node:util';
import type { Throttle } from '@ft/protocol';

const readAsync = promisify(read);

/** Size of each read buffer. */
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

/** Bytes of read buffers one process may hold at once (16 MiB: 32 buffers of 512 KiB). */
export const READ_BUFFER_BUDGET = 16 * 1024 * 1024;

/**
 * The read buffers of one process, shared by all its connections under a memory budget. A
 * transfer borrows a buffer for each read and gives it back once the socket has taken it, so a
 * connection holds at most two at a time (one being sent, one being filled) and a stalled client
 * holds no more than that; when the budget is spent, transfers wait in turn (FIFO) for a buffer.
 * Memory for reads therefore stays at most the budget, whatever the number of connections or the
 * file sizes, and buffers are reused instead of left to the garbage collector.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  private readonly waiters: ((buffer: Buffer) => void)[] = [];
  private allocated = 0;
  private readonly max: number;

  constructor(
    readonly bufferSize = READ_BUFFER_SIZE,
    budget = READ_BUFFER_BUDGET,
  ) {
    // At least two, so one transfer can always overlap a read with a send.
    this.max = Math.max(2, Math.floor(budget / bufferSize));
  }

  /** Buffers currently allocated (free or lent). */
  get buffers(): number {
    return this.allocated;
  }

  /** A buffer, now if one is free or the budget allows another, else once one is released. */
  acquire(): Promise<Buffer> {
    const ready = this.free.pop();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.allocated < this.max) {
      this.allocated++;
      return Promise.resolve(Buffer.allocUnsafeSlow(this.bufferSize));
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Gives a buffer back; the caller must not touch it afterwards. */
  release(buffer: Buffer): void {
    const next = this.waiters.shift();
    if (next !== undefined) next(buffer);
    else this.free.push(buffer);
  }
}

/** The pool of this process (every connection of a worker shares it). */
export const sharedBufferPool = new BufferPool();

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
  pool: BufferPool,
  onProgress: (bytes: number) => void = () => {},
  throttle?: Throttle,
): Promise<number> {
  if (length === 0) {
    await writeTo(socket, header);
    return 0;
  }
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
      const buffer = await pool.acquire();
      let bytesRead: number;
      try {
        // Under a rate limit, pieces of about 1/20 s keep the pace smooth.
        const want = Math.min(buffer.length, end - position, throttle?.chunk ?? Infinity);
        ({ bytesRead } = await readAsync(fd, buffer, 0, want, position));
        if (bytesRead === 0) throw new TruncatedFileError(position);
      } catch (error) {
        pool.release(buffer);
        throw error;
      }
      if (throttle !== undefined) {
        try {
          await throttle.consume(bytesRead);
        } catch (error) {
          pool.release(buffer);
          throw error;
        }
      }
      // The buffer goes back to the pool once the socket is done with it, sent or failed.
      inFlight[slot] = quiet(
        writeTo(socket, buffer.subarray(0, bytesRead)).finally(() => pool.release(buffer)),
      );
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
