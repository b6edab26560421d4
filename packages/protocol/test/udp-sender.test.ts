/** The sending engine, driven by hand with an injected clock (no sockets, no real time). */
import test from 'ava';
import { DUP_THRESHOLD, MIN_PTO_MS, UdpSender, tsvalAt } from '@ft/protocol';
import type { AckInput, SenderAction } from '@ft/protocol';

const P = 1000;

/** A sender past the handshake (first ACK at t=10, so the first RTT sample is 10 ms). */
function started(segments = 100, window = 100 * P) {
  const s = new UdpSender(
    {
      start: 0,
      end: segments * P,
      payloadSize: P,
      window,
      livenessMs: 5000,
      pacing: false,
      minRtoMs: 50,
    },
    0,
  );
  t0Accept(s);
  return s;
}
function t0Accept(s: UdpSender): void {
  s.nextAction(0);
  s.onAck({ cumulative: 0, windowEnd: 1e9, tsEcho: 0, ranges: [] }, 10);
}
function drain(s: UdpSender, now: number): Extract<SenderAction, { kind: 'data' }>[] {
  const out: Extract<SenderAction, { kind: 'data' }>[] = [];
  for (let a = s.nextAction(now); a !== undefined; a = s.nextAction(now))
    if (a.kind === 'data') out.push(a);
  return out;
}
const ack = (cumulative: number, ranges: AckInput['ranges'] = [], tsEcho = 0): AckInput => ({
  cumulative,
  windowEnd: 1e9,
  tsEcho,
  ranges,
});

test('ACCEPT is resent with backoff until the first ACK, which is timed once (Karn)', (t) => {
  const s = new UdpSender(
    { start: 0, end: 10 * P, payloadSize: P, window: 10 * P, livenessMs: 60_000, pacing: false },
    0,
  );
  t.deepEqual(s.nextAction(0), { kind: 'accept' });
  t.is(s.nextAction(500), undefined);
  t.deepEqual(s.nextAction(1000), { kind: 'accept' }); // initial RTO 1 s
  t.is(s.nextAction(2500), undefined); // backed off to 2 s
  s.onAck(ack(0), 2100);
  t.is(s.phase, 'data');
  t.is(s.rtt.srtt, undefined, 'a resent ACCEPT gives no RTT sample');
});

test('the initial window is 10 segments and ACKs open it (slow start)', (t) => {
  const s = started();
  const first = drain(s, 10);
  t.is(first.length, 10);
  t.deepEqual(
    first.map((a) => a.offset),
    Array.from({ length: 10 }, (_, i) => i * P),
  );
  s.onAck(ack(5 * P), 20);
  t.is(drain(s, 20).length, 10, 'five delivered: five to fill the pipe, five more from growth');
});

test("a duplicate ACK sends nothing (no Sorcerer's Apprentice)", (t) => {
  const s = started();
  drain(s, 10);
  t.is(s.onAck(ack(2 * P), 20), 'new');
  const after = drain(s, 20).length;
  t.true(after > 0);
  for (let i = 0; i < 5; i++) {
    t.is(s.onAck(ack(2 * P), 21 + i), 'duplicate');
    t.deepEqual(drain(s, 21 + i), []);
  }
  t.is(s.stats.retransmits, 0);
});

test('SACK: only the segment that is missing is retransmitted', (t) => {
  const s = started();
  drain(s, 10);
  s.onAck(ack(0, [{ start: P, end: 10 * P }]), 20);
  const sent = drain(s, 20);
  const resent = sent.filter((a) => a.retransmit);
  t.deepEqual(
    resent.map((a) => a.offset),
    [0],
  );
  t.is(s.stats.retransmits, 1);
});

test(`fast retransmit needs ${DUP_THRESHOLD} segments SACKed above a hole`, (t) => {
  const s = started();
  drain(s, 10);
  s.onAck(ack(0, [{ start: P, end: DUP_THRESHOLD * P }]), 11);
  t.false(drain(s, 11).some((a) => a.retransmit));
  s.onAck(ack(0, [{ start: P, end: (DUP_THRESHOLD + 1) * P }]), 12);
  t.deepEqual(
    drain(s, 12)
      .filter((a) => a.retransmit)
      .map((a) => a.offset),
    [0],
  );
});

