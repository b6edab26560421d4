/**
 * The UDP sender's congestion response, driven round trip by round trip with segment numbers
 * (no sockets, no clock): a random loss is recovered from in a few round trips (BIC's binary
 * search back to the window at the loss), losses that keep coming still drive the window down,
 * and a timeout starts again from one segment with the old maximum forgotten.
 */
import test from 'ava';
import { BIC_MAX_INCREMENT, CongestionControl, LOSS_BETA } from '@ft/protocol';

const P = 1000;
const WINDOW = 1000 * P;

/** Delivers one round trip's worth (cwnd) segment by segment, with `una` past `nxt`. */
function roundTrip(cc: CongestionControl, seq: { nxt: number }): void {
  const segments = Math.floor(cc.cwnd / P);
  for (let i = 0; i < segments; i++) {
    seq.nxt++;
    cc.grow(P, seq.nxt);
  }
}

/** A window of `segments` reached in slow start, with `nxt` segments sent. */
function at(segments: number): { cc: CongestionControl; seq: { nxt: number } } {
  const cc = new CongestionControl(P, WINDOW);
  const seq = { nxt: 0 };
  while (cc.cwnd < segments * P) {
    seq.nxt++;
    cc.grow(P, seq.nxt);
  }
  return { cc, seq };
}

test('one random loss is recovered from in a few round trips, not in 0.3·W of them (Reno)', (t) => {
  const { cc, seq } = at(100);
  const before = cc.cwnd;
  t.true(cc.onLoss(seq.nxt - 50, seq.nxt));
  t.is(cc.cwnd, before * LOSS_BETA);
  t.is(cc.wMax, before);
  // Fast recovery: no growth for what was sent before the cut.
  cc.grow(P, seq.nxt - 1);
  t.is(cc.cwnd, before * LOSS_BETA);
  let rounds = 0;
  while (cc.cwnd < 0.95 * before) {
    roundTrip(cc, seq);
    rounds++;
  }
  // Half the distance per round trip: 70 → 85 → 92.5 → 96.
  t.true(rounds <= 4, `${rounds} round trips`);
  // No round trip grows by more than BIC_MAX_INCREMENT segments.
  const { cc: big, seq: bigSeq } = at(600);
  big.onLoss(bigSeq.nxt - 1, bigSeq.nxt);
  const cut = big.cwnd;
  roundTrip(big, bigSeq);
  t.true(big.cwnd - cut <= BIC_MAX_INCREMENT * P + 1, `${(big.cwnd - cut) / P} segments`);
  t.true(big.cwnd - cut >= (BIC_MAX_INCREMENT - 1) * P);
});

test('at and above the window of the last loss the window grows by one segment per round trip', (t) => {
  const { cc, seq } = at(100);
  cc.onLoss(seq.nxt - 1, seq.nxt);
  while (cc.cwnd < cc.wMax) roundTrip(cc, seq);
  const from = cc.cwnd;
  roundTrip(cc, seq);
  t.true(Math.abs(cc.cwnd - from - P) < 0.05 * P, `${(cc.cwnd - from) / P} segments`);
});

test('losses in every round trip (a queue that overflows) drive the window down to a few segments', (t) => {
  const { cc, seq } = at(100);
  const seen: number[] = [];
  for (let round = 0; round < 40; round++) {
    roundTrip(cc, seq);
    t.true(cc.onLoss(seq.nxt - 1, seq.nxt), 'one cut per round trip');
    seen.push(cc.cwnd / P);
  }
  // Each loss below the last maximum lowers that maximum too (fast convergence).
  t.true(cc.wMax < 10 * P, `wMax ${cc.wMax / P} segments`);
  t.true(cc.cwnd <= 5 * P, `cwnd ${seen.map((s) => s.toFixed(1)).join(' ')}`);
  for (let i = 1; i < seen.length; i++) t.true(seen[i]! <= seen[i - 1]! + 1e-9);
});

test('a second loss in the same window does not cut again; a timeout forgets the old maximum', (t) => {
  const { cc, seq } = at(100);
  t.true(cc.onLoss(seq.nxt - 10, seq.nxt));
  const once = cc.cwnd;
  t.false(cc.onLoss(seq.nxt - 5, seq.nxt + 3));
  t.is(cc.cwnd, once);
  cc.onTimeout(40, seq.nxt);
  t.is(cc.cwnd, P);
  t.is(cc.wMax, 0);
  t.is(cc.ssthresh, 20 * P);
  // Slow start up to ssthresh, then Reno's one segment per round trip: no jump back to 100.
  while (cc.cwnd < cc.ssthresh) roundTrip(cc, seq);
  const from = cc.cwnd;
  roundTrip(cc, seq);
  t.true(cc.cwnd - from <= 1.05 * P);
});

test('a loss undone as spurious restores the window and the old maximum', (t) => {
  const { cc, seq } = at(100);
  cc.onLoss(seq.nxt - 1, seq.nxt);
  roundTrip(cc, seq);
  cc.onLoss(seq.nxt - 1, seq.nxt);
  const wMax = cc.wMax;
  t.true(wMax < 100 * P);
  cc.undo();
  t.true(cc.wMax > wMax);
});
