/**
 * Retry policy: exponential backoff with full jitter, capped, honouring a server's
 * retry-after. The budget counts consecutive failures *without progress*: an attempt that
 * moved the download forward resets it, so a flaky link that drops every few megabytes still
 * finishes while a dead server gives up after `retries` tries.
 */
import { ClientError, ClientErrorCode } from './errors.js';

/** Longest retry-after we honour, so a confused server cannot park us for hours. */
export const MAX_RETRY_AFTER_MS = 10 * 60 * 1000;

export interface BackoffOptions {
  /** Delay ceiling before jitter for the first retry. */
  baseDelayMs: number;
  /** Cap on the exponential delay (--retry-max-wait). */
  maxWaitMs: number;
  /** Uniform random in [0, 1); injectable for tests. */
  random: () => number;
}

/**
 * Delay before retry number `failures` (1 = first retry): uniform in
 * [0, min(maxWait, base·2^(failures−1))], and never less than the server's retry-after.
 */
export function backoffDelay(failures: number, options: BackoffOptions, retryAfterMs = 0): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  const ceiling = Math.min(options.maxWaitMs, options.baseDelayMs * 2 ** exponent);
  const jittered = Math.floor(options.random() * ceiling);
  return Math.max(jittered, Math.min(Math.max(retryAfterMs, 0), MAX_RETRY_AFTER_MS));
}

/** Sleeps `ms`, rejecting with FT_ABORTED as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The error every cancelled operation rejects with. */
export function abortError(): ClientError {
  return new ClientError(ClientErrorCode.ABORTED, 'interrupted', {
    hint: 'run again with --resume to continue from where it stopped',
  });
}

export interface RetryOptions {
  /** Consecutive failed attempts without progress allowed before giving up. */
  retries: number;
  /** Cap on one backoff delay, in ms. */
  maxWaitMs: number;
  /** First backoff ceiling, in ms (default 250). */
  baseDelayMs?: number;
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Tracks one transfer's retry budget. */
export class RetryBudget {
  /** Attempts started so far (1 for the first). */
  attempts = 0;
  private failuresInARow = 0;
  private readonly backoff: BackoffOptions;
  private readonly sleepFn: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(private readonly options: RetryOptions) {
    this.backoff = {
      baseDelayMs: options.baseDelayMs ?? 250,
      maxWaitMs: options.maxWaitMs,
      random: options.random ?? Math.random,
    };
    this.sleepFn = options.sleep ?? sleep;
  }

  /** Call when an attempt starts. */
  start(): void {
    this.attempts++;
  }

  /** Call when an attempt moved the transfer forward: the failure count starts over. */
  progress(): void {
    this.failuresInARow = 0;
  }

  /** Consecutive failures without progress so far. */
  get failures(): number {
    return this.failuresInARow;
  }

  /**
   * After a retryable failure: returns false when the budget is spent, otherwise waits the
   * backoff delay (rejecting with FT_ABORTED if `signal` aborts) and returns true.
   */
  async shouldRetry(retryAfterMs: number | undefined, signal?: AbortSignal): Promise<boolean> {
    this.failuresInARow++;
    if (this.failuresInARow > this.options.retries) return false;
    await this.sleepFn(backoffDelay(this.failuresInARow, this.backoff, retryAfterMs ?? 0), signal);
    return true;
  }
}