test('a loss halves (×0.7) the window once per window of data', (t) => {
  const s = started();
  drain(s, 10);
  const before = s.cwnd;
  s.onAck(ack(0, [{ start: P, end: 5 * P }]), 11);
  const once = s.cwnd;
  t.is(once, before * 0.7);
  s.onAck(
    ack(0, [
      { start: P, end: 5 * P },
      { start: 6 * P, end: 10 * P },
    ]),
    12,
  );
  t.is(s.cwnd, once, 'a second hole in the same window does not cut again');
});

test('Karn: without timestamps, data that was retransmitted gives no RTT sample', (t) => {
  const s = started();
  drain(s, 10);
  s.onAck(ack(0, [{ start: P, end: 10 * P }]), 20); // segment 0 is retransmitted at t=20
  drain(s, 20);
  const srtt = s.rtt.srtt;
  s.onAck(ack(10 * P), 400);
  t.is(s.rtt.srtt, srtt, 'the cumulative ACK of a retransmitted segment is not timed');
});

test('an echoed timestamp gives a valid sample even for retransmitted data', (t) => {
  const s = started();
  drain(s, 10);
  s.onAck(ack(0, [{ start: P, end: 10 * P }]), 20);
  const resent = drain(s, 20).find((a) => a.retransmit)!;
  t.is(resent.tsval, tsvalAt(20));
  const srtt = s.rtt.srtt!;
  s.onAck(ack(10 * P, [], resent.tsval), 30);
  t.is(s.rtt.srtt, 0.875 * srtt + 0.125 * 10);
});

test('a timeout backs off the RTO, collapses the window and resends only unSACKed data', (t) => {
  const s = started();
  drain(s, 10);
  s.onAck(ack(0, [{ start: 2 * P, end: 3 * P }]), 12);
  drain(s, 12);
  // First the tail-loss probe (one new segment)…
  const pto = s.nextDeadline(12);
  s.onTimer(pto);
  t.is(drain(s, pto).length, 1);
  t.is(s.stats.timeouts, 0);
  // …then, with still nothing heard, the RTO.
  const rto = s.rtt.rto;
  const deadline = s.nextDeadline(pto);
  t.is(deadline, pto + rto);
  s.onTimer(deadline);
  t.is(s.stats.timeouts, 1);
  t.is(s.rtt.rto, Math.min(2 * rto, 2000));
  t.is(s.cwnd, P);
  const resent = drain(s, deadline);
  t.deepEqual(
    resent.map((a) => a.offset),
    [0],
    'one segment (cwnd = 1), the lowest unSACKed',
  );
  s.onAck(ack(P, [{ start: 2 * P, end: 3 * P }]), deadline + 10);
  const next = drain(s, deadline + 10).map((a) => a.offset);
  t.false(next.includes(2 * P), 'the SACKed segment is not resent');
  t.true(next.includes(P));
});

test('a receiver silent for the liveness limit fails the transfer, one deadline at a time', (t) => {
  const s = started();
  drain(s, 10);
  let now = 10;
  let timers = 0;
  while (s.phase === 'data' && timers < 1000) {
    now = s.nextDeadline(now);
    s.onTimer(now);
    drain(s, now);
    timers++;
  }
  t.is(s.phase, 'failed');
  t.regex(s.failure!, /silent for 5000 ms/);
  t.is(now, 10 + 5000);
  t.true(timers < 20, `${timers} timer wake-ups`);
});

test('ACKs outside what was sent are refused and change nothing', (t) => {
  const s = started();
  drain(s, 10);
  t.is(s.onAck(ack(50 * P), 11), 'invalid');
  t.is(s.onAck(ack(0, [{ start: 20 * P, end: 21 * P }]), 11), 'invalid');
  t.is(s.acknowledged, 0);
  t.is(s.stats.invalidAcks, 2);
});

test('after every byte is acknowledged the sender sends FIN until CLOSE, then is done', (t) => {
  const s = started(3);
  drain(s, 10);
  s.onAck(ack(3 * P), 20);
  t.is(s.phase, 'fin');
  t.deepEqual(s.nextAction(20), { kind: 'fin' });
  t.is(s.nextAction(21), undefined);
  s.onClose(30);
  t.is(s.phase, 'done');
});

