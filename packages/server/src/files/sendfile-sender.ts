/**
 * Sends a byte range of an open file to a plain TCP socket with sendfile(2), through koffi
 * (Node 20 has no binding for it): the kernel moves the page-cache pages to the socket, so the
 * bytes are never copied into the process, no pool buffer is borrowed, and no thread-pool
 * thread is used. The read path of file-sender.ts stays for TLS (the bytes must be encrypted
 * here), for streamed digests (they are hashed here), with --no-sendfile, and where koffi or
 * the C library cannot load.
 *
 * The socket is non-blocking: sendfile stops short (EAGAIN) when the kernel's send buffer is
 * full, and Node gives no way to wait for writability but writing. So, when it stops short,
 * the next small piece (PIECE_SIZE) is read into a buffer of the transfer and written through
 * the stream; its callback comes once libuv has found the socket writable and written it, and
 * sendfile goes on from there. While it waits, that piece is what the stream holds, so the
 * stall watch and the idle deadline see a client that takes nothing exactly as on the read path.
 * Nothing is sent with sendfile while the stream holds bytes of its own (the header, a
 * WELCOME still corked): those go first, in order.
 *
 * sendfile, like the read path's readSync of small ranges, reads the file on the event loop's
 * thread: from the page cache that is a page-reference move, but a file not in the cache blocks
 * the loop for its disk reads (nginx's "sendfile on" without aio does the same). Each turn of
 * the loop sends at most BURST bytes, so the other connections of a worker get their turns.
 */
import { readSync } from 'node:fs';
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { Throttle } from '@ft/protocol';
import { loadLibc, loadedLibc } from '../sys/libc.js';
import type { CFunction, Libc } from '../sys/libc.js';
import { TruncatedFileError, writeTo } from './socket-writes.js';

/** What a transfer needs to use sendfile: the C function and the errno it sets. */
export interface ZeroCopy {
  readonly sendfile: CFunction;
  readonly libc: Libc;
}

/** Bytes written through the stream when sendfile stops short, to wait for writability. */
export const PIECE_SIZE = 16 * 1024;
/** Most bytes sent with sendfile in one turn of the event loop. */
export const BURST = 4 * 1024 * 1024;
/**
 * A per-connection child (--fork-per-connection, --inetd) loads koffi only for a range this
 * large. The load costs a fresh child 12–14 ms of CPU and +1.3 MiB of private memory at the
 * peak of its transfer (the read path's two 512 KiB buffers cost less than that), and sendfile
 * saves about 0.3 ms of CPU per MiB against the read path: it pays back the CPU only beyond
 * ~40 MiB and never the memory, which matters when many children run at once (measured in
 * docs/BENCHMARKS.md, "sendfile"). A prefork worker loads it for its first range above
 * SMALL_RANGE and keeps it for all its connections.
 */
export const ONESHOT_LOAD_AT = 128 * 1024 * 1024;

const PROTOTYPE = 'intptr_t sendfile(int, int, int64_t *, size_t)';

let enabled = true;
let loadAt = 0;

/** --no-sendfile (`enabled` false), and from what range size this process loads koffi for it. */
export function configureSendfile(options: { enabled: boolean; loadAtBytes: number }): void {
  enabled = options.enabled;
  loadAt = options.loadAtBytes;
}

function zeroCopyOf(libc: Libc | undefined): ZeroCopy | undefined {
  return libc === undefined ? undefined : { sendfile: libc.func(PROTOTYPE), libc };
}

let cached: ZeroCopy | undefined;

/**
 * How to send a range of `length` bytes to `socket`: with sendfile (koffi loaded now if this
 * range is worth it), or undefined for the read path (TLS, --no-sendfile, a small range in a
 * one-shot child, no koffi here).
 */
export function zeroCopyFor(
  socket: Socket,
  length: number,
): ZeroCopy | undefined | Promise<ZeroCopy | undefined> {
  if (!enabled || 'encrypted' in socket || socketFd(socket) === undefined) return undefined;
  if (cached !== undefined) return cached;
  const loaded = loadedLibc();
  if (loaded !== undefined) return (cached = zeroCopyOf(loaded));
  if (length < loadAt) return undefined;
  return loadLibc().then((libc) => (cached = zeroCopyOf(libc)));
}

