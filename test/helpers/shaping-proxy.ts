/**
 * A TCP proxy that makes loopback look like a long link shaped per flow: every byte is delayed
 * by `delayMs` each way (default 20 ms, so 40 ms RTT) and each TCP connection, in each
 * direction, gets at most `rateBytesPerSecond` (default 8 MB/s) through a token bucket of its
 * own — as a per-flow shaper (fq with a flow rate, a policer per 5-tuple) would. Several
 * connections therefore get several times the rate; one gets at most the rate.
 *
 * Shared by the tests (compiled to test/dist/helpers) and by the benchmark (bench/lib imports it
 * from there), so it uses only node: built-ins.
 *
 * Accuracy and bounds, per connection and direction: one FIFO queue and at most one timer. A
 * chunk read from one side leaves the shaper when the bucket has paid for it (departure = the
 * time its bytes are served at the rate, after a burst of `burstBytes`) and is written to the
 * other side `delayMs` after that. The queue holds at most `maxQueuedBytes` (read but not yet
 * written): beyond it the reading socket is paused, so the sender is held back by TCP as a real
 * bottleneck would, and memory stays bounded whatever the sender does. A writer whose kernel
 * buffer is full (write() returned false) is not written to until 'drain'. A half-close (FIN)
 * travels through the same queue, after the bytes before it, and ends the other side's
 * writing only; a reset or error on either side destroys both at once.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

export interface ShapingProxyOptions {
  target: { host: string; port: number };
  /** One-way delay in milliseconds, each direction (default 20: 40 ms round trip). */
  delayMs?: number;
  /** Bytes per second per connection and direction (default 8 000 000). */
  rateBytesPerSecond?: number;
  /** Bucket size: bytes that may pass at once after an idle spell (default rate × 10 ms, ≥ 16 KiB). */
  burstBytes?: number;
  /**
   * Bytes one direction of one connection may hold (read, not yet written) before its reader is
   * paused. Default: twice the bytes in flight at the rate over the delay, plus a burst, at
   * least 256 KiB — enough to keep the link busy, no more.
   */
  maxQueuedBytes?: number;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
}

export interface ShapingProxy {
  host: string;
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Bytes delivered target → client, all connections together. */
  readonly bytesDown: number;
  /** Bytes delivered client → target, all connections together. */
  readonly bytesUp: number;
  /** The most bytes any one direction of one connection held at once (memory bound check). */
  readonly peakQueuedBytes: number;
  /** Connections open now. */
  readonly open: number;
  close(): Promise<void>;
}

interface Item {
  /** Bytes to write, or undefined for the half-close that follows them. */
  chunk: Buffer | undefined;
  /** performance.now() at which it may be written. */
  due: number;
}

/** Pieces no larger than this are scheduled one by one, so delivery is smooth at the rate. */
const PIECE = 16 * 1024;

interface Stats {
  peak: number;
  delivered: (n: number) => void;
}

/** One direction of one connection: `from` → `to`, shaped and delayed. */
class Pipe {
  private readonly queue: Item[] = [];
  private head = 0;
  private queued = 0;
  /** Token bucket: tokens now (may go negative: the debt is paid by waiting) and when. */
  private tokens: number;
  private at = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private blocked = false;
  private paused = false;
  /** The half-close has been written (or the pipe was abandoned). */
  done = false;
  /** `from` has sent its FIN (its bytes ended cleanly). */
  ended = false;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly o: Required<Omit<ShapingProxyOptions, 'target' | 'host'>>,
    private readonly stats: Stats,
    private readonly onDone: () => void,
  ) {
    this.tokens = o.burstBytes;
    from.on('data', (chunk: Buffer) => this.take(chunk));
    from.on('end', () => {
      this.ended = true;
      this.push(undefined, performance.now());
    });
    to.on('drain', () => {
      this.blocked = false;
      this.flush();
    });
  }

  /** When `bytes` may leave the shaper, charging the bucket for them. */
  private departure(bytes: number, now: number): number {
    this.tokens = Math.min(
      this.o.burstBytes,
      this.tokens + ((now - this.at) * this.o.rateBytesPerSecond) / 1000,
    );
    this.at = now;
    this.tokens -= bytes;
    return this.tokens >= 0 ? now : now + (-this.tokens * 1000) / this.o.rateBytesPerSecond;
  }

  private take(chunk: Buffer): void {
    const now = performance.now();
    for (let at = 0; at < chunk.length; at += PIECE) {
      const piece = chunk.subarray(at, Math.min(chunk.length, at + PIECE));
      this.push(piece, this.departure(piece.length, now));
    }
    if (this.queued >= this.o.maxQueuedBytes && !this.paused) {
      this.paused = true;
      this.from.pause();
    }
  }

  private push(chunk: Buffer | undefined, departs: number): void {
    if (this.done) return;
    // In order: nothing (the FIN included) is written before what came before it.
    const last = this.queue.length > this.head ? this.queue[this.queue.length - 1]!.due : 0;
    this.queue.push({ chunk, due: Math.max(departs + this.o.delayMs, last) });
    this.queued += chunk?.length ?? 0;
    this.stats.peak = Math.max(this.stats.peak, this.queued);
    this.arm();
  }

  private arm(): void {
    if (this.timer !== undefined || this.blocked || this.head >= this.queue.length) return;
    const wait = Math.max(0, this.queue[this.head]!.due - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, wait);
  }

  private flush(): void {
    if (this.done) return;
    const now = performance.now();
    while (!this.blocked && this.head < this.queue.length && this.queue[this.head]!.due <= now) {
      const item = this.queue[this.head++]!;
      if (item.chunk === undefined) {
        this.to.end();
        this.finish();
        return;
      }
      this.queued -= item.chunk.length;
      this.stats.delivered(item.chunk.length);
      if (!this.to.write(item.chunk)) this.blocked = true;
    }
    // Drop what was delivered, so that written buffers are not kept alive by the queue.
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head >= 256) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.paused && this.queued < this.o.maxQueuedBytes / 2) {
      this.paused = false;
      this.from.resume();
    }
    this.arm();
  }

  private finish(): void {
    this.done = true;
    this.queue.length = 0;
    this.head = 0;
    this.queued = 0;
    this.onDone();
  }

  /** Stops for good (the connection is being torn down). */
  abandon(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.done) this.finish();
  }
}

