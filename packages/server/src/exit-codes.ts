/**
 * Exit codes of ftserve. The README's ftserve section mirrors this table; scripts and service
 * managers match on the number, so never renumber.
 */
export const ExitCode = {
  /**
   * Clean exit. After a graceful shutdown on SIGTERM/SIGINT the foreground ftserve dies by
   * that signal instead (the shell sees 143/130), so scripts stop as after any interrupted tool.
   */
  OK: 0,
  /** Unexpected internal error (a bug), or workers that keep dying. */
  INTERNAL: 1,
  /** Bad command line or configuration (unknown flag, missing root, …). */
  USAGE: 2,
  /** Cannot listen: port in use, address not available, permission denied. */
  CANNOT_LISTEN: 3,
  /** The pid file names a live process: another instance is running. */
  PID_FILE_HELD: 4,
  /** `ftserve digest`: some files could not be hashed, or a limit cut the walk short. */
  INCOMPLETE: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error that ends ftserve with one line on stderr and a stable exit code. */
export class ServeError extends Error {
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ServeError';
    this.exitCode = exitCode;
  }
}
