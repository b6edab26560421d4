import test from 'ava';
import { RttEstimator } from '@ft/protocol';

test('the first sample sets SRTT = R, RTTVAR = R/2 and RTO = SRTT + 4·RTTVAR (RFC 6298 2.2)', (t) => {
  const e = new RttEstimator({ minRtoMs: 1, maxRtoMs: 60_000 });
  e.sample(100);
  t.is(e.srtt, 100);
  t.is(e.rttvar, 50);
  t.is(e.rto, 300);
});

test('later samples are smoothed with alpha 1/8 and beta 1/4 (RFC 6298 2.3)', (t) => {
  const e = new RttEstimator({ minRtoMs: 1, maxRtoMs: 60_000 });
  e.sample(100);
  e.sample(200);
  t.is(e.rttvar, 0.75 * 50 + 0.25 * 100);
  t.is(e.srtt, 0.875 * 100 + 0.125 * 200);
  t.is(e.rto, e.srtt! + 4 * e.rttvar);
});

test('the RTO is clamped to the minimum and the maximum', (t) => {
  const e = new RttEstimator({ minRtoMs: 100, maxRtoMs: 2000 });
  e.sample(1);
  t.is(e.rto, 100);
  e.sample(5000);
  t.is(e.rto, 2000);
});

test('each timeout doubles the RTO up to the cap, and a new sample ends the backoff', (t) => {
  const e = new RttEstimator({ initialRtoMs: 300, minRtoMs: 100, maxRtoMs: 2000 });
  t.is(e.rto, 300);
  e.backoff();
  t.is(e.rto, 600);
  e.backoff();
  e.backoff();
  t.is(e.rto, 2000);
  e.backoff();
  t.is(e.rto, 2000);
  e.sample(50);
  t.is(e.backoffCount, 0);
  t.is(e.rto, 150);
});
