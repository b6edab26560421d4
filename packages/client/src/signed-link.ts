/**
 * Signed links as REMOTEs: `ft://host:port/path?expires=E&kid=K&sig=S` (PROTOCOL.md §5.7,
 * made by `ftserve sign`). The query is taken off the URL before anything else sees it, so
 * the signature never reaches a message, a progress line, a state file or --verbose; what is
 * left is an ordinary REMOTE, and the link becomes the credential HELLO carries to that server
 * (credentials.ts). In an ft URL "?" always starts the query: a "?" in a file name is %3F.
 */
import { LINK_QUERY, isLinkExpires, isWellFormedLink } from '@ft/protocol';
import type { LinkParams } from '@ft/protocol';
import { useSignedLink } from './credentials.js';
import { ClientError, ClientErrorCode } from './errors.js';
import { checkServerConflict, parseRemote } from './remote.js';
import type { Remote, ServerAddress } from './remote.js';

const URL_START = /^fts?:\/\//i;

function malformed(what: string): ClientError {
  // Never echo the query: it holds the signature.
  return new ClientError(ClientErrorCode.USAGE, `malformed signed link: ${what}`, {
    hint: `a signed link ends in ?${LINK_QUERY.expires}=UNIX-SECONDS&${LINK_QUERY.keyId}=KEY-ID&${LINK_QUERY.signature}=SIGNATURE (from ftserve sign); a "?" in a file name is written %3F`,
  });
}

/** Parses a URL's query as a signed link's three parameters, or throws a usage error. */
function parseLinkQuery(query: string): LinkParams {
  const names: string[] = Object.values(LINK_QUERY);
  const values = new Map<string, string>();
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const name = eq === -1 ? pair : pair.slice(0, eq);
    if (!names.includes(name)) throw malformed('unknown query parameter');
    if (values.has(name)) throw malformed(`"${name}" given twice`);
    values.set(name, eq === -1 ? '' : pair.slice(eq + 1));
  }
  const missing = names.filter((n) => !values.has(n));
  if (missing.length > 0) throw malformed(`no "${missing.join('", "')}"`);
  const expires = values.get(LINK_QUERY.expires)!;
  if (!isLinkExpires(expires)) throw malformed(`"${LINK_QUERY.expires}" is not a Unix time`);
  const link: LinkParams = {
    expires: Number(expires),
    keyId: values.get(LINK_QUERY.keyId)!,
    signature: values.get(LINK_QUERY.signature)!,
  };
  if (!isWellFormedLink(link)) throw malformed('bad key id or signature');
  return link;
}

/** Splits a REMOTE into the REMOTE without its query and the signed link it carried, if any. */
export function splitSignedLink(text: string): { remote: string; link?: LinkParams } {
  if (!URL_START.test(text)) return { remote: text };
  const q = text.indexOf('?');
  if (q === -1) return { remote: text };
  return { remote: text.slice(0, q), link: parseLinkQuery(text.slice(q + 1)) };
}

/**
 * Parses a REMOTE as parseRemote does (after checkServerConflict against --host/--port), first
 * taking off a signed link's query and registering the link as the credential for its server.
 * The Remote says `signed: true` when it came with a link (for messages that repeat it).
 */
export function parseLinkedRemote(
  text: string,
  flags: { host?: string | undefined; port?: string | undefined },
  defaults: ServerAddress,
): Remote {
  const { remote, link } = splitSignedLink(text);
  checkServerConflict(remote, flags);
  return withLink(parseRemote(remote, defaults), link);
}

/** A `--mirror URL` as parseLinkedRemote parses a REMOTE (a mirror is a URL: no --host check). */
export function parseLinkedMirror(text: string, defaults: ServerAddress): Remote {
  const { remote, link } = splitSignedLink(text);
  return withLink(parseRemote(remote, defaults), link);
}

function withLink(parsed: Remote, link: LinkParams | undefined): Remote {
  if (link === undefined) return parsed;
  useSignedLink(parsed, link);
  return { ...parsed, signed: true };
}
