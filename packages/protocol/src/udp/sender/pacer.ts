/**
 * Pacing of the UDP sender: a token bucket refilled at gain × cwnd / SRTT, holding at most a few
 * segments or two milliseconds' worth (Node timers do not fire more often than once a
 * millisecond), so a window is not dumped into the path at once.
 */
import type { RttEstimator } from '../rtt.js';
import type { CongestionControl } from './congestion.js';

export class Pacer {
  private tokens = 0;
  private at: number;

  constructor(
    private readonly payload: number,
    private readonly cc: CongestionControl,
    private readonly rtt: RttEstimator,
    now: number,
  ) {
    this.at = now;
  }

  /** Starts refilling from `now` (the data phase begins). */
  restart(now: number): void {
    this.at = now;
  }

  /** A segment of `length` bytes was sent. */
  spend(length: number): void {
    this.tokens -= length;
  }

  /** True when a full segment may not be sent yet at `now`. */
  blocked(now: number): boolean {
    const rate = this.rate();
    if (rate === Infinity) return false;
    const burst = Math.max(4 * this.payload, rate * 2);
    this.tokens = Math.min(burst, this.tokens + rate * (now - this.at));
    this.at = now;
    return this.tokens < this.payload;
  }

  /** When the bucket next holds a full segment (call after `blocked` returned true). */
  readyAt(): number {
    const rate = this.rate();
    // A microsecond of slack so float rounding cannot leave the bucket a hair short at the deadline.
    return this.at + Math.max(0, this.payload - this.tokens) / rate + 0.001;
  }

  private rate(): number {
    const srtt = this.rtt.srtt;
    if (srtt === undefined) return Infinity;
    const gain = this.cc.cwnd < this.cc.ssthresh ? 2 : 1.25;
    return (gain * this.cc.cwnd) / Math.max(srtt, 0.05);
  }
}
