/**
 * The base of every ftget command: -h/--help, and one error format everywhere. A bad flag or
 * argument is three lines (`ftget: error: …` with a did-you-mean for flags, the usage line,
 * where to read more) and exit 2, instead of oclif's ` ›   Error:` and a page of help.
 */
import { Command } from '@oclif/core/command';
import * as Errors from '@oclif/core/errors';
import * as Flags from '@oclif/core/flags';
import { ExitCode } from '../exit-codes.js';
import { closest } from './suggest.js';

/** oclif messages carry colours, "See more help" lines and tabs; keep one plain line. */
function oneLine(message: string): string {
  const text = message
    // eslint-disable-next-line no-control-regex
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('See more help'))
    .join(': ')
    .replace(/:\s*:/g, ':')
    .replace(/^The following errors? occurred: /, '');
  return text.charAt(0).toLowerCase() + text.slice(1);
}

export abstract class FtgetCommand extends Command {
  static override baseFlags = {
    help: Flags.help({ char: 'h', description: 'show this help' }),
  };

  /** `ftget get [flags] REMOTE...`, from the command's id and arguments. */
  protected usageLine(): string {
    const ctor = this.constructor as typeof Command;
    const args = Object.entries(ctor.args ?? {}).map(([name, arg]) => {
      const word = `${name.toUpperCase()}${ctor.strict === false ? '...' : ''}`;
      return arg.required ? word : `[${word}]`;
    });
    return ['ftget', this.id ?? '', '[flags]', ...args].filter((w) => w !== '').join(' ');
  }

  override async catch(error: Error & { exitCode?: number }): Promise<never> {
    if (error instanceof Errors.ExitError) throw error;
    if (!(error instanceof Errors.CLIError)) {
      process.stderr.write(`ftget: error: internal error: ${error.message}\n`);
      process.stderr.write(
        'ftget: hint: this is a bug in ftget; set DEBUG=1 to see the stack trace\n',
      );
      if (process.env['DEBUG'] && error.stack) process.stderr.write(`${error.stack}\n`);
      throw new Errors.ExitError(ExitCode.INTERNAL);
    }
    let message = oneLine(error.message);
    const missing = (error as { args?: unknown }).args;
    if (error.constructor.name === 'RequiredArgsError' && Array.isArray(missing))
      message = `missing ${missing.map((a) => String((a as { name?: unknown }).name).toUpperCase()).join(', ')}`;
    const unknown = (error as { flags?: unknown }).flags;
    if (Array.isArray(unknown) && unknown.length > 0) {
      const ctor = this.constructor as typeof Command;
      const names = Object.keys({ ...ctor.baseFlags, ...ctor.flags }).map((n) => `--${n}`);
      const first = String(unknown[0]);
      const guess = first.startsWith('--') ? closest(first, names) : undefined;
      message = `unknown flag ${unknown.join(', ')}${guess === undefined ? '' : ` (did you mean ${guess}?)`}`;
    }
    this.usageError(message);
  }

  /**
   * Sets the token source for this run (--token, $FTGET_TOKEN, the tokens file: credentials.ts);
   * an unsafe or malformed tokens file ends the run with its one-line error.
   */
  protected async setCredentials(token: string | undefined): Promise<void> {
    const { configureCredentials } = await import('../credentials.js');
    try {
      configureCredentials(token);
    } catch (error) {
      const { reportError } = await import('./report.js');
      this.exit(reportError(error));
    }
  }

  /** The three-line usage error (message, usage line, where to read more); exit 2. */
  protected usageError(message: string): never {
    const id = this.id ?? '';
    process.stderr.write(
      `ftget: error: ${message}\nusage: ${this.usageLine()}\n` +
        `see "ftget ${id} --help" for every flag\n`,
    );
    throw new Errors.ExitError(ExitCode.USAGE);
  }
}
