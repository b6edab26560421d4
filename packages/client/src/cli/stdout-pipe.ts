/**
 * A closed stdout (`ftget get big -o - | head`) is normal in a pipeline, not an error: ftget
 * stops quietly and dies by SIGPIPE, as cat or grep would with their default SIGPIPE action
 * (Node ignores SIGPIPE, so the write fails with EPIPE instead). The shell reports 141; with
 * `set -o pipefail` the pipeline's status says the writer was cut off, as for other tools.
 */
import { raise } from './interrupts.js';

/** Whether `error` is a write to a stdout whose reader went away. */
export function isClosedStdout(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'EPIPE';
}

/** Ends the process by SIGPIPE, after `cleanup` (clear the progress display). */
export function dieOfClosedStdout(cleanup: () => void = () => {}): never {
  try {
    cleanup();
  } catch {
    // Dying quietly matters more.
  }
  raise('SIGPIPE');
}

/** For commands that print to stdout (ls, stat): die quietly if the reader goes away. */
export function watchStdout(): void {
  process.stdout.on('error', (error) => {
    if (isClosedStdout(error)) dieOfClosedStdout();
  });
}
