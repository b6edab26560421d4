/**
 * The anti-replay window of an encrypted UDP session (as DTLS, RFC 9147 §4.5.1, and IPsec's
 * sliding window): the highest packet number authenticated so far, `top`, and a bitmap of the
 * WINDOW packet numbers at or below it. A packet number above `top` is new; one within the
 * window is new unless its bit is set; one below the window is refused as too old. The caller
 * asks `fresh()` before the (costly) AEAD check and `mark()`s only after the tag verified, so a
 * forged datagram never moves the window.
 */

/** Packet numbers the window remembers below the highest one seen. */
export const REPLAY_WINDOW = 1024;

/** Why a packet number is refused. */
export type ReplayVerdict = 'fresh' | 'replayed' | 'too-old';

export class ReplayWindow {
  /** Highest packet number marked; -1 before the first. */
  private top = -1;
  /** Bit (pn mod WINDOW) is set when pn (within the window) was marked. */
  private readonly bits = new Uint32Array(REPLAY_WINDOW / 32);

  /** Whether `pn` may be processed (checked before decrypting). */
  check(pn: number): ReplayVerdict {
    if (pn > this.top) return 'fresh';
    if (this.top - pn >= REPLAY_WINDOW) return 'too-old';
    return this.isSet(pn) ? 'replayed' : 'fresh';
  }

  /** Records `pn` as received (after its tag verified); slides the window when it is new. */
  mark(pn: number): void {
    if (pn > this.top) {
      // Clear the slots of the numbers the window slides over (all of them for a long jump).
      const steps = Math.min(pn - this.top, REPLAY_WINDOW);
      for (let i = 1; i <= steps; i++) this.clear(this.top + i);
      this.top = pn;
    }
    const slot = pn % REPLAY_WINDOW;
    this.bits[slot >>> 5]! |= 1 << (slot & 31);
  }

  private isSet(pn: number): boolean {
    const slot = pn % REPLAY_WINDOW;
    return (this.bits[slot >>> 5]! & (1 << (slot & 31))) !== 0;
  }

  private clear(pn: number): void {
    const slot = pn % REPLAY_WINDOW;
    this.bits[slot >>> 5]! &= ~(1 << (slot & 31));
  }
}