test('the window is never exceeded and is probed when it stays shut', (t) => {
  const s = new UdpSender(
    { start: 0, end: 100 * P, payloadSize: P, window: 100 * P, livenessMs: 60_000, pacing: false },
    0,
  );
  s.nextAction(0);
  s.onAck({ cumulative: 0, windowEnd: 3 * P, tsEcho: 0, ranges: [] }, 10);
  t.is(drain(s, 10).length, 3);
  s.onAck({ cumulative: 3 * P, windowEnd: 3 * P, tsEcho: 0, ranges: [] }, 20);
  t.is(drain(s, 20).length, 0);
  const at = s.nextDeadline(20);
  t.true(Number.isFinite(at) && at < 20 + 60_000);
  s.onTimer(at);
  const probe = drain(s, at);
  t.is(probe.length, 1);
  t.true(probe[0]!.retransmit);
  t.is(s.stats.windowProbes, 1);
  t.is(s.stats.timeouts, 0, 'a shut window is not a loss: cwnd is kept');
  t.true(s.cwnd > P);
});

test("a lost tail is probed after 2·SRTT, and the probe's ACK reveals the hole without a timeout", (t) => {
  const s = started(10);
  t.is(drain(s, 10).length, 10);
  // Segments 8 and 9 are lost: nothing is SACKed above them, so no ACK will ever report them.
  s.onAck(ack(8 * P), 20);
  const srtt = s.rtt.srtt!;
  const at = s.nextDeadline(20);
  t.is(at, 20 + Math.max(2 * srtt, MIN_PTO_MS));
  t.true(at < 20 + s.rtt.rto, 'the probe comes before the RTO');
  s.onTimer(at);
  const probe = drain(s, at);
  t.deepEqual(
    probe.map((a) => [a.offset, a.retransmit]),
    [[9 * P, true]],
    'the last segment is resent',
  );
  t.is(s.stats.probes, 1);
  t.is(s.nextDeadline(at), at + s.rtt.rto, 'one probe per flight; then the RTO');
  s.onAck(ack(8 * P, [{ start: 9 * P, end: 10 * P }], probe[0]!.tsval), at + 10);
  t.deepEqual(
    drain(s, at + 10).map((a) => a.offset),
    [8 * P],
    'the hole below the probe is found lost and resent',
  );
  s.onAck(ack(10 * P), at + 20);
  t.is(s.phase, 'fin');
  t.is(s.stats.timeouts, 0);
});

test('a probe sends new data when the window allows, and a delivered probe is not taken for reordering', (t) => {
  const s = started(20);
  drain(s, 10); // segments 0..9 (initial window)
  const at = s.nextDeadline(10);
  s.onTimer(at);
  const probe = drain(s, at);
  t.deepEqual(
    probe.map((a) => [a.offset, a.retransmit]),
    [[10 * P, false]],
  );
  // Everything arrives (the ACKs were just late): no retransmission was spurious.
  s.onAck(ack(11 * P, [], probe[0]!.tsval), at + 5);
  t.is(s.stats.spuriousRetransmits, 0);
  t.is(s.stats.retransmits, 0);
});

test('a segment that would end beyond windowEnd is held back until the window covers it', (t) => {
  const s = new UdpSender(
    { start: 0, end: 10 * P, payloadSize: P, window: 10 * P, livenessMs: 60_000, pacing: false },
    0,
  );
  s.nextAction(0);
  s.onAck({ cumulative: 0, windowEnd: 2.5 * P, tsEcho: 0, ranges: [] }, 10);
  t.deepEqual(
    drain(s, 10).map((a) => a.offset),
    [0, P],
  );
  s.onAck({ cumulative: 2 * P, windowEnd: 3 * P, tsEcho: 0, ranges: [] }, 20);
  t.deepEqual(
    drain(s, 20).map((a) => a.offset),
    [2 * P],
  );
});

test('the echo of a retransmission itself never makes it spurious, whatever the sub-µs phases', (t) => {
  for (const sentFrac of [0, 0.0001, 0.0004, 0.0006, 0.0009]) {
    for (const ackFrac of [0, 0.0001, 0.0004, 0.0006, 0.0009]) {
      const s = started();
      drain(s, 10);
      s.onAck(ack(0, [{ start: P, end: 10 * P }]), 20);
      const resent = drain(s, 20 + sentFrac).find((a) => a.retransmit)!;
      s.onAck(ack(10 * P, [], resent.tsval), 21 + ackFrac);
      t.is(s.stats.spuriousRetransmits, 0, `sent at +${sentFrac} ms, ACKed at +${ackFrac} ms`);
    }
  }
  // The original's echo (sent 10 ms before the retransmission) still proves it spurious.
  const s = started();
  const first = drain(s, 10);
  s.onAck(ack(0, [{ start: P, end: 10 * P }]), 20);
  drain(s, 20.0009);
  s.onAck(ack(10 * P, [], first[0]!.tsval), 21.0001);
  t.is(s.stats.spuriousRetransmits, 1);
});
