/**
 * The one answer to "does this credential open this path for this request?", for every
 * transport: the credential is what HELLO's token field carried, an access token of --tokens
 * (PROTOCOL.md §5.6) or a signed link of --sign-key (§5.7). No file-system call: the answer
 * cannot depend on whether the path exists. Messages and log fields never hold the credential.
 */
import { decodeLinkCredential, isLinkCredential, linkPathDigest } from '@ft/protocol';
import { timingSafeEqual } from 'node:crypto';
import type { SignKey } from './sign-key.js';
import { pathComponents } from './token-store.js';
import type { TokenCheck, TokenStore } from './token-store.js';

/** What a server accepts: --tokens, --sign-key, or both (either kind of credential works). */
export interface Credentials {
  tokens?: TokenStore | undefined;
  signKey?: SignKey | undefined;
}

/** The request being checked: links open GET and STAT of their one path, never LIST. */
export type CredentialOp = 'GET' | 'STAT' | 'LIST';

/** Which kind of credential a check judged. */
export type CredentialKind = 'token' | 'link';

/**
 * Outcome of a check: TokenStore.check's shape (ok/name/prefix; code/why/name), plus `kind`
 * and, on refusal, `message`, the one line to send the client in ERROR. `name` names the
 * credential in logs: a token's name, or a link's "<key id>@<expiry, ISO 8601>". `prefix` is
 * what the credential opens: a token's prefix, or the link's one normalised path.
 */
export type CredentialCheck =
  | (Extract<TokenCheck, { ok: true }> & { kind: CredentialKind })
  | (Extract<TokenCheck, { ok: false }> & { kind?: CredentialKind; message: string });

function needs(credentials: Credentials): string {
  if (credentials.tokens !== undefined && credentials.signKey !== undefined)
    return 'this server needs an access token or a signed link';
  return credentials.tokens !== undefined
    ? 'this server needs an access token'
    : 'this server needs a signed link';
}

function unauthorized(why: string, message: string, name?: string): CredentialCheck {
  return {
    ok: false,
    code: 'UNAUTHORIZED',
    why,
    message,
    ...(name === undefined ? {} : { kind: 'link' as const, name }),
  };
}

function forbidden(why: string, message: string, name: string): CredentialCheck {
  return { ok: false, code: 'FORBIDDEN', why, message, kind: 'link', name };
}

function checkLink(
  key: SignKey | undefined,
  credential: string,
  path: string,
  op: CredentialOp,
  now: number,
): CredentialCheck {
  if (key === undefined)
    return unauthorized('links not accepted', 'this server does not accept signed links');
  const link = decodeLinkCredential(credential);
  if (link === undefined) return unauthorized('malformed link', 'malformed signed link');
  const expiresAt = new Date(link.expires * 1000).toISOString().replace('.000Z', 'Z');
  const name = `${link.keyId}@${expiresAt}`;
  const signature = key.verify(link);
  if (signature === 'no-key')
    return unauthorized('no signing key loaded', 'invalid signed link', name);
  if (signature !== 'valid') {
    return unauthorized(
      signature === 'other-key'
        ? `signed with another key (server key ${key.keyId})`
        : 'bad signature',
      'invalid signed link: altered, or signed with another key',
      name,
    );
  }
  if (now >= link.expires * 1000)
    return unauthorized('expired', `the signed link expired at ${expiresAt}`, name);
  const parts = pathComponents(path);
  const normalised = parts === undefined ? undefined : parts.join('/');
  if (normalised === undefined || !timingSafeEqual(linkPathDigest(normalised), link.pathDigest)) {
    return forbidden('other path', 'the signed link is for another path', name);
  }
  if (op === 'LIST')
    return forbidden('LIST with a link', 'a signed link opens one file; LIST is refused', name);
  return { ok: true, kind: 'link', name, prefix: normalised };
}

/**
 * Checks `credential` (HELLO's token field; undefined: none was sent) for an `op` request of
 * `path` (as the request carries it; normalised here) at time `now` (ms since the epoch).
 * Tokens are compared in constant time by TokenStore.check, link HMACs by SignKey.verify.
 * Callers refuse with `code` (wire UNAUTHORIZED or FORBIDDEN) and `message`, log `why` and
 * `name`, and count UNAUTHORIZED towards the per-address failure limit (auth-failures.ts).
 */
export function checkCredential(
  credentials: Credentials,
  credential: string | undefined,
  path: string,
  op: CredentialOp,
  now = Date.now(),
): CredentialCheck {
  if (credential === undefined) return unauthorized('no token', needs(credentials));
  if (isLinkCredential(credential))
    return checkLink(credentials.signKey, credential, path, op, now);
  const store = credentials.tokens;
  if (store === undefined)
    return unauthorized('tokens not accepted', 'this server accepts only signed links');
  const check = store.check(credential, path, now);
  if (check.ok) return { ...check, kind: 'token' };
  return {
    ...check,
    kind: 'token',
    message:
      check.code === 'FORBIDDEN'
        ? 'the token does not cover this path'
        : 'invalid, expired or revoked token',
  };
}
