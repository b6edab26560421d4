/**
 * The two clocks of a connection. The idle clock (--idle-timeout) runs out when the client has
 * sent nothing and taken nothing we wrote for that long; the frame clock (--request-timeout)
 * runs from the first byte of a request frame (from connecting, for the HELLO) to its last, so
 * bytes that trickle in cannot extend it.
 *
 * Our own timers, not socket.setTimeout: Node's re-arms once more when a pending write moved at
 * all during the period, which let a client that stopped reading stay for twice the timeout.
 */
export class Deadlines {
  private idle: NodeJS.Timeout | undefined;
  private frame: NodeJS.Timeout | undefined;
  private stopped = false;
  /** When the client last took something we wrote, or the idle clock was (re)started. */
  lastProgressAt = performance.now();

  constructor(
    private readonly idleMs: number,
    private readonly frameMs: number,
    private readonly onIdle: () => void,
    private readonly onFrameLate: () => void,
  ) {}

  /** True while the idle clock is paused (the server itself is busy: opening, hashing). */
  get idlePaused(): boolean {
    return this.idle === undefined;
  }

  /** Stops the idle clock until resumeIdle(). */
  pauseIdle(): void {
    clearTimeout(this.idle);
    this.idle = undefined;
  }

  /** Starts the idle clock afresh. */
  resumeIdle(): void {
    if (this.stopped) return;
    this.lastProgressAt = performance.now();
    if (this.idle === undefined) this.idle = setTimeout(this.onIdle, this.idleMs);
    else this.idle.refresh();
  }

  /** The client sent something: the idle clock starts again (unless paused). */
  touch(): void {
    if (!this.stopped) this.idle?.refresh();
  }

  /** The client took some of what we wrote: as touch(), and it is not stalled. */
  progress(): void {
    this.lastProgressAt = performance.now();
    this.touch();
  }

  /** Starts the frame clock afresh (a new frame began). */
  startFrame(): void {
    if (this.stopped) return;
    clearTimeout(this.frame);
    this.frame = setTimeout(() => {
      this.frame = undefined;
      this.onFrameLate();
    }, this.frameMs);
  }

  /** Whether a frame clock is running. */
  get framePending(): boolean {
    return this.frame !== undefined;
  }

  /** Nothing partial is buffered: no frame clock. */
  endFrame(): void {
    clearTimeout(this.frame);
    this.frame = undefined;
  }

  /** Stops both clocks for good (the connection is closing). */
  stop(): void {
    this.stopped = true;
    this.pauseIdle();
    this.endFrame();
  }
}
