/**
 * The two clocks of a connection. The idle clock (--idle-timeout) runs out when the client has
 * sent nothing and taken nothing we wrote for that long; the frame clock (--request-timeout)
 * runs from the first byte of a request frame (from connecting, for the HELLO) to its last, so
 * bytes that trickle in cannot extend it.
 *
 * Our own timers, not socket.setTimeout: Node's re-arms once more when a pending write moved at
 * all during the period, which let a client that stopped reading stay for twice the timeout.
 *
 * A clock that runs out decides one step later (setImmediate): timers run before the loop
 * reads sockets, so on a starved process (a worker just started, a loaded host) bytes that were
 * waiting in the kernel all along are read first and can still stop it.
 */
export class Deadlines {
  private idle: NodeJS.Timeout | undefined;
  private frame: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The idle clock is paused (its timer, if any, is ignored until resumeIdle). */
  private paused = true;
  /** Bumped by every change of each clock: a decision pending from an older one is void. */
  private idleRound = 0;
  private frameRound = 0;
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
    return this.paused;
  }

  /**
   * Stops the idle clock until resumeIdle(). The timer is kept (a paused clock ignores it when
   * it fires, and resumeIdle re-arms it): every GET pauses and resumes once, and refreshing one
   * timer costs less than clearing it and making another.
   */
  pauseIdle(): void {
    this.idleRound++;
    this.paused = true;
  }

  /** Starts the idle clock afresh. */
  resumeIdle(): void {
    if (this.stopped) return;
    this.lastProgressAt = performance.now();
    this.idleRound++;
    this.paused = false;
    if (this.idle === undefined) this.idle = setTimeout(() => this.idleRanOut(), this.idleMs);
    else this.idle.refresh();
  }

  /** The client sent something: the idle clock starts again (unless paused). */
  touch(): void {
    if (this.stopped || this.paused || this.idle === undefined) return;
    this.idleRound++;
    this.idle.refresh();
  }

  private idleRanOut(): void {
    if (this.paused || this.stopped) return;
    const round = this.idleRound;
    setImmediate(() => {
      if (round === this.idleRound && !this.stopped) this.onIdle();
    });
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
    const round = ++this.frameRound;
    this.frame = setTimeout(() => {
      setImmediate(() => {
        if (round !== this.frameRound || this.stopped) return;
        this.frame = undefined;
        this.onFrameLate();
      });
    }, this.frameMs);
  }

  /** Whether a frame clock is running. */
  get framePending(): boolean {
    return this.frame !== undefined;
  }

  /** Nothing partial is buffered: no frame clock. */
  endFrame(): void {
    this.frameRound++;
    clearTimeout(this.frame);
    this.frame = undefined;
  }

  /** Stops both clocks for good (the connection is closing). */
  stop(): void {
    this.stopped = true;
    this.pauseIdle();
    clearTimeout(this.idle);
    this.idle = undefined;
    this.endFrame();
  }
}
