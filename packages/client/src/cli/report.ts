/**
 * How the CLI talks to people: errors and warnings on stderr, one or two lines, a stack trace
 * only when DEBUG is set. stdout is reserved for results. While a progress display is on
 * screen, messages go through it (it clears its lines first), so no message is drawn over a bar.
 */
import { describeError } from '../errors.js';
import type { ErrorContext } from '../errors.js';
import type { ExitCode } from '../exit-codes.js';

export { humanBytes } from './progress-format.js';

/** Where messages go while a progress display is on screen. */
interface MessageSink {
  printAbove(text: string, redraw?: boolean): void;
}
let sink: MessageSink | undefined;

/** Routes every message through `display` (undefined: straight to stderr again). */
export function routeMessagesThrough(display: MessageSink | undefined): void {
  sink = display;
}

/** Writes whole lines to stderr; the progress display is redrawn below them when `redraw`. */
export function writeMessage(text: string, redraw = true): void {
  if (sink === undefined) process.stderr.write(text);
  else sink.printAbove(text, redraw);
}

/** Prints `ftget: error: …` and a hint; returns the exit code to use. */
export function reportError(error: unknown, context: ErrorContext = {}): ExitCode {
  const { message, hint, exitCode } = describeError(error, context);
  let text = `ftget: error: ${message}\n`;
  if (hint !== undefined) text += `ftget: hint: ${hint}\n`;
  if (process.env['DEBUG'] && error instanceof Error && error.stack) text += `${error.stack}\n`;
  // After an error the bar is not redrawn at once: the next file's progress brings it back.
  writeMessage(text, false);
  return exitCode;
}

export function reportWarning(message: string): void {
  writeMessage(`ftget: warning: ${message}\n`);
}

/** An informational line (`ftget: …`): resume offsets, retries, per-file summaries. */
export function reportNote(message: string): void {
  writeMessage(`ftget: ${message}\n`);
}
