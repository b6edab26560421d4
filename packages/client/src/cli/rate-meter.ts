/**
 * Transfer speed averaged over the last few seconds (a sliding window of samples), so the
 * figure neither jumps with every buffer nor stays frozen during a stall: with no new bytes
 * it decays to 0 within the window.
 */

/** Width of the averaging window. */
export const RATE_WINDOW_MS = 5000;

export class RateMeter {
  private readonly samples: { t: number; bytes: number }[] = [];

  constructor(private readonly windowMs = RATE_WINDOW_MS) {}

  /** Records that `bytes` (a running total) had been moved at time `t` (ms). */
  add(t: number, bytes: number): void {
    this.samples.push({ t, bytes });
    // Keep one sample at or before the window start as the baseline.
    while (this.samples.length > 2 && this.samples[1]!.t <= t - this.windowMs) this.samples.shift();
  }

  /** Bytes per second over the window; 0 until there are two samples 100 ms apart. */
  rate(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (first === undefined || last === undefined) return 0;
    const dt = last.t - first.t;
    if (dt < 100) return 0;
    return ((last.bytes - first.bytes) / dt) * 1000;
  }
}
