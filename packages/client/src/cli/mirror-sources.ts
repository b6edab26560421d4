/**
 * `--mirror URL` and several URLs of one file: which REMOTEs are one file fetched from several
 * sources, and the usage rules of --connections and --mirror. Several REMOTEs without -r that
 * all end in the same file name (which would otherwise all write one output) are copies of
 * one file: the first is the reference, the others its mirrors.
 */
import { ClientError, ClientErrorCode } from '../errors.js';
import { MAX_SOURCES, MAX_TOTAL_CONNECTIONS } from '../file-download/sources/source-spec.js';
import { parseLinkedMirror } from '../signed-link.js';
import type { Remote, ServerAddress } from '../remote.js';
import { localName } from './plan.js';

export interface SourceFlags {
  recursive: boolean;
  output: string | undefined;
  udp?: boolean | undefined;
  /** --connections N (per source). */
  connections?: number | undefined;
  /** --mirror URL, in order. */
  mirrors?: readonly string[] | undefined;
}

function usage(message: string, hint: string): ClientError {
  return new ClientError(ClientErrorCode.USAGE, message, { hint });
}

/** Splits the parsed REMOTEs into the files to download and the mirrors of the one file. */
export function sourcesFrom(
  parsed: Remote[],
  flags: SourceFlags,
  defaults: ServerAddress,
): { remotes: Remote[]; mirrors: Remote[] } {
  let remotes = parsed;
  const mirrors = (flags.mirrors ?? []).map((url) => parseLinkedMirror(url, defaults));
  if (
    !flags.recursive &&
    parsed.length > 1 &&
    parsed.every((r) => r.path !== '' && localName(r.path) === localName(parsed[0]!.path))
  ) {
    remotes = [parsed[0]!];
    mirrors.unshift(...parsed.slice(1));
  }
  const connections = flags.connections ?? 1;
  if (mirrors.length === 0 && connections === 1) return { remotes, mirrors };
  const what = mirrors.length > 0 ? '--mirror' : '--connections';
  if (mirrors.length > 0 && (flags.recursive || remotes.length !== 1)) {
    throw usage(
      '--mirror names another copy of one FILE',
      'give a single REMOTE without -r (or several URLs of the same file name)',
    );
  }
  if (flags.output === '-')
    throw usage(`${what} downloads to a file, not to stdout`, 'drop -o -, or the flag');
  if (flags.udp === true) throw usage(`${what} needs TCP`, 'drop --udp');
  if (mirrors.length + 1 > MAX_SOURCES)
    throw usage(`at most ${MAX_SOURCES} sources of one file`, 'give fewer mirrors');
  if ((mirrors.length + 1) * connections > MAX_TOTAL_CONNECTIONS) {
    throw usage(
      `${mirrors.length + 1} sources × ${connections} connections is more than ${MAX_TOTAL_CONNECTIONS} connections`,
      'lower --connections or give fewer mirrors',
    );
  }
  return { remotes, mirrors };
}
