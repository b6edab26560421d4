/**
 * A TCP proxy for fault injection between a client and a real server. Per connection (0-based
 * index) it can cut both directions after exactly N server→client bytes, go silent after N
 * bytes (the connection stays open), or flip one bit of the server→client byte at offset N. Random cut points come from a seeded generator, so a
 * failing test replays exactly.
 */
import net from 'node:net';

export interface Fault {
  /** Destroy both sides after forwarding this many server→client bytes. */
  cutAfter?: number;
  /** Stop forwarding server→client after this many bytes; keep the connection open. */
  stallAfter?: number;
  /** Invert the low bit of the server→client byte at this offset (a corrupting middlebox). */
  flipAt?: number;
}

export interface TcpProxyOptions {
  target: { host: string; port: number };
  /** The fault for connection n; undefined means a clean pass-through. */
  fault?: (connection: number) => Fault | undefined;
  /** Source address of the connections to the target (e.g. 127.0.0.2: a client the target can tell apart). */
  localAddress?: string;
}

export interface TcpProxy {
  host: string;
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections cut so far. */
  readonly cuts: number;
  /** Bytes forwarded server→client, all connections together. */
  readonly bytesDown: number;
  /** Bytes forwarded client→server, all connections together. */
  readonly bytesUp: number;
  /** Bytes flipped so far (flipAt). */
  readonly flips: number;
  /** Resolves once `count` connections have stalled (or after `ms`, rejecting). */
  waitForStalls(count: number, ms?: number): Promise<void>;
  close(): Promise<void>;
}

/** mulberry32: a small deterministic PRNG returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  let cuts = 0;
  let stalls = 0;
  let bytesDown = 0;
  let bytesUp = 0;
  let flips = 0;
  const stallWaiters: { count: number; resolve: () => void }[] = [];
  const noteStall = (): void => {
    stalls++;
    for (const w of stallWaiters.filter((w) => stalls >= w.count)) {
      stallWaiters.splice(stallWaiters.indexOf(w), 1);
      w.resolve();
    }
  };
  const track = (s: net.Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  };

  const server = net.createServer((client) => {
    // Counted apart from the call: `fault?.(connections++)` skips the ++ when there is no fault.
    const fault = options.fault?.(connections) ?? {};
    connections++;
    track(client);
    const upstream = net.connect({
      ...options.target,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    });
    track(upstream);
    let forwarded = 0;
    let stalled = false;
    const limit = Math.min(fault.cutAfter ?? Infinity, fault.stallAfter ?? Infinity);
    client.on('data', (chunk: Buffer) => {
      bytesUp += chunk.length;
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    client.on('drain', () => upstream.resume());
    upstream.on('data', (chunk: Buffer) => {
      if (stalled) return;
      const room = limit - forwarded;
      let piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
      const flip = (fault.flipAt ?? -1) - forwarded;
      if (flip >= 0 && flip < piece.length) {
        piece = Buffer.from(piece);
        piece[flip] = piece[flip]! ^ 1;
        flips++;
      }
      forwarded += piece.length;
      bytesDown += piece.length;
      if (piece.length > 0 && !client.write(piece) && forwarded < limit) upstream.pause();
      if (forwarded >= limit) {
        if (fault.cutAfter !== undefined && forwarded >= fault.cutAfter) {
          cuts++;
          // Let the bytes before the cut reach the client, then reset both sides.
          client.end(() => client.destroy());
          upstream.destroy();
        } else {
          // Drop what follows rather than pausing: a paused socket would never notice the server going away.
          stalled = true;
          upstream.resume();
          noteStall();
        }
      }
    });
    const closeBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    upstream.on('close', () => {
      if (!stalled) closeBoth();
      else client.destroy();
    });
    client.on('close', closeBoth);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: '127.0.0.1',
    port,
    get connections() {
      return connections;
    },
    get cuts() {
      return cuts;
    },
    get bytesDown() {
      return bytesDown;
    },
    get bytesUp() {
      return bytesUp;
    },
    get flips() {
      return flips;
    },
    waitForStalls(count, ms = 30_000) {
      if (stalls >= count) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`only ${stalls} of ${count} stalls within ${ms} ms`)),
          ms,
        );
        stallWaiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
