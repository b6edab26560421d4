/**
 * Which access token ftget sends to a server (in HELLO, PROTOCOL.md §4.1). First match wins:
 *   1. --token T (visible to other local users in `ps`: prefer 2 or 3),
 *   2. $FTGET_TOKEN,
 *   3. the per-user tokens file, $XDG_CONFIG_HOME/ftget/tokens (default ~/.config/ftget/tokens):
 *      lines "HOST:PORT TOKEN" ([v6]:PORT for IPv6; "#" starts a comment), the first line for
 *      the server wins. Like ssh with its keys, ftget refuses a file that its group or others
 *      may read or write.
 * A signed link (signed-link.ts) wins over all three for its server: its credential is what
 * that server gets (PROTOCOL.md §5.7); one link per server per run.
 * The CLI configures this once per run (configureCredentials); connections ask tokenFor().
 * Tokens and links' credentials never appear in messages or logs.
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Limits, encodeLinkCredential, linkPathDigest } from '@ft/protocol';
import type { LinkParams } from '@ft/protocol';
import { ClientError, ClientErrorCode } from './errors.js';
import { formatServer } from './remote.js';
import type { Remote, ServerAddress } from './remote.js';

/** Where the per-user tokens file is, given the environment. */
export function tokensFilePath(env: Readonly<Record<string, string | undefined>>): string {
  const base = env['XDG_CONFIG_HOME'];
  return join(
    base !== undefined && base !== '' ? base : join(homedir(), '.config'),
    'ftget',
    'tokens',
  );
}

/** The per-server tokens of a tokens file; throws a usage ClientError if it is unsafe or bad. */
export function readTokensFile(file: string): Map<string, string> {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw bad(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  if ((mode & 0o077) !== 0) {
    throw bad(
      `${file} is accessible by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); run: chmod 600 ${file}`,
    );
  }
  const tokens = new Map<string, string>();
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const fields = line.split(/\s+/);
    if (fields.length !== 2) throw bad(`${file}:${i + 1}: expected "HOST:PORT TOKEN"`);
    const [server, token] = fields as [string, string];
    if (!tokens.has(server.toLowerCase())) tokens.set(server.toLowerCase(), token);
  });
  return tokens;
}

function bad(message: string): ClientError {
  return new ClientError(ClientErrorCode.USAGE, message, {
    hint: 'the tokens file holds lines "HOST:PORT TOKEN" and must be mode 600',
  });
}

let flagOrEnv: string | undefined;
let fromFile = new Map<string, string>();
/** Signed links' credentials by server ("host:port", lower case). */
let links = new Map<string, string>();

/**
 * Sets where tokens come from for this run: `token` (--token), else $FTGET_TOKEN, else the
 * tokens file, read and checked now so that a bad file is reported before any connection.
 */
export function configureCredentials(
  token: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): void {
  links = new Map();
  const envToken = env['FTGET_TOKEN'];
  flagOrEnv = token !== undefined && token !== '' ? token : envToken !== '' ? envToken : undefined;
  fromFile = flagOrEnv === undefined ? readTokensFile(tokensFilePath(env)) : new Map();
  for (const t of [flagOrEnv, ...fromFile.values()]) {
    if (t !== undefined && (Buffer.byteLength(t) > Limits.MAX_TOKEN_BYTES || /\s/.test(t)))
      throw bad(`a token must be at most ${Limits.MAX_TOKEN_BYTES} bytes without spaces`);
  }
}

/**
 * Makes the signed link `link` for `remote` (its path already normalised) the credential sent
 * to its server. A second, different link for the same server is a usage error: a connection
 * carries one credential, and a link opens its one path only.
 */
export function useSignedLink(remote: Remote, link: LinkParams): void {
  const credential = encodeLinkCredential({ ...link, pathDigest: linkPathDigest(remote.path) });
  const server = formatServer(remote).toLowerCase();
  const had = links.get(server);
  if (had !== undefined && had !== credential) {
    throw new ClientError(
      ClientErrorCode.USAGE,
      `two different signed links for ${formatServer(remote)}: give one per run`,
      { hint: 'a signed link opens one file; run ftget once per link' },
    );
  }
  links.set(server, credential);
}

/** The token (or signed link's credential) to send to `server`, if any. */
export function tokenFor(server: ServerAddress): string | undefined {
  const key = formatServer(server).toLowerCase();
  return links.get(key) ?? flagOrEnv ?? fromFile.get(key);
}
