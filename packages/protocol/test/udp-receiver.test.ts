import test from 'ava';
import { UdpLimits, UdpReceiver } from '@ft/protocol';

const P = 100;
const seg = (i: number, len = P) => Buffer.alloc(len, i & 0xff);

function receiver(size = 10 * P, window = 10 * P) {
  return new UdpReceiver({ start: 0, end: size, payloadSize: P, window });
}

test('in-order segments are handed out in order and move the cumulative offset', (t) => {
  const r = receiver();
  t.is(r.onData(0, seg(0), 1), 'new');
  t.is(r.onData(P, seg(1), 2), 'new');
  t.deepEqual(r.takeReady(), [seg(0), seg(1)]);
  t.is(r.cumulative, 2 * P);
  t.deepEqual(r.makeAck().ranges, []);
});

test('out-of-order segments are held, SACKed, and delivered when the hole fills', (t) => {
  const r = receiver();
  r.onData(2 * P, seg(2), 1);
  r.onData(3 * P, seg(3), 2);
  r.onData(5 * P, seg(5), 3);
  t.deepEqual(r.takeReady(), []);
  t.true(r.ackUrgent);
  const ack = r.makeAck();
  t.is(ack.cumulative, 0);
  t.is(ack.tsEcho, 3);
  t.deepEqual(ack.ranges, [
    { start: 2 * P, end: 4 * P },
    { start: 5 * P, end: 6 * P },
  ]);
  r.onData(0, seg(0), 4);
  r.onData(P, seg(1), 5);
  t.deepEqual(r.takeReady(), [seg(0), seg(1), seg(2), seg(3)]);
  t.is(r.cumulative, 4 * P);
  t.deepEqual(r.makeAck().ranges, [{ start: 5 * P, end: 6 * P }]);
});

test('duplicates are reported and never handed out twice', (t) => {
  const r = receiver();
  r.onData(0, seg(0), 1);
  r.onData(2 * P, seg(2), 1);
  t.is(r.onData(0, seg(0), 1), 'duplicate');
  t.is(r.onData(2 * P, seg(2), 1), 'duplicate');
  t.is(r.takeReady().length, 1);
  t.is(r.stats.duplicates, 2);
});

test('data off the segment grid, of the wrong length or outside the file is invalid', (t) => {
  const r = receiver(10 * P - 30);
  t.is(r.onData(50, seg(0), 1), 'invalid');
  t.is(r.onData(0, seg(0, P - 1), 1), 'invalid');
  t.is(r.onData(9 * P, seg(9), 1), 'invalid'); // the last segment is 70 bytes
  t.is(r.onData(9 * P, seg(9, 70), 1), 'new');
  t.is(r.onData(10 * P, seg(10), 1), 'invalid');
});

test('the window bounds what is held and slides only as bytes are released', (t) => {
  const r = receiver(20 * P, 4 * P);
  t.is(r.onData(4 * P, seg(4), 1), 'outside-window');
  for (let i = 0; i < 4; i++) r.onData(i * P, seg(i), 1);
  t.is(r.makeAck().windowEnd, 4 * P);
  t.is(r.takeReady().length, 4);
  t.is(r.onData(4 * P, seg(4), 1), 'outside-window');
  r.release(4 * P);
  t.true(r.ackUrgent, 'a window update the sender waits for is sent at once');
  t.is(r.makeAck().windowEnd, 8 * P);
  t.is(r.onData(4 * P, seg(4), 1), 'new');
});

test('an ACK carries at most 32 ranges, including the one with the latest arrival', (t) => {
  const n = UdpLimits.MAX_ACK_RANGES + 10;
  const r = receiver(3 * n * P, 3 * n * P);
  for (let i = 1; i <= n; i++) r.onData(2 * i * P, seg(i), i);
  const ack = r.makeAck();
  t.is(ack.ranges.length, UdpLimits.MAX_ACK_RANGES);
  t.deepEqual(ack.ranges.at(-1), { start: 2 * n * P, end: (2 * n + 1) * P });
  t.deepEqual(ack.ranges[0], { start: 2 * P, end: 3 * P });
});

