/**
 * The sender and receiver engines wired together through a simulated path with a virtual clock:
 * deterministic loss, duplication, reordering and black holes, no sockets and no real time.
 */
import test from 'ava';
import { UdpReceiver, UdpSender, type AckFields } from '@ft/protocol';

interface SimOptions {
  size: number;
  payload?: number;
  window?: number;
  loss?: number;
  duplicate?: number;
  reorder?: number;
  seed?: number;
  /** Drop everything in [from, to) ms of virtual time. */
  blackHole?: [number, number];
  livenessMs?: number;
  oneWayMs?: number;
  maxSteps?: number;
  /** The first transmission of DATA at these offsets is lost. */
  dropFirst?: number[];
  /** Received bytes are written (and the window released) this long after they arrive. */
  writeDelayMs?: number;
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

type Packet =
  | { at: number; to: 'r'; offset: number; bytes: Buffer; tsval: number }
  | { at: number; to: 's'; ack: AckFields }
  | { at: number; to: 'written'; bytes: number };

/** Runs one transfer; returns the received bytes, the end state and the virtual time taken. */
function simulate(o: SimOptions) {
  const payload = o.payload ?? 1000;
  const window = o.window ?? 64 * payload;
  const oneWay = o.oneWayMs ?? 5;
  const random = rng(o.seed ?? 1);
  const source = Buffer.alloc(o.size);
  for (let i = 0; i < o.size; i++) source[i] = (i * 7 + 3) & 0xff;
  let now = 0;
  const sender = new UdpSender(
    { start: 0, end: o.size, payloadSize: payload, window, livenessMs: o.livenessMs ?? 10_000 },
    now,
  );
  const receiver = new UdpReceiver({ start: 0, end: o.size, payloadSize: payload, window });
  const chunks: Buffer[] = [];
  let queue: Packet[] = [];
  let lastFromSender = 0;
  const firstLost = new Set(o.dropFirst ?? []);
  const push = (p: Packet): void => {
    if (o.blackHole && now >= o.blackHole[0] && now < o.blackHole[1]) return;
    if (p.to === 'r' && firstLost.delete(p.offset)) return;
    if (random() < (o.loss ?? 0)) return;
    if (random() < (o.reorder ?? 0)) p.at += oneWay * 2 * random();
    queue.push(p);
    if (random() < (o.duplicate ?? 0)) queue.push({ ...p, at: p.at + random() });
  };
  let accepted = false;
  let finSeen = false;
  let steps = 0;
  const maxSteps = o.maxSteps ?? 2_000_000;
  while (steps++ < maxSteps) {
    for (let a = sender.nextAction(now); a !== undefined; a = sender.nextAction(now)) {
      lastFromSender = now;
      if (a.kind === 'accept') {
        // ACCEPT reaching the receiver makes it send its first ACK.
        if (random() >= (o.loss ?? 0))
          queue.push({ at: now + 2 * oneWay, to: 's', ack: receiver.makeAck() });
      } else if (a.kind === 'fin') {
        if (random() >= (o.loss ?? 0) && receiver.complete) finSeen = true;
      } else {
        push({
          at: now + oneWay,
          to: 'r',
          offset: a.offset,
          bytes: source.subarray(a.offset, a.offset + a.length),
          tsval: a.tsval,
        });
      }
    }
    if (finSeen && !accepted) {
      sender.onClose(now);
      accepted = true;
    }
    if (sender.phase === 'done' || sender.phase === 'failed') break;
    queue.sort((x, y) => x.at - y.at);
    const next = queue[0];
    const deadline = sender.nextDeadline(now);
    if (next === undefined || next.at > deadline) {
      if (deadline === Infinity) break;
      now = Math.max(now, deadline);
      sender.onTimer(now);
      continue;
    }
    queue = queue.slice(1);
    now = Math.max(now, next.at);
    if (next.to === 'r') {
      receiver.onData(next.offset, next.bytes, next.tsval);
      for (const c of receiver.takeReady()) {
        chunks.push(c);
        if (o.writeDelayMs === undefined) receiver.release(c.length);
        else queue.push({ at: now + o.writeDelayMs, to: 'written', bytes: c.length });
      }
      if (receiver.ackPending) push({ at: now + oneWay, to: 's', ack: receiver.makeAck() });
    } else if (next.to === 'written') {
      receiver.release(next.bytes);
      if (receiver.ackUrgent) push({ at: now + oneWay, to: 's', ack: receiver.makeAck() });
    } else {
      sender.onAck(next.ack, now);
    }
  }
  return { data: Buffer.concat(chunks), source, sender, receiver, now, lastFromSender, steps };
}

for (const loss of [0, 0.01, 0.05, 0.1, 0.3]) {
  test(`a 300-segment transfer with ${loss * 100}% loss each way delivers every byte in order`, (t) => {
    // At 30% loss each way timeouts dominate; give it a liveness limit it cannot hit by bad luck.
    const r = simulate({ size: 300_123, loss, seed: 7, livenessMs: loss > 0.2 ? 60_000 : 10_000 });
    t.is(r.sender.phase, 'done', r.sender.failure);
    t.true(r.data.equals(r.source));
    if (loss === 0) t.is(r.sender.stats.retransmits, 0);
  });
}

test('duplication and reordering deliver every byte exactly once', (t) => {
  const r = simulate({ size: 200_000, duplicate: 0.2, reorder: 0.3, seed: 3 });
  t.is(r.sender.phase, 'done', r.sender.failure);
  t.true(r.data.equals(r.source));
  t.true(r.receiver.stats.duplicates > 0);
});

test('an empty range completes with no DATA at all', (t) => {
  const r = simulate({ size: 0 });
  t.is(r.sender.phase, 'done');
  t.is(r.sender.stats.segmentsSent, 0);
});

test('a 3-second black hole mid-transfer is survived', (t) => {
  const r = simulate({ size: 500_000, blackHole: [60, 3060], seed: 11 });
  t.is(r.sender.phase, 'done', r.sender.failure);
  t.true(r.data.equals(r.source));
  t.true(r.sender.stats.timeouts > 0);
});

test('a black hole longer than the liveness limit fails the sender within that limit', (t) => {
  const r = simulate({ size: 5_000_000, blackHole: [60, 1e9], livenessMs: 4000, seed: 5 });
  t.is(r.sender.phase, 'failed');
  t.regex(r.sender.failure ?? '', /silent/);
  // The last ACK was heard at most at 60 ms + one RTT; the sender gave up at most 4 s later.
  t.true(r.now <= 60 + 20 + 4000, `gave up at ${r.now}`);
  t.true(r.now >= 4000);
});

test('a small receive window bounds what is in flight and still completes', (t) => {
  const r = simulate({ size: 100_000, window: 4000, payload: 1000, loss: 0.05, seed: 9 });
  t.is(r.sender.phase, 'done', r.sender.failure);
  t.true(r.data.equals(r.source));
});

test('a lost tail is repaired by a tail-loss probe, without a retransmission timeout', (t) => {
  const payload = 1000;
  const r = simulate({ size: 50 * payload, payload, dropFirst: [48 * payload, 49 * payload] });
  t.is(r.sender.phase, 'done', r.sender.failure);
  t.true(r.data.equals(r.source));
  t.true(r.sender.stats.probes >= 1);
  t.is(r.sender.stats.timeouts, 0);
});

test('a window that is not a whole number of segments is never overrun (no retransmissions)', (t) => {
  // The writer lags, so the receiver's window edge stays put while a flight arrives.
  const r = simulate({ size: 100_000, window: 4500, payload: 1000, writeDelayMs: 20 });
  t.is(r.sender.phase, 'done', r.sender.failure);
  t.true(r.data.equals(r.source));
  t.is(r.receiver.stats.outsideWindow, 0);
  t.is(r.sender.stats.retransmits, 0);
});
