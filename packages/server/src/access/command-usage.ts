/**
 * What the subcommands `ftserve token …` and `ftserve sign …` share: durations such as 30d,
 * and one way to end: a one-line error on stderr and ftserve's exit codes (0 ok, 1 internal
 * error, 2 bad usage or bad file).
 */
import { ExitCode } from '../exit-codes.js';

/** A bad argument: its message is the one line the user sees. */
export class UsageError extends Error {
  override name = 'UsageError';
}

const UNITS: Readonly<Record<string, number>> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** "30d" → milliseconds; a UsageError otherwise. At most ten years. */
export function parseDuration(text: string): number {
  const m = /^(\d{1,6})([smhdw])$/.exec(text.trim());
  const ms = m === null ? NaN : Number(m[1]) * UNITS[m[2]!]!;
  if (!Number.isFinite(ms) || ms <= 0 || ms > 3650 * UNITS['d']!)
    throw new UsageError(`--expires must be a duration such as 1h, 30d or 52w, got "${text}"`);
  return ms;
}

/**
 * Runs a subcommand body; returns its exit code. UsageError and the error classes in
 * `userErrors` (bad files) and node:util parseArgs errors (unknown or malformed options) are
 * one line and exit 2, with a pointer to `help`; anything else is an internal error, exit 1.
 */
export function runSubcommand(
  body: () => number,
  help: string,
  userErrors: readonly (abstract new (...args: never[]) => Error)[],
  err: NodeJS.WritableStream,
): number {
  try {
    return body();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (
      error instanceof UsageError ||
      userErrors.some((c) => error instanceof c) ||
      (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
    ) {
      err.write(`ftserve: ${(error as Error).message} (see ${help})\n`);
      return ExitCode.USAGE;
    }
    err.write(`ftserve: internal error: ${(error as Error).message}\n`);
    return ExitCode.INTERNAL;
  }
}
