/**
 * A userspace UDP impairment proxy (this kernel has no netem). Clients talk to the proxy; it
 * relays to the target through one upstream socket per client address, and on the way it can
 * drop, duplicate, reorder (hold back), delay and corrupt datagrams, independently in each
 * direction, and black-hole everything for a while. Decisions come from a seeded PRNG per
 * direction, so a given seed and datagram sequence always meet the same fate.
 */
import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket } from 'node:dgram';
import { seededRandom } from './tcp-proxy.js';

export interface Impairment {
  /** Probability that a datagram is dropped. */
  drop?: number;
  /** Probability that a datagram is sent twice. */
  duplicate?: number;
  /** Probability that a datagram is held back `reorderMs` so later ones overtake it. */
  reorder?: number;
  reorderMs?: number;
  /** Delay added to every datagram, in ms. */
  delayMs?: number;
  /** Probability that one byte of the datagram (past its first 24 bytes when it has more) is flipped. */
  corrupt?: number;
}

export type Direction = 'toServer' | 'toClient';

export interface DirectionStats {
  seen: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
}

export interface UdpProxyOptions {
  target: { host: string; port: number };
  seed?: number;
  toServer?: Impairment;
  toClient?: Impairment;
  /** The first `count` datagrams of each direction are dropped with probability `rate` (handshake loss). */
  initialDrop?: { count: number; rate: number };
  /** Sees every datagram that arrives (before impairment). */
  observe?: (direction: Direction, datagram: Buffer) => void;
  /** Datagrams for which this returns true are dropped (counted), e.g. to play an older peer. */
  discard?: (direction: Direction, datagram: Buffer) => boolean;
}

export interface UdpProxy {
  host: string;
  port: number;
  stats: Record<Direction, DirectionStats>;
  /** Drops everything, both ways, for `ms` from now. */
  blackHole(ms: number): void;
  setImpairment(direction: Direction, impairment: Impairment): void;
  close(): Promise<void>;
}

function newStats(): DirectionStats {
  return { seen: 0, dropped: 0, duplicated: 0, reordered: 0, corrupted: 0 };
}

/** Listens on 127.0.0.1 port 0 and relays to `target`. */
export async function startUdpProxy(options: UdpProxyOptions): Promise<UdpProxy> {
  const seed = options.seed ?? 1;
  const random: Record<Direction, () => number> = {
    toServer: seededRandom(seed),
    toClient: seededRandom(seed * 7919 + 13),
  };
  const impairment: Record<Direction, Impairment> = {
    toServer: options.toServer ?? {},
    toClient: options.toClient ?? {},
  };
  const stats: Record<Direction, DirectionStats> = { toServer: newStats(), toClient: newStats() };
  const timers = new Set<NodeJS.Timeout>();
  let holeUntil = 0;
  let closed = false;
  const bufferBytes = 4 * 1024 * 1024;
  const front = createSocket({
    type: 'udp4',
    recvBufferSize: bufferBytes,
    sendBufferSize: bufferBytes,
  });
  const upstreams = new Map<string, Socket>();

  const later = (ms: number, fn: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!closed) fn();
    }, ms);
    timers.add(timer);
  };

  /** Applies the impairment of `direction` to one datagram, then delivers it with `deliver`. */
  const relay = (direction: Direction, msg: Buffer, deliver: (b: Buffer) => void): void => {
    const s = stats[direction];
    const imp = impairment[direction];
    const rnd = random[direction];
    s.seen++;
    options.observe?.(direction, msg);
    // Draw every random number for every datagram, so one knob does not shift the others' fates.
    const rDrop = rnd();
    const rInitial = rnd();
    const rDup = rnd();
    const rReorder = rnd();
    const rCorrupt = rnd();
    const rWhere = rnd();
    if (performance.now() < holeUntil || options.discard?.(direction, msg) === true) {
      s.dropped++;
      return;
    }
    const initial = options.initialDrop;
    if (initial !== undefined && s.seen <= initial.count && rInitial < initial.rate) {
      s.dropped++;
      return;
    }
    if (rDrop < (imp.drop ?? 0)) {
      s.dropped++;
      return;
    }
    let out = msg;
    if (rCorrupt < (imp.corrupt ?? 0) && msg.length > 0) {
      out = Buffer.from(msg);
      const from = out.length > 24 ? 24 : 0;
      const at = from + Math.floor(rWhere * (out.length - from));
      out[at] = out[at]! ^ 0x5a;
      s.corrupted++;
    }
    let delay = imp.delayMs ?? 0;
    if (rReorder < (imp.reorder ?? 0)) {
      delay += imp.reorderMs ?? 5;
      s.reordered++;
    }
    const send = (): void => deliver(out);
    if (delay > 0) later(delay, send);
    else send();
    if (rDup < (imp.duplicate ?? 0)) {
      s.duplicated++;
      later(delay + 1, send);
    }
  };

  const upstreamFor = (client: RemoteInfo): Socket => {
    const key = `${client.address}:${client.port}`;
    let up = upstreams.get(key);
    if (up !== undefined) return up;
    up = createSocket({ type: 'udp4', recvBufferSize: bufferBytes, sendBufferSize: bufferBytes });
    up.on('message', (msg) =>
      relay('toClient', msg, (b) => {
        if (!closed) front.send(b, client.port, client.address);
      }),
    );
    up.on('error', () => {});
    up.bind(0, '127.0.0.1');
    upstreams.set(key, up);
    return up;
  };

  front.on('message', (msg, rinfo) => {
    const up = upstreamFor(rinfo);
    relay('toServer', msg, (b) => {
      if (!closed) up.send(b, options.target.port, options.target.host);
    });
  });
  front.on('error', () => {});
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', () => resolve()));

  return {
    host: '127.0.0.1',
    port: front.address().port,
    stats,
    blackHole(ms: number): void {
      holeUntil = performance.now() + ms;
    },
    setImpairment(direction: Direction, imp: Impairment): void {
      impairment[direction] = imp;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const sockets = [front, ...upstreams.values()];
      await Promise.all(
        sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
      );
    },
  };
}