/** Starts a shaping proxy in front of `options.target`; see the module comment. */
export async function startShapingProxy(options: ShapingProxyOptions): Promise<ShapingProxy> {
  const delayMs = options.delayMs ?? 20;
  const rateBytesPerSecond = options.rateBytesPerSecond ?? 8_000_000;
  if (!(delayMs >= 0) || !(rateBytesPerSecond > 0))
    throw new Error('shaping proxy: delayMs must be ≥ 0 and rateBytesPerSecond > 0');
  const burstBytes = options.burstBytes ?? Math.max(16 * 1024, rateBytesPerSecond / 100);
  const inFlight = (rateBytesPerSecond * delayMs) / 1000;
  const o = {
    delayMs,
    rateBytesPerSecond,
    burstBytes,
    maxQueuedBytes: options.maxQueuedBytes ?? Math.max(256 * 1024, 2 * inFlight + burstBytes),
  };
  let connections = 0;
  let bytesDown = 0;
  let bytesUp = 0;
  const down: Stats = { peak: 0, delivered: (n) => (bytesDown += n) };
  const up: Stats = { peak: 0, delivered: (n) => (bytesUp += n) };
  const live = new Set<(reset?: boolean) => void>();

  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    connections++;
    const upstream = net.connect({ ...options.target, allowHalfOpen: true, noDelay: true });
    let closed = false;
    /** Ends both sides; `reset`: with an RST, as the peer that failed did. */
    const teardown = (reset = false): void => {
      if (closed) return;
      closed = true;
      live.delete(teardown);
      toTarget.abandon();
      toClient.abandon();
      for (const sock of [client, upstream]) {
        if (reset && !sock.destroyed) sock.resetAndDestroy();
        else sock.destroy();
      }
    };
    // Both directions half-closed and delivered: the connection is over.
    const maybeOver = (): void => {
      if (toTarget.done && toClient.done) teardown();
    };
    const toTarget = new Pipe(client, upstream, o, up, maybeOver);
    const toClient = new Pipe(upstream, client, o, down, maybeOver);
    live.add(teardown);
    // A socket that closes with an error, before its own FIN, or while we still have bytes for
    // it, was reset (or killed): pass that on at once. A clean close after both FINs is normal;
    // the other direction's queue is still delivered.
    const watch = (s: net.Socket, from: Pipe, towards: Pipe): void => {
      s.on('error', () => teardown(true));
      s.on('close', (hadError) => {
        if (hadError || !from.ended || !towards.done) teardown(true);
        else maybeOver();
      });
    };
    watch(client, toTarget, toClient);
    watch(upstream, toClient, toTarget);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  return {
    host: address.address,
    port: address.port,
    get connections() {
      return connections;
    },
    get bytesDown() {
      return bytesDown;
    },
    get bytesUp() {
      return bytesUp;
    },
    get peakQueuedBytes() {
      return Math.max(down.peak, up.peak);
    },
    get open() {
      return live.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const teardown of [...live]) teardown();
        server.close(() => resolve());
      }),
  };
}
