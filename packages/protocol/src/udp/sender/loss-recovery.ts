/**
 * Loss recovery of the UDP sender: the per-segment scoreboard (sent, in flight, SACKed, lost,
 * retransmitted) and the decisions made on it. A segment is deemed lost when DUP_THRESHOLD
 * later segments were SACKed (fast retransmit) or when a segment sent more than a reordering
 * window after it was delivered (RACK-style, which also catches lost retransmissions); on a
 * timeout everything in flight is lost. Lost segments queue for retransmission in order.
 * A retransmission whose original arrives after all proves the path reorders: loss is then
 * inferred from time only, with a wider window.
 */
import type { ByteRange } from '../messages.js';
import { DUP_THRESHOLD } from './types.js';

const SACKED = 1;
const RETRANSMITTED = 2;
const LOST = 4;
const IN_FLIGHT = 8;
/** Sent as a tail-loss probe: its delivery says nothing about reordering. */
const PROBED = 16;
/**
 * An echo names an earlier transmission only if it is older by a whole tick of the DATA
 * timestamp (1 µs = 0.001 ms): the echo is rebuilt from a µs count and the ACK's arrival time,
 * so the echo of the retransmission itself comes back up to 1 µs early. With half a tick, one
 * retransmission in eight was taken for spurious (~12% of them at 1% and 5% loss): its window
 * cut undone and loss detection switched to time alone.
 */
const ECHO_TICK_MS = 0.001;

/** What one ACK newly delivered, for RTT sampling, RACK and congestion control. */
export interface AckTally {
  /** Bytes newly acknowledged, cumulatively or selectively. */
  delivered: number;
  /** RTT of a never-retransmitted segment newly acknowledged cumulatively (Karn's rule). */
  karnSample: number | undefined;
  /** Latest send time among the newly delivered segments (RACK). */
  rackXmit: number;
  /** A retransmitted segment was delivered by its original transmission. */
  spurious: boolean;
}

/** Segments on a grid of `payload` bytes from `start`, tracked in a ring of the window's size. */
export class Scoreboard {
  /** Segments to send in all. */
  readonly segments: number;
  /** First unacknowledged segment. */
  una = 0;
  /** Next new segment. */
  nxt = 0;
  /** Segments counted as in flight. */
  pipe = 0;
  private readonly cap: number;
  private readonly sentAt: Float64Array;
  private readonly flags: Uint8Array;
  private highestSacked = -1;
  private lostQueue: number[] = [];
  private lostHead = 0;
  /** Reordering was observed: loss is inferred from time (reoWnd), no longer from counts. */
  private reordering = false;
  /** Extra reordering window (ms), grown each time a retransmission proves spurious. */
  private reoWnd = 0;

  constructor(
    private readonly start: number,
    private readonly end: number,
    private readonly payload: number,
    window: number,
  ) {
    this.segments = Math.ceil((this.end - this.start) / this.payload);
    this.cap = Math.max(2, Math.ceil(window / this.payload)) + 1;
    this.sentAt = new Float64Array(this.cap);
    this.flags = new Uint8Array(this.cap);
  }

  /** Segments waiting in the retransmission queue (some may since have been acknowledged). */
  get lostCount(): number {
    return this.lostQueue.length - this.lostHead;
  }

  get hasLost(): boolean {
    return this.lostHead < this.lostQueue.length;
  }

  offsetOf(seg: number): number {
    return this.start + seg * this.payload;
  }

  segLength(seg: number): number {
    return Math.min(this.payload, this.end - (this.start + seg * this.payload));
  }

  /** True when a new segment remains and the ring has room for it. */
  canSendNew(): boolean {
    return this.nxt < this.segments && this.nxt - this.una < this.cap - 1;
  }

  /** Takes the next new segment (check canSendNew first). */
  takeNew(): number {
    const seg = this.nxt++;
    this.flags[seg % this.cap] = 0;
    return seg;
  }

  /** The next lost segment still worth resending, marked retransmitted; undefined when none. */
  nextLost(): number | undefined {
    while (this.lostHead < this.lostQueue.length) {
      const seg = this.lostQueue[this.lostHead++]!;
      if (seg < this.una) continue;
      const slot = seg % this.cap;
      if ((this.flags[slot]! & (LOST | SACKED)) !== LOST) continue;
      this.flags[slot] = (this.flags[slot]! & ~LOST) | RETRANSMITTED;
      return seg;
    }
    return undefined;
  }

  compactLostQueue(): void {
    if (this.lostHead > 0 && this.lostHead >= this.lostQueue.length) {
      this.lostQueue = [];
      this.lostHead = 0;
    }
  }

  /** The last unSACKed segment, marked as a probing retransmission; -1 when there is none. */
  probeLastUnsacked(): number {
    let seg = -1;
    for (let s = this.nxt - 1; s >= this.una; s--) {
      if ((this.flags[s % this.cap]! & SACKED) === 0) {
        seg = s;
        break;
      }
    }
    if (seg < 0) return -1;
    const slot = seg % this.cap;
    this.flags[slot] = (this.flags[slot]! & ~LOST) | RETRANSMITTED | PROBED;
    return seg;
  }

