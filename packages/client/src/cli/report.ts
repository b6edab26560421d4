/**
 * How the CLI talks to people: errors and warnings on stderr, one or two lines, a stack trace
 * only when DEBUG is set. stdout is reserved for results.
 */
import { describeError } from '../errors.js';
import type { ErrorContext } from '../errors.js';
import type { ExitCode } from '../exit-codes.js';

/** Prints `ftget: error: …` and a hint; returns the exit code to use. */
export function reportError(error: unknown, context: ErrorContext = {}): ExitCode {
  const { message, hint, exitCode } = describeError(error, context);
  let text = `ftget: error: ${message}\n`;
  if (hint !== undefined) text += `ftget: hint: ${hint}\n`;
  if (process.env['DEBUG'] && error instanceof Error && error.stack) text += `${error.stack}\n`;
  process.stderr.write(text);
  return exitCode;
}

export function reportWarning(message: string): void {
  process.stderr.write(`ftget: warning: ${message}\n`);
}

/** 1536 → "1.5 KiB". */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`;
}
