/**
 * Byte-rate limits for senders and receivers of either transport: token buckets that may go
 * into debt (a sender takes what it is about to send and then waits the debt off), and the
 * parser of rates such as "10M" that ftget and ftserve share. Here because both sides use it,
 * like the UDP engine beside it.
 */

/** Units of parseRate: powers of 1024, as wget's and curl's --limit-rate. */
const UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * "10M" → 10485760 bytes per second. A positive number with an optional k, M or G suffix
 * (any case, powers of 1024); undefined for anything else.
 */
export function parseRate(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)\s*$/i.exec(text);
  if (m === null) return undefined;
  const value = Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/** A token bucket of `rate` bytes per second holding at most `burst` bytes. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    readonly rate: number,
    readonly burst = Math.max(16 * 1024, Math.floor(rate / 8)),
    now = performance.now(),
  ) {
    this.tokens = burst;
    this.at = now;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.rate) / 1000);
    this.at = now;
  }

  /** Takes `bytes` (the bucket may go into debt); returns the ms until the debt is paid. */
  take(bytes: number, now = performance.now()): number {
    this.refill(now);
    this.tokens -= bytes;
    return this.delay(now);
  }

  /** Ms until the bucket is out of debt (0 when it is not in debt). */
  delay(now = performance.now()): number {
    this.refill(now);
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.rate;
  }
}

/** Several buckets that all apply (per connection and overall): the slowest one decides. */
export class Throttle {
  constructor(private readonly buckets: readonly TokenBucket[]) {}

  /** Largest piece worth sending at once: about 1/20 s at the slowest rate (16 KiB at least). */
  get chunk(): number {
    const slowest = Math.min(...this.buckets.map((b) => b.rate));
    return Math.max(16 * 1024, Math.floor(slowest / 20));
  }

  /** Takes `bytes` from every bucket; returns the ms to wait before sending more. */
  take(bytes: number, now = performance.now()): number {
    let wait = 0;
    for (const b of this.buckets) wait = Math.max(wait, b.take(bytes, now));
    return wait;
  }

  /** Ms until every bucket is out of debt. */
  delay(now = performance.now()): number {
    let wait = 0;
    for (const b of this.buckets) wait = Math.max(wait, b.delay(now));
    return wait;
  }

  /** Takes `bytes`, then waits off the debt (rejects if `signal` aborts meanwhile). */
  async consume(bytes: number, signal?: AbortSignal): Promise<void> {
    const wait = this.take(bytes);
    if (wait <= 0) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(done, Math.ceil(wait));
      function done(): void {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }
      function onAbort(): void {
        clearTimeout(timer);
        reject(signal!.reason);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** A Throttle of the given rates (undefined ones left out), or undefined when none is set. */
export function throttleOf(...buckets: (TokenBucket | undefined)[]): Throttle | undefined {
  const set = buckets.filter((b): b is TokenBucket => b !== undefined);
  return set.length === 0 ? undefined : new Throttle(set);
}
