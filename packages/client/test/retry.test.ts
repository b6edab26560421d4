import test from 'ava';
import { DEFAULT_RETRY_MAX_TIME_MS, RetryBudget, backoffDelay, sleep } from '../src/retry.js';

const opts = { baseDelayMs: 100, maxWaitMs: 1000, random: () => 0.999999 };

test('backoff grows exponentially up to the cap (full jitter ceiling)', (t) => {
  t.deepEqual(
    [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, opts)),
    [99, 199, 399, 799, 999, 999],
  );
});

test('full jitter: the delay is uniform between 0 and the ceiling', (t) => {
  t.is(backoffDelay(3, { ...opts, random: () => 0 }), 0);
  t.is(backoffDelay(3, { ...opts, random: () => 0.5 }), 200);
});

test("the server's retry-after is a floor, even above the cap", (t) => {
  t.is(backoffDelay(1, { ...opts, random: () => 0 }, 5000), 5000);
  t.is(backoffDelay(1, { ...opts, random: () => 0 }, 10 ** 12), 10 * 60 * 1000, 'but bounded');
});

test('the budget counts consecutive failures without progress and sleeps the backoff', async (t) => {
  const slept: number[] = [];
  const budget = new RetryBudget({
    retries: 2,
    maxWaitMs: 1000,
    baseDelayMs: 100,
    random: () => 0.5,
    sleep: async (ms) => {
      slept.push(ms);
    },
  });
  t.true(await budget.shouldRetry(undefined));
  t.true(await budget.shouldRetry(250));
  t.false(await budget.shouldRetry(undefined), 'the third failure in a row exhausts retries=2');
  t.deepEqual(slept, [50, 250]);
});

test('progress resets the failure count, so many interrupted attempts can still finish', async (t) => {
  const budget = new RetryBudget({ retries: 1, maxWaitMs: 10, sleep: async () => {} });
  for (let i = 0; i < 50; i++) {
    budget.start();
    t.true(await budget.shouldRetry(undefined));
    budget.progress();
  }
  t.is(budget.attempts, 50);
  t.is(budget.failures, 0);
});

test('sleep rejects with FT_ABORTED when the signal aborts', async (t) => {
  const controller = new AbortController();
  const pending = sleep(60_000, controller.signal);
  controller.abort();
  await t.throwsAsync(pending, { message: 'interrupted' });
  const aborted = AbortSignal.abort();
  const error = await t.throwsAsync(sleep(1, aborted));
  t.is((error as { code?: string }).code, 'FT_ABORTED');
});

test('by default an outage of 60 s is retried through, with the existing backoff and cap; 120 s ends it', async (t) => {
  let now = 0;
  const notices: { attempt: number; delayMs: number }[] = [];
  const budget = new RetryBudget({
    maxWaitMs: 30_000,
    random: () => 0.999,
    now: () => now,
    sleep: async (ms) => {
      now += ms;
    },
    onRetry: (n) => notices.push({ attempt: n.attempt, delayMs: n.delayMs }),
  });
  budget.start();
  while (now < 60_000) {
    t.true(await budget.shouldRetry(undefined), `still retrying ${now} ms into the outage`);
    budget.start();
  }
  // Delays double from 250 ms up to the 30 s cap; attempts are numbered from 2.
  t.deepEqual(
    notices.slice(0, 4).map((n) => n.attempt),
    [2, 3, 4, 5],
  );
  t.true(notices.every((n) => n.delayMs <= 30_000));
  t.true(notices[3]!.delayMs > notices[0]!.delayMs);
  while (await budget.shouldRetry(undefined)) budget.start();
  t.is(now, DEFAULT_RETRY_MAX_TIME_MS, 'the last wait ends exactly at the budget');
  budget.progress();
  t.true(await budget.shouldRetry(undefined), 'progress starts a new outage budget');
});

test('--retries still caps the count of consecutive failures', async (t) => {
  const budget = new RetryBudget({ retries: 2, maxWaitMs: 10, sleep: async () => {} });
  t.true(await budget.shouldRetry(undefined));
  t.true(await budget.shouldRetry(undefined));
  t.false(await budget.shouldRetry(undefined));
});