test('an ackEvery above 8 holds while nothing is lost; from the first hole on it is 8', (t) => {
  const r = new UdpReceiver({
    start: 0,
    end: 100 * P,
    payloadSize: P,
    window: 100 * P,
    ackEvery: 16,
  });
  const urgentAfter = (from: number): number => {
    for (let i = from; ; i++) {
      r.onData(i * P, seg(i), i + 1);
      if (r.ackUrgent) {
        r.makeAck();
        return i - from + 1;
      }
    }
  };
  t.is(urgentAfter(0), 16);
  // A hole at 16: the segment above it is urgent; once the hole fills, every 8 again.
  r.onData(17 * P, seg(17), 18);
  t.true(r.ackUrgent);
  r.makeAck();
  r.onData(16 * P, seg(16), 17);
  r.makeAck();
  t.is(urgentAfter(18), 8);
});

test('above a hole an ACK is urgent at the hole, at the duplicate threshold, then by count', (t) => {
  const r = new UdpReceiver({ start: 0, end: 100 * P, payloadSize: P, window: 100 * P });
  const urgentAt: number[] = [];
  const feed = (i: number): void => {
    r.onData(i * P, seg(i), i + 1);
    if (r.ackUrgent) {
      urgentAt.push(i);
      r.makeAck();
    }
  };
  feed(0);
  r.makeAck();
  // Segment 1 is lost: 2 opens the hole, 4 is the third above it (the sender declares 1 lost),
  // then the count of 8 new segments since the last ACK goes on being the ACK clock.
  for (let i = 2; i <= 21; i++) feed(i);
  t.deepEqual(urgentAt, [2, 4, 12, 20]);
  // A second hole (22 lost) is told at once, and so is the retransmission that fills the first.
  feed(23);
  t.deepEqual(urgentAt.slice(4), [23]);
  feed(1);
  t.deepEqual(urgentAt.slice(5), [1]);
  t.is(r.cumulative, 22 * P);
});

test('a pause with an ACK pending makes ACKs come sooner; ACKs due by count raise it back', (t) => {
  const r = new UdpReceiver({
    start: 0,
    end: 1000 * P,
    payloadSize: P,
    window: 1000 * P,
    ackEvery: 16,
  });
  let next = 0;
  const countUntilUrgent = (): number => {
    for (let n = 1; ; n++) {
      r.onData(next * P, seg(next), next + 1);
      next++;
      if (r.ackUrgent) {
        r.makeAck();
        return n;
      }
    }
  };
  t.is(countUntilUrgent(), 16);
  // A sender whose window is 6 segments: 6 arrive, then nothing until the delayed ACK.
  for (let i = 0; i < 6; i++, next++) r.onData(next * P, seg(next), next + 1);
  t.false(r.ackUrgent);
  r.onAckDelay();
  r.makeAck();
  t.is(countUntilUrgent(), 3);
  t.is(countUntilUrgent(), 4);
  t.is(countUntilUrgent(), 5);
  for (let i = 0; i < 20; i++) countUntilUrgent();
  t.is(countUntilUrgent(), 16, 'never above ackEvery');
});

test('a pause at the edge of the window is the window, not a small congestion window', (t) => {
  const r = new UdpReceiver({
    start: 0,
    end: 100 * P,
    payloadSize: P,
    window: 20 * P,
    ackEvery: 16,
  });
  for (let i = 0; i < 16; i++) r.onData(i * P, seg(i), i + 1);
  r.makeAck();
  // Nothing released: the sender may send up to 20 and is then stuck at the window's edge.
  for (let i = 16; i < 20; i++) r.onData(i * P, seg(i), i + 1);
  r.onAckDelay();
  r.makeAck();
  r.release(20 * P);
  r.makeAck();
  let n = 0;
  for (let i = 20; !r.ackUrgent; i++, n++) r.onData(i * P, seg(i), i + 1);
  t.is(n, 16);
});
