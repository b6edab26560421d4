/** tailProbes: a second tail-loss probe before the RTO (injected clock, no sockets). */
import test from 'ava';
import { UdpSender } from '@ft/protocol';
import type { AckInput, SenderAction } from '@ft/protocol';

const P = 1000;

function started(tailProbes: number | undefined): UdpSender {
  const s = new UdpSender(
    {
      start: 0,
      end: 10 * P,
      payloadSize: P,
      window: 100 * P,
      livenessMs: 5000,
      pacing: false,
      minRtoMs: 50,
      ...(tailProbes === undefined ? {} : { tailProbes }),
    },
    0,
  );
  s.nextAction(0);
  s.onAck({ cumulative: 0, windowEnd: 1e9, tsEcho: 0, ranges: [] }, 10);
  return s;
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

/** Sends all 10 segments; 8 and 9 are lost; returns the time of the first probe. */
function lostTail(s: UdpSender): number {
  drain(s, 10);
  s.onAck(ack(8 * P), 20);
  const at = s.nextDeadline(20);
  s.onTimer(at);
  return at;
}

test('with tailProbes 2, a lost probe is followed by a second one before the RTO, whose ACK repairs the tail', (t) => {
  const s = started(2);
  const first = lostTail(s);
  t.deepEqual(
    drain(s, first).map((a) => a.offset),
    [9 * P],
  );
  const rto = first + s.rtt.rto;
  const second = s.nextDeadline(first);
  t.true(second < rto, 'the second probe is due before the RTO');
  s.onTimer(second);
  const probe = drain(s, second);
  t.deepEqual(
    probe.map((a) => [a.offset, a.retransmit]),
    [[9 * P, true]],
  );
  t.is(s.stats.probes, 2);
  t.is(s.nextDeadline(second), second + s.rtt.rto, 'no third probe: then the RTO');
  s.onAck(ack(8 * P, [{ start: 9 * P, end: 10 * P }], probe[0]!.tsval), second + 5);
  t.deepEqual(
    drain(s, second + 5).map((a) => a.offset),
    [8 * P],
    'the hole below the probe is found lost and resent',
  );
  s.onAck(ack(10 * P), second + 10);
  t.is(s.phase, 'fin');
  t.is(s.stats.timeouts, 0);
});

test('the default stays one probe per flight (RFC 8985)', (t) => {
  for (const tailProbes of [undefined, 1, 0]) {
    const s = started(tailProbes);
    const first = lostTail(s);
    drain(s, first);
    t.is(s.stats.probes, 1);
    t.is(s.nextDeadline(first), first + s.rtt.rto);
  }
});

test('an ACK that delivers data after the first probe re-arms a full set of probes for the next flight', (t) => {
  const s = started(2);
  const first = lostTail(s);
  const probe = drain(s, first);
  // The probe's ACK: 9 arrived, 8 is still missing (it is then deemed lost and resent).
  s.onAck(ack(8 * P, [{ start: 9 * P, end: 10 * P }], probe[0]!.tsval), first + 5);
  const resent = drain(s, first + 5);
  t.deepEqual(
    resent.map((a) => a.offset),
    [8 * P],
  );
  // The resend is lost too: two more probes may go out before the RTO.
  let now = first + 5;
  for (let i = 0; i < 2; i++) {
    const due = s.nextDeadline(now);
    t.true(due < now + s.rtt.rto);
    s.onTimer(due);
    t.is(drain(s, due).length, 1);
    now = due;
  }
  t.is(s.stats.probes, 3);
  t.is(s.stats.timeouts, 0);
});
