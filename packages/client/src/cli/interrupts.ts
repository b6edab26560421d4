/**
 * SIGINT, SIGTERM and SIGHUP during `ftget get`. The first signal aborts the download: the
 * partial and its state are saved and the lock released by the normal cleanup. Then, like any
 * well-behaved Unix tool, ftget dies *by that signal* (default handler restored, signal
 * re-raised), so a shell loop or make sees a signal death and stops, instead of a plain exit
 * status it would carry on after. A second signal during the cleanup ends the process at once,
 * by the signal too: the partial is consistent at every instant (data is fsynced before the
 * state that vouches for it, the state is replaced atomically), so only the lock needs
 * removing, which is done synchronously first.
 */
import { constants } from 'node:os';
import { releaseHeldLocksSync } from '../output-lock.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export class Interrupts {
  readonly controller = new AbortController();
  /** The first signal received, if any. */
  received: NodeJS.Signals | undefined;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    if (this.received === undefined) {
      this.received = signal;
      this.controller.abort();
      return;
    }
    releaseHeldLocksSync();
    this.die(signal, 'interrupted again during cleanup; the partial is kept');
  };

  /** `beforeDeath` runs right before the process dies by a signal (clear the progress bar). */
  constructor(private readonly beforeDeath: () => void = () => {}) {
    for (const s of SIGNALS) process.on(s, this.onSignal);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** After the cleanup: if a signal came, print one line and die by it. */
  dieIfInterrupted(resumeHint: string): void {
    if (this.received !== undefined) this.die(this.received, resumeHint);
    this.uninstall();
  }

  uninstall(): void {
    for (const s of SIGNALS) process.removeListener(s, this.onSignal);
  }

  private die(signal: NodeJS.Signals, detail: string): never {
    // Our handlers stay until the line is out: a further signal must not kill us before it.
    try {
      this.beforeDeath();
    } catch {
      // Dying matters more than the screen.
    }
    process.stderr.write(`ftget: interrupted by ${signal}; ${detail}\n`);
    this.uninstall();
    raise(signal);
  }
}

/**
 * Dies by `signal` with its default action (as the shell reports it: 128 + its number, e.g.
 * 130 for SIGINT, 141 for SIGPIPE); exits with that status should it somehow survive.
 */
export function raise(signal: NodeJS.Signals): never {
  // Adding and removing a listener puts the default action back, also for a signal Node
  // ignores from the start (SIGPIPE).
  const noop = (): void => {};
  process.on(signal, noop);
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
  // A signal sent to oneself is delivered before kill() returns; this is only a fallback.
  process.exit(128 + constants.signals[signal]);
}