/** The descriptor of a socket's libuv handle, or undefined once it is closed (or has none). */
function socketFd(socket: Socket): number | undefined {
  // net.Socket keeps its libuv handle in _handle (null once destroyed); fd is -1 where there is none.
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** errno values after which a file system cannot sendfile (then the read path takes over). */
const UNSUPPORTED = new Set(['EINVAL', 'ENOSYS', 'EOPNOTSUPP']);

/**
 * Writes `header`, then bytes [offset, offset + length) of the file `fd`, to `socket`. Resolves
 * with the position reached: offset + length, or less if sendfile turned out not to work on this
 * file before it sent anything (the caller sends the rest through the read path). Throws
 * TruncatedFileError if the file ends early, or the socket's error if it fails or closes (the
 * socket is then destroyed). `onTaken` and `throttle` as for sendRange.
 */
export async function sendfileRange(
  socket: Socket,
  fd: number,
  header: Buffer,
  offset: number,
  length: number,
  zeroCopy: ZeroCopy,
  onTaken: (bytes: number) => void,
  throttle: Throttle | undefined,
): Promise<number> {
  // The header goes through the stream; once its callback has come, the stream holds nothing.
  await writeTo(socket, header);
  const end = offset + length;
  const sender = new Sender(socket, fd, zeroCopy);
  let at = offset;
  while (at < end) {
    const stop = throttle === undefined ? end : Math.min(end, at + throttle.chunk);
    if (throttle !== undefined) await throttle.consume(stop - at);
    while (at < stop) {
      const want = Math.min(stop - at, BURST);
      const sent = sender.send(at, want);
      if (sent < 0) return at;
      at += sent;
      if (sent > 0) onTaken(at - offset);
      if (at >= stop) break;
      if (sent === want) {
        // A whole burst: let the loop's other work run before the next.
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      // The kernel's buffer is full (or the stream has bytes of its own): wait through a piece.
      at += await sender.writePiece(at, Math.min(PIECE_SIZE, stop - at));
      onTaken(at - offset);
    }
  }
  return at;
}

/** The sendfile calls of one transfer. */
class Sender {
  /** The in/out offset sendfile takes (koffi passes the typed array's memory itself). */
  private readonly position = new BigInt64Array(1);
  private piece: Buffer | undefined;
  private started = false;

  constructor(
    private readonly socket: Socket,
    private readonly fd: number,
    private readonly zeroCopy: ZeroCopy,
  ) {}

  /**
   * Sends up to `want` bytes from `at` without waiting: the count sent (short when the socket
   * is full, 0 when the stream still holds bytes), or -1 if this file cannot be sent with
   * sendfile (nothing of it was sent).
   */
  send(at: number, want: number): number {
    const { socket } = this;
    if (socket.writableLength > 0 || socket.writableCorked > 0) return 0;
    // Read right before the calls: once the socket is destroyed its descriptor number may
    // already belong to another file.
    const out = socketFd(socket);
    if (out === undefined) throw closedError();
    const { sendfile, libc } = this.zeroCopy;
    let sent = 0;
    while (sent < want) {
      this.position[0] = BigInt(at + sent);
      const n = Number(sendfile(out, this.fd, this.position, want - sent));
      if (n > 0) {
        sent += n;
        this.started = true;
        continue;
      }
      if (n === 0) throw new TruncatedFileError(at + sent);
      const errno = libc.errno();
      if (errno === libc.codes['EINTR']) continue;
      if (errno === libc.codes['EAGAIN']) break;
      const code = errnoName(errno);
      if (!this.started && UNSUPPORTED.has(code)) return -1;
      const error = Object.assign(new Error(`sendfile: ${code}`), { code, errno: -errno });
      socket.destroy(error);
      throw error;
    }
    return sent;
  }

  /** Reads `length` (≤ PIECE_SIZE) bytes at `at` and writes them through the stream; resolves once taken. */
  async writePiece(at: number, length: number): Promise<number> {
    this.piece ??= Buffer.allocUnsafeSlow(PIECE_SIZE);
    let got = 0;
    while (got < length) {
      const n = readSync(this.fd, this.piece, got, length - got, at + got);
      if (n === 0) throw new TruncatedFileError(at + got);
      got += n;
    }
    // The buffer is reused only after the callback: libuv has written it by then.
    await writeTo(this.socket, this.piece.subarray(0, length));
    this.started = true;
    return length;
  }
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

function closedError(): Error {
  return Object.assign(new Error('socket closed during sendfile'), {
    code: 'ERR_STREAM_DESTROYED',
  });
}
