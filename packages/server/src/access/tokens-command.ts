/**
 * `ftserve token add|list|revoke`: manage the token file of `ftserve --tokens FILE`. bin/run.js
 * hands `ftserve token …` here before oclif starts (oclif's single-command layout, which keeps
 * `ftserve --root DIR` working, has no room for subcommands). Exit codes are ftserve's: 0 ok,
 * 1 internal error, 2 bad usage, bad token file or no such token.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ExitCode } from '../exit-codes.js';
import { UsageError, parseDuration, runSubcommand } from './command-usage.js';
import {
  TokenFileError,
  canonicalPrefix,
  hashToken,
  newToken,
  readTokenFile,
  writeTokenFile,
} from './token-store.js';
import type { TokenRecord } from './token-store.js';

const USAGE = `usage: ftserve token add --tokens FILE --prefix PREFIX [--expires DURATION] [--name NAME]
       ftserve token list --tokens FILE
       ftserve token revoke --tokens FILE NAME|ID
DURATION is a number and a unit: s, m, h, d or w (e.g. 30d). add prints the new token once, on
stdout; the file keeps only its SHA-256. A running ftserve sees changes after SIGHUP.`;

function tokensFile(value: string | undefined): string {
  if (value === undefined || value === '') throw new UsageError('--tokens FILE is required');
  return resolve(value);
}

function add(args: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): void {
  // Without allowPositionals, parseArgs refuses stray arguments itself.
  const { values } = parseArgs({
    args,
    options: {
      tokens: { type: 'string' },
      prefix: { type: 'string' },
      expires: { type: 'string' },
      name: { type: 'string' },
    },
  });
  const file = tokensFile(values.tokens);
  if (values.prefix === undefined)
    throw new UsageError('--prefix is required (use --prefix "" for the whole root)');
  const prefix = canonicalPrefix(values.prefix);
  const expires =
    values.expires === undefined
      ? null
      : new Date(Date.now() + parseDuration(values.expires)).toISOString();
  const content = readTokenFile(file, true);
  const id = randomBytes(4).toString('hex');
  const name = values.name ?? `token-${id}`;
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(name))
    throw new UsageError(`--name must be 1-64 of A-Z a-z 0-9 . _ @ -, got "${name}"`);
  if (content.tokens.some((t) => t.name === name || t.id === name))
    throw new UsageError(`a token named "${name}" exists already`);
  const token = newToken();
  content.tokens.push({
    id,
    name,
    prefix,
    sha256: hashToken(token).toString('hex'),
    created: new Date().toISOString(),
    expires,
  });
  writeTokenFile(file, content);
  out.write(token + '\n');
  err.write(
    `ftserve: token ${name} (id ${id}) opens ${prefix === '' ? 'the whole root' : prefix + '/'}` +
      `${expires === null ? ', never expires' : `, expires ${expires}`}; it is shown only this once\n`,
  );
}

function describe(t: TokenRecord, now: number): string {
  const expired = t.expires !== null && Date.parse(t.expires) <= now;
  return [
    t.id,
    t.name,
    t.prefix === '' ? '/' : t.prefix + '/',
    t.created,
    t.expires === null ? 'never' : t.expires + (expired ? ' (expired)' : ''),
  ].join('\t');
}

function list(args: string[], out: NodeJS.WritableStream): void {
  const { values } = parseArgs({ args, options: { tokens: { type: 'string' } } });
  const content = readTokenFile(tokensFile(values.tokens), true);
  const now = Date.now();
  out.write(['ID', 'NAME', 'PREFIX', 'CREATED', 'EXPIRES'].join('\t') + '\n');
  for (const t of content.tokens) out.write(describe(t, now) + '\n');
}

function revoke(args: string[], err: NodeJS.WritableStream): void {
  const { values, positionals } = parseArgs({
    args,
    options: { tokens: { type: 'string' } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError('revoke takes one NAME or ID');
  const file = tokensFile(values.tokens);
  const which = positionals[0]!;
  const content = readTokenFile(file);
  const kept = content.tokens.filter((t) => t.name !== which && t.id !== which);
  if (kept.length === content.tokens.length)
    throw new UsageError(`no token named or with id "${which}" in ${file}`);
  writeTokenFile(file, { version: 1, tokens: kept });
  err.write(
    `ftserve: token ${which} revoked; send SIGHUP to a running ftserve to make it take effect\n`,
  );
}

/** Runs `ftserve token ARGS…`; returns the exit code (errors are one line on `err`). */
export function runTokenCommand(
  args: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): number {
  const [sub, ...rest] = args;
  return runSubcommand(
    () => {
      if (sub === 'add') add(rest, out, err);
      else if (sub === 'list') list(rest, out);
      else if (sub === 'revoke') revoke(rest, err);
      else if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
        out.write(USAGE + '\n');
        return sub === undefined ? ExitCode.USAGE : ExitCode.OK;
      } else throw new UsageError(`unknown token command "${sub}" (add, list or revoke)`);
      return ExitCode.OK;
    },
    'ftserve token --help',
    [TokenFileError],
    err,
  );
}
