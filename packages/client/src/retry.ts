/**
 * Retry policy: exponential backoff with full jitter, capped, honouring a server's
 * retry-after. The budget is spent per outage, i.e. by failures *without progress*: an attempt
 * that moved the download forward starts it over, so a flaky link that drops every few
 * megabytes still finishes. An outage ends the download once it has lasted `maxTimeMs` (like
 * curl's --retry-max-time, so a server restarting for a minute is waited for however quickly
 * it refuses) or, when `retries` is set, after that many consecutive failures.
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

/** Told before each retry's wait, for "retrying in 4 s (attempt 3): connection refused". */
export interface RetryNotice {
  /** The attempt about to be made (2 for the first retry). */
  attempt: number;
  delayMs: number;
  /** The failure that caused the retry. */
  error: unknown;
}

/** Default for RetryOptions.maxTimeMs: an outage of two minutes is waited out. */
export const DEFAULT_RETRY_MAX_TIME_MS = 120_000;

export interface RetryOptions {
  /** Consecutive failed attempts without progress allowed before giving up (default: no count limit). */
  retries?: number | undefined;
  /** Longest outage (time since the first failure without progress) retried through. */
  maxTimeMs?: number | undefined;
  onRetry?: ((notice: RetryNotice) => void) | undefined;
  /** Monotonic clock in ms; injectable for tests. */
  now?: () => number;
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
  private outageStart = 0;
  private readonly now: () => number;
  private readonly backoff: BackoffOptions;
  private readonly sleepFn: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(private readonly options: RetryOptions) {
    this.backoff = {
      baseDelayMs: options.baseDelayMs ?? 250,
      maxWaitMs: options.maxWaitMs,
      random: options.random ?? Math.random,
    };
    this.sleepFn = options.sleep ?? sleep;
    this.now = options.now ?? (() => performance.now());
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
   * backoff delay (rejecting with FT_ABORTED if `signal` aborts) and returns true. The last
   * wait is shortened so that the final attempt starts when the outage budget ends.
   */
  async shouldRetry(
    retryAfterMs: number | undefined,
    signal?: AbortSignal,
    error?: unknown,
  ): Promise<boolean> {
    this.failuresInARow++;
    const now = this.now();
    if (this.failuresInARow === 1) this.outageStart = now;
    const { retries, maxTimeMs = DEFAULT_RETRY_MAX_TIME_MS } = this.options;
    if (retries !== undefined && this.failuresInARow > retries) return false;
    const remaining = maxTimeMs - (now - this.outageStart);
    if (remaining <= 0) return false;
    const delayMs = Math.min(
      remaining,
      backoffDelay(this.failuresInARow, this.backoff, retryAfterMs ?? 0),
    );
    this.options.onRetry?.({ attempt: this.attempts + 1, delayMs, error });
    await this.sleepFn(delayMs, signal);
    return true;
  }
}

/** The retry options of a download (one place, for files and for stdout alike). */
export function retryOptionsOf(o: {
  retries?: number | undefined;
  retryMaxWaitMs?: number | undefined;
  retryBaseDelayMs?: number | undefined;
  retryMaxTimeMs?: number | undefined;
  onRetry?: ((notice: RetryNotice) => void) | undefined;
}): RetryOptions {
  return {
    retries: o.retries,
    maxWaitMs: o.retryMaxWaitMs ?? 30_000,
    baseDelayMs: o.retryBaseDelayMs ?? 250,
    maxTimeMs: o.retryMaxTimeMs,
    onRetry: o.onRetry,
  };
}