  /** Records a transmission of `seg` at `now`. */
  markSent(seg: number, now: number): void {
    const slot = seg % this.cap;
    if (seg >= this.una && (this.flags[slot]! & (IN_FLIGHT | SACKED)) === 0) {
      this.flags[slot]! |= IN_FLIGHT;
      this.pipe++;
    }
    this.sentAt[slot] = now;
  }

  /**
   * Applies the cumulative offset and SACK ranges of an ACK (already checked against what was
   * sent). `echoAt` is when the echoed DATA was sent (-Infinity if unknown).
   */
  acknowledge(
    cumulative: number,
    ranges: readonly ByteRange[],
    echoAt: number,
    now: number,
  ): AckTally {
    let delivered = 0;
    let karnSample: number | undefined;
    let rackXmit = -Infinity;
    let spurious = false;
    // Cumulative part. `cumulative` must be on the segment grid or the end.
    const cumSeg =
      cumulative >= this.end ? this.segments : Math.floor((cumulative - this.start) / this.payload);
    while (this.una < cumSeg) {
      const slot = this.una % this.cap;
      const f = this.flags[slot]!;
      if ((f & SACKED) === 0) {
        delivered += this.segLength(this.una);
        if ((f & RETRANSMITTED) === 0) karnSample = now - this.sentAt[slot]!;
        else if ((f & PROBED) === 0 && echoAt < this.sentAt[slot]! - ECHO_TICK_MS) spurious = true;
        rackXmit = Math.max(rackXmit, this.sentAt[slot]!);
      }
      if ((f & IN_FLIGHT) !== 0) this.pipe--;
      this.flags[slot] = 0;
      this.una++;
    }
    // Selective part: whole segments inside each range.
    for (const r of ranges) {
      let seg = Math.max(this.una, Math.ceil((r.start - this.start) / this.payload));
      for (; seg < this.nxt; seg++) {
        const off = this.start + seg * this.payload;
        if (off + this.segLength(seg) > r.end) break;
        const slot = seg % this.cap;
        const f = this.flags[slot]!;
        if ((f & SACKED) !== 0) continue;
        if ((f & IN_FLIGHT) !== 0) this.pipe--;
        this.flags[slot] = (f & ~(IN_FLIGHT | LOST)) | SACKED;
        delivered += this.segLength(seg);
        if (
          (f & (RETRANSMITTED | PROBED)) === RETRANSMITTED &&
          echoAt < this.sentAt[slot]! - ECHO_TICK_MS
        )
          spurious = true;
        rackXmit = Math.max(rackXmit, this.sentAt[slot]!);
        if (seg > this.highestSacked) this.highestSacked = seg;
      }
    }
    return { delivered, karnSample, rackXmit, spurious };
  }

  /**
   * The path reorders (a retransmission proved spurious): stop inferring loss from counts and
   * widen the reordering window, as RACK does on DSACK (RFC 8985 section 6.2).
   */
  noteReordering(minRtt: number, srtt: number | undefined): void {
    this.reordering = true;
    const quarter = Number.isFinite(minRtt) ? minRtt / 4 : 1;
    this.reoWnd = Math.min(this.reoWnd + Math.max(quarter, 1), srtt ?? 100);
  }

  /**
   * Marks lost every in-flight segment below the highest SACKed one that is lost by count or by
   * time (`rackXmit`: latest send time delivered). Returns the first one (-1 if none) and how many.
   */
  detectLosses(rackXmit: number, minRtt: number): { first: number; count: number } {
    let first = -1;
    let count = 0;
    if (this.highestSacked < this.una) return { first, count };
    const reoWnd = Math.max(Number.isFinite(minRtt) ? minRtt / 4 : 0, this.reoWnd);
    for (let seg = this.una; seg < this.highestSacked; seg++) {
      const slot = seg % this.cap;
      const f = this.flags[slot]!;
      if ((f & IN_FLIGHT) === 0) continue;
      const byCount =
        !this.reordering && (f & RETRANSMITTED) === 0 && seg + DUP_THRESHOLD <= this.highestSacked;
      const byTime = this.sentAt[slot]! + reoWnd < rackXmit;
      if (!byCount && !byTime) continue;
      this.flags[slot] = (f & ~IN_FLIGHT) | LOST;
      this.pipe--;
      this.lostQueue.push(seg);
      count++;
      if (first < 0) first = seg;
    }
    return { first, count };
  }

  /** Retransmission timeout: every segment in flight is lost, queued in order. */
  markAllLost(): void {
    this.lostQueue.splice(0, this.lostHead);
    this.lostHead = 0;
    for (let seg = this.una; seg < this.nxt; seg++) {
      const slot = seg % this.cap;
      const f = this.flags[slot]!;
      if ((f & IN_FLIGHT) === 0) continue;
      this.flags[slot] = (f & ~IN_FLIGHT) | LOST;
      this.pipe--;
      this.lostQueue.push(seg);
    }
    this.lostQueue.sort((a, b) => a - b);
  }
}
