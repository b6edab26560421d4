/**
 * Congestion control of the UDP sender: slow start, then additive increase; multiplicative
 * decrease (×LOSS_BETA) once per window of data on loss, undone when the loss proves spurious,
 * and back to one segment on timeout. Knows bytes and segment numbers, not the scoreboard.
 */
import { INITIAL_CWND_SEGMENTS, LOSS_BETA } from './types.js';

export class CongestionControl {
  /** Congestion window and slow-start threshold, in bytes. */
  cwnd: number;
  ssthresh = Infinity;
  private readonly maxCwnd: number;
  /** Segments at or above this number were sent after the last decrease. */
  private recoverySeg = 0;
  private fastRecovery = false;
  private priorCwnd = 0;
  private priorSsthresh = Infinity;

  constructor(
    private readonly payload: number,
    window: number,
  ) {
    this.maxCwnd = Math.max(2 * this.payload, window);
    this.cwnd = Math.min(INITIAL_CWND_SEGMENTS * this.payload, this.maxCwnd);
  }

  /**
   * A loss was detected at segment `lossAt` while `nxt` is the next new segment. Returns true
   * when it starts a new recovery, i.e. the window was reduced.
   */
  onLoss(lossAt: number, nxt: number): boolean {
    if (lossAt < this.recoverySeg) return false;
    // One multiplicative decrease per window of data (NewReno's recovery point).
    this.priorCwnd = this.cwnd;
    this.priorSsthresh = this.ssthresh;
    this.ssthresh = Math.max(this.cwnd * LOSS_BETA, 2 * this.payload);
    this.cwnd = this.ssthresh;
    this.recoverySeg = nxt;
    this.fastRecovery = true;
    return true;
  }

  /** The reduction was for a loss that did not happen (reordering): restore the window. */
  undo(): void {
    if (this.fastRecovery) {
      this.cwnd = Math.max(this.cwnd, this.priorCwnd);
      this.ssthresh = this.priorSsthresh;
      this.fastRecovery = false;
    }
  }

  /** `delivered` new bytes were acknowledged; `una` is the first unacknowledged segment. */
  grow(delivered: number, una: number): void {
    // During fast recovery cwnd stays at ssthresh (RFC 6675); after a timeout slow start runs.
    if (this.fastRecovery) {
      if (una < this.recoverySeg) return;
      this.fastRecovery = false;
    }
    if (this.cwnd < this.ssthresh) this.cwnd += delivered;
    else this.cwnd += (this.payload * delivered) / this.cwnd;
    if (this.cwnd > this.maxCwnd) this.cwnd = this.maxCwnd;
  }

  /** The retransmission timer expired with `pipe` segments in flight: back to one segment. */
  onTimeout(pipe: number, nxt: number): void {
    this.ssthresh = Math.max((pipe * this.payload) / 2, 2 * this.payload);
    this.cwnd = this.payload;
    this.recoverySeg = nxt;
    this.fastRecovery = false;
  }
}
