import test from 'ava';
import { isFromChild, isToChild, shareOf } from '../src/process/ipc.js';

test('the workers’ shares of a limit add up to the limit and differ by at most one', (t) => {
  for (const [limit, workers] of [
    [1024, 2],
    [1024, 3],
    [64, 7],
    [7, 7],
    [10, 4],
  ] as const) {
    const shares = Array.from({ length: workers }, (_, slot) => shareOf(limit, workers, slot));
    t.is(
      shares.reduce((a, b) => a + b, 0),
      limit,
      `${limit} over ${workers}`,
    );
    t.true(Math.max(...shares) - Math.min(...shares) <= 1);
  }
});

test('a limit below the number of workers still gives every worker a share of one', (t) => {
  t.deepEqual(
    [0, 1, 2, 3].map((slot) => shareOf(2, 4, slot)),
    [1, 1, 1, 1],
  );
});

test('messages are recognised by their tag only when well-formed', (t) => {
  t.true(isToChild({ t: 'listen', maxConnections: 1, maxConnectionsPerIp: 1 }));
  t.true(isFromChild({ t: 'listen-failed', code: 'EADDRINUSE' }));
  t.false(isFromChild({ t: 'conn', id: 1 }));
  t.false(isToChild(null));
  t.false(isFromChild('ready'));
});
