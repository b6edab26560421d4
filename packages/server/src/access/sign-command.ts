/**
 * `ftserve sign`: make the key of signed links, and sign links with it (PROTOCOL.md §5.7).
 * bin/run.js hands `ftserve sign …` here before oclif starts, as it does `ftserve token …`.
 *   ftserve sign --new-key FILE            a new random key, file mode 0600
 *   ftserve sign PATH --key-file FILE --expires DURATION [--host H] [--port P] [--tls]
 * The link goes to stdout, alone on its line; a note on stderr says what it opens and until when.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LINK_QUERY, Limits, MAX_LINK_EXPIRES } from '@ft/protocol';
import { ExitCode } from '../exit-codes.js';
import { UsageError, parseDuration, runSubcommand } from './command-usage.js';
import { SignKeyError, readSignKeyFile, signPath, writeNewSignKey } from './sign-key.js';
import { pathComponents } from './token-store.js';

const USAGE = `usage: ftserve sign PATH --key-file FILE --expires DURATION [--host HOST] [--port PORT] [--tls]
       ftserve sign --new-key FILE
Prints an ft:// link (fts:// with --tls) that opens PATH, and nothing else, on an ftserve started
with --sign-key FILE, until it expires. DURATION is a number and a unit: s, m, h, d or w (e.g.
1h). HOST defaults to this machine's name, PORT to 7070. --new-key FILE writes a new random key
(mode 0600; never over an existing file). Rotate a key: make a new one, mv it over the old file,
send ftserve SIGHUP: links signed with the old key stop working.`;

/** The request path a link opens: normalised as the server's path jail does, or a UsageError. */
export function linkPath(path: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f\\]/.test(path))
    throw new UsageError('PATH must not contain control characters or backslashes');
  const parts = pathComponents(path);
  if (parts === undefined) throw new UsageError(`PATH "${path}" must not contain ".."`);
  if (parts.length === 0)
    throw new UsageError('PATH must name a file under the root, not the root');
  const normalised = parts.join('/');
  if (Buffer.byteLength(normalised) > Limits.MAX_PATH_BYTES)
    throw new UsageError(`PATH is longer than ${Limits.MAX_PATH_BYTES} bytes`);
  return normalised;
}

function urlHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare === '' || /[\s/?#@[\]]/.test(bare))
    throw new UsageError(`--host "${host}" is not a host name or address`);
  return bare.includes(':') ? `[${bare}]` : bare;
}

function urlPort(text: string | undefined): number {
  if (text === undefined) return 7070;
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535))
    throw new UsageError(`--port must be in 1..65535, got "${text}"`);
  return port;
}

function newKey(file: string, err: NodeJS.WritableStream): void {
  const id = writeNewSignKey(resolve(file));
  err.write(
    `ftserve: new signing key ${id} in ${file} (mode 0600); serve with --sign-key ${file}, sign with --key-file ${file}\n`,
  );
}

function sign(
  values: { 'key-file'?: string; expires?: string; host?: string; port?: string; tls?: boolean },
  positionals: string[],
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): void {
  if (positionals.length !== 1) throw new UsageError('sign takes one PATH');
  const path = linkPath(positionals[0]!);
  if (values['key-file'] === undefined || values['key-file'] === '')
    throw new UsageError(
      '--key-file FILE is required (make a key with: ftserve sign --new-key FILE)',
    );
  if (values.expires === undefined)
    throw new UsageError('--expires DURATION is required (e.g. 1h)');
  const expires = Math.floor((Date.now() + parseDuration(values.expires)) / 1000);
  if (expires > MAX_LINK_EXPIRES) throw new UsageError('--expires is too far in the future');
  const host = urlHost(values.host ?? hostname());
  const port = urlPort(values.port);
  const key = readSignKeyFile(resolve(values['key-file']));
  const link = signPath(key, path, expires);
  const query = `${LINK_QUERY.expires}=${link.expires}&${LINK_QUERY.keyId}=${link.keyId}&${LINK_QUERY.signature}=${link.signature}`;
  const urlPath = path.split('/').map(encodeURIComponent).join('/');
  out.write(`${values.tls === true ? 'fts' : 'ft'}://${host}:${port}/${urlPath}?${query}\n`);
  const until = new Date(expires * 1000).toISOString().replace('.000Z', 'Z');
  err.write(`ftserve: the link opens ${path} until ${until} (key ${link.keyId})\n`);
}

/** Runs `ftserve sign ARGS…`; returns the exit code (errors are one line on `err`). */
export function runSignCommand(
  args: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): number {
  return runSubcommand(
    () => {
      const { values, positionals } = parseArgs({
        args,
        options: {
          'key-file': { type: 'string' },
          'new-key': { type: 'string' },
          expires: { type: 'string' },
          host: { type: 'string' },
          port: { type: 'string' },
          tls: { type: 'boolean' },
          help: { type: 'boolean', short: 'h' },
        },
        allowPositionals: true,
      });
      if (values.help === true) {
        out.write(USAGE + '\n');
        return ExitCode.OK;
      }
      if (values['new-key'] !== undefined) {
        const others = Object.keys(values).filter((k) => k !== 'new-key');
        if (others.length > 0 || positionals.length > 0)
          throw new UsageError('--new-key FILE makes a key and signs nothing: give it alone');
        if (values['new-key'] === '') throw new UsageError('--new-key needs a FILE');
        newKey(values['new-key'], err);
        return ExitCode.OK;
      }
      sign(values, positionals, out, err);
      return ExitCode.OK;
    },
    'ftserve sign --help',
    [SignKeyError],
    err,
  );
}
