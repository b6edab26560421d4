/**
 * Congestion control of the UDP sender: slow start, then congestion avoidance; multiplicative
 * decrease (×LOSS_BETA) once per window of data on loss, undone when the loss proves spurious,
 * and back to one segment on timeout. Knows bytes and segment numbers, not the scoreboard.
 *
 * Congestion avoidance below the window at the last loss (wMax) is BIC's binary search
 * (Xu, Harfoush, Rhee, INFOCOM 2004; Linux tcp_bic): each round trip cwnd climbs half the way
 * back to wMax, at least one and at most BIC_MAX_INCREMENT segments; at and above wMax it is
 * Reno's one segment per round trip, and when losses come below the last wMax, wMax is lowered
 * further (BIC's fast convergence) so that a flow that is sharing gives up room. Reno alone
 * needs 0.3·W round trips to come back from a loss; random loss every ~100 segments (1% on
 * loopback) held cwnd at ~20 segments of the 97 the window allows, and the sender was
 * cwnd-limited on 85–90% of its sends. Every loss event still cuts the window ×LOSS_BETA, so
 * real congestion (a queue that overflows) still pushes it down, as a timeout does to one segment.
 */
import { BIC_MAX_INCREMENT, INITIAL_CWND_SEGMENTS, LOSS_BETA } from './types.js';

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
  /** cwnd when the last loss cut it (0: none yet, or a timeout since); and before that cut. */
  wMax = 0;
  private priorWMax = 0;

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
    this.priorWMax = this.wMax;
    // Fast convergence: a loss below the last maximum means less room than before.
    this.wMax = this.cwnd < this.wMax ? (this.cwnd * (1 + LOSS_BETA)) / 2 : this.cwnd;
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
      this.wMax = this.priorWMax;
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
    else {
      // Per round trip (a cwnd of bytes delivered): Reno's one segment, or BIC's half the
      // distance to wMax, bounded.
      let step = this.payload;
      if (this.cwnd < this.wMax) {
        const half = (this.wMax - this.cwnd) / 2;
        step = Math.min(Math.max(half, this.payload), BIC_MAX_INCREMENT * this.payload);
      }
      this.cwnd += (step * delivered) / this.cwnd;
    }
    if (this.cwnd > this.maxCwnd) this.cwnd = this.maxCwnd;
  }

  /** The retransmission timer expired with `pipe` segments in flight: back to one segment. */
  onTimeout(pipe: number, nxt: number): void {
    this.ssthresh = Math.max((pipe * this.payload) / 2, 2 * this.payload);
    this.cwnd = this.payload;
    // A timeout is no random loss: forget the old maximum, probe from scratch.
    this.wMax = 0;
    this.recoverySeg = nxt;
    this.fastRecovery = false;
  }
}
