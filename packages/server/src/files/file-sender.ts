/**
 * Streams a byte range of an open file to a socket through read buffers (over plain TCP,
 * sendRange hands it to sendfile-sender.ts instead, unless that is off). At most two buffers are in use per
 * transfer: one being taken by the socket while the next is read from disk; each goes back to
 * the process's pool once the socket has taken all of it. The socket therefore throttles the
 * disk reads, memory per transfer is at most two buffers whatever the file size, memory per process is bounded by
 * the pool's budget, and file bytes are never copied into frames. A Throttle (the rate
 * limits) paces the reads, and so the sends, in small pieces.
 */
import { read, readSync } from 'node:fs';
import type { Socket } from 'node:net';
import { promisify } from 'node:util';
import type { Throttle } from '@ft/protocol';
import { TruncatedFileError, writeAll, writeTo } from './socket-writes.js';
import { sendfileRange } from './sendfile-sender.js';
import type { ZeroCopy } from './sendfile-sender.js';

export { TruncatedFileError, writeAll, writeTo } from './socket-writes.js';

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

/** Bytes of read buffers one process may hold at once (16 MiB: 32 buffers of 512 KiB). */
export const READ_BUFFER_BUDGET = 16 * 1024 * 1024;
/** Fraction of a pool one client address may hold at once (8 of the 32 buffers by default). */
export const ADDRESS_SHARE = 1 / 4;

interface Waiter {
  address: string;
  resolve: (buffer: Buffer) => void;
}

/**
 * The read buffers of one process, shared by all its connections under a memory budget. A
 * transfer borrows at most two buffers at a time (one being sent, the next being read) and gives
 * each back once the socket has taken it, so a stalled client holds at most two. No client address may hold more than its share of the
 * pool at once: the stalled downloads of one address can never take the buffers the others
 * need. When the budget is spent, or an address is at its share, transfers wait in turn (FIFO
 * among those allowed a buffer). Memory for reads therefore stays at most the budget, whatever
 * the number of connections or the file sizes, and buffers are reused instead of left to the
 * garbage collector.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly held = new Map<string, number>();
  private allocated = 0;
  /** Most buffers allocated at once. */
  readonly max: number;
  /** Most buffers one address may hold at once. */
  readonly perAddress: number;

  constructor(
    readonly bufferSize = READ_BUFFER_SIZE,
    budget = READ_BUFFER_BUDGET,
    share = ADDRESS_SHARE,
  ) {
    this.max = Math.max(1, Math.floor(budget / bufferSize));
    this.perAddress = Math.max(1, Math.min(this.max, Math.floor(this.max * share)));
  }

  /** Buffers currently allocated (free or lent). */
  get buffers(): number {
    return this.allocated;
  }

  /** Buffers lent to `address` now. */
  heldBy(address: string): number {
    return this.held.get(address) ?? 0;
  }

  /**
   * A buffer for a transfer to `address`: now if the address is within its share and a buffer
   * is free or the budget allows another, else once one is released.
   */
  acquire(address: string): Promise<Buffer> {
    if (this.heldBy(address) < this.perAddress) {
      let buffer = this.free.pop();
      if (buffer === undefined && this.allocated < this.max) {
        this.allocated++;
        buffer = Buffer.allocUnsafeSlow(this.bufferSize);
      }
      if (buffer !== undefined) {
        this.lend(address);
        return Promise.resolve(buffer);
      }
    }
    return new Promise((resolve) => this.waiters.push({ address, resolve }));
  }

  /** Gives back a buffer lent to `address`; the caller must not touch it afterwards. */
  release(buffer: Buffer, address: string): void {
    const n = this.heldBy(address);
    if (n <= 1) this.held.delete(address);
    else this.held.set(address, n - 1);
    const i = this.waiters.findIndex((w) => this.heldBy(w.address) < this.perAddress);
    if (i < 0) {
      this.free.push(buffer);
      return;
    }
    const [next] = this.waiters.splice(i, 1);
    this.lend(next!.address);
    next!.resolve(buffer);
  }

  private lend(address: string): void {
    this.held.set(address, this.heldBy(address) + 1);
  }
}

const EMPTY = Buffer.alloc(0);

/** The pool of this process (every connection of a worker shares it). */
export const sharedBufferPool = new BufferPool();

/**
 * Writes `header`, then bytes [offset, offset + length) of the file `fd`, to `socket`, in pool
 * buffers. The read of the next buffer runs while the socket takes the current one (the
 * thread-pool read and the socket write overlap instead of alternating), and no further read
 * starts until the socket has taken a buffer: a socket that is not draining holds at most two
 * buffers, never more data read ahead for it. Under a rate limit reads and writes alternate
 * (one buffer), paced by the throttle. The header and the first data buffer leave in one
 * write (cork). Resolves with the byte count once the socket has taken everything; `onTaken`
 * is told the bytes the socket has taken so far, after each buffer.
 *
 * With `zeroCopy` (a plain TCP socket, see zeroCopyFor) the body goes with sendfile(2) instead
 * (sendfile-sender.ts): no pool buffer, no copy through the process.
 */
export async function sendRange(
  socket: Socket,
  fd: number,
  header: Buffer,
  offset: number,
  length: number,
  pool: BufferPool,
  address: string,
  onTaken: (bytes: number) => void = () => {},
  throttle?: Throttle,
  zeroCopy?: ZeroCopy,
): Promise<number> {
  if (length === 0) {
    await writeTo(socket, header);
    return 0;
  }
  if (zeroCopy !== undefined) {
    const at = await sendfileRange(socket, fd, header, offset, length, zeroCopy, onTaken, throttle);
    if (at === offset + length) return length;
    // sendfile cannot read this file (nothing of it was sent): the buffers take over.
    const rest = length - (at - offset);
    const taken = (bytes: number): void => onTaken(at - offset + bytes);
    await sendRange(socket, fd, EMPTY, at, rest, pool, address, taken, throttle);
    return length;
  }
  const end = offset + length;
  /** Reads the buffer at `at` (a pool buffer, released by the caller, or here on failure). */
  const readAt = async (at: number): Promise<{ buffer: Buffer; bytesRead: number }> => {
    const buffer = await pool.acquire(address);
    try {
      // Under a rate limit, pieces of about 1/20 s keep the pace smooth.
      const want = Math.min(buffer.length, end - at, throttle?.chunk ?? Infinity);
      const { bytesRead } = await readAsync(fd, buffer, 0, want, at);
      if (bytesRead === 0) throw new TruncatedFileError(at);
      if (throttle !== undefined) await throttle.consume(bytesRead);
      return { buffer, bytesRead };
    } catch (error) {
      pool.release(buffer, address);
      throw error;
    }
  };
  let position = offset;
  let next: Promise<{ buffer: Buffer; bytesRead: number }> | undefined = readAt(position);
  try {
    while (next !== undefined) {
      const { buffer, bytesRead } = await next;
      next = undefined;
      const at = position;
      position += bytesRead;
      try {
        if (throttle === undefined && position < end) next = readAt(position);
        const data = buffer.subarray(0, bytesRead);
        // The buffer goes back to the pool once the socket is done with it, sent or failed.
        await (at === offset ? writeAll(socket, [header, data]) : writeTo(socket, data));
      } finally {
        pool.release(buffer, address);
      }
      onTaken(position - offset);
      if (next === undefined && position < end) next = readAt(position);
    }
  } finally {
    // A failed write leaves the read ahead in flight: its buffer goes back once it is done.
    if (next !== undefined)
      next.then(
        ({ buffer }) => pool.release(buffer, address),
        () => {},
      );
  }
  return length;
}
