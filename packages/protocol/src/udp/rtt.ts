/**
 * Retransmission timeout from measured round-trip times, as in RFC 6298: a smoothed RTT and its
 * variance, RTO = SRTT + 4·RTTVAR clamped to [minRto, maxRto], doubled on every timeout (the
 * backed-off value is kept until a new sample arrives).
 */

export interface RttOptions {
  /** RTO before the first sample (RFC 6298 says 1 s). */
  initialRtoMs?: number;
  /** Lower clamp. RFC 6298 says 1 s; ft uses less because most of its paths are short. */
  minRtoMs?: number;
  /** Upper clamp, also for backoff; bounds how long a recovered path waits for the next probe. */
  maxRtoMs?: number;
}

export const RTT_DEFAULTS = { initialRtoMs: 1000, minRtoMs: 100, maxRtoMs: 2000 } as const;

export class RttEstimator {
  /** Smoothed RTT in ms; undefined until the first sample. */
  srtt: number | undefined;
  rttvar = 0;
  /** Smallest sample seen (for the reordering window). */
  minRtt = Infinity;
  private base: number;
  private backoffs = 0;
  private readonly minRto: number;
  private readonly maxRto: number;

  constructor(options: RttOptions = {}) {
    this.minRto = options.minRtoMs ?? RTT_DEFAULTS.minRtoMs;
    this.maxRto = options.maxRtoMs ?? RTT_DEFAULTS.maxRtoMs;
    this.base = this.clamp(options.initialRtoMs ?? RTT_DEFAULTS.initialRtoMs);
  }

  /** Current RTO in ms, including backoff. */
  get rto(): number {
    return Math.min(this.base * 2 ** this.backoffs, this.maxRto);
  }

  /** Number of consecutive backoffs since the last sample. */
  get backoffCount(): number {
    return this.backoffs;
  }

  /** Feeds one RTT measurement in ms (RFC 6298 section 2, K = 4, alpha = 1/8, beta = 1/4). */
  sample(r: number): void {
    if (!(r >= 0) || !Number.isFinite(r)) return;
    if (this.srtt === undefined) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.minRtt = Math.min(this.minRtt, r);
    this.base = this.clamp(this.srtt + Math.max(4 * this.rttvar, 1));
    this.backoffs = 0;
  }

  /** A retransmission timer expired: double the RTO (capped). */
  backoff(): void {
    if (this.base * 2 ** this.backoffs < this.maxRto) this.backoffs++;
  }

  private clamp(v: number): number {
    return Math.min(Math.max(v, this.minRto), this.maxRto);
  }
}
