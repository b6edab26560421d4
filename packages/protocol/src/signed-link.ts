/**
 * Signed links (PROTOCOL.md §5.7): an ft/fts URL whose query names an expiry, the signing key
 * and an HMAC-SHA256 over path and expiry. The client turns it into a credential for HELLO's
 * token field; the server, holding the key, checks it. This module is the shared, key-free
 * part: the URL query names, the credential's text form and the exact bytes the HMAC covers.
 * The HMAC itself is computed only by the server (packages/server/src/access/sign-key.ts).
 */
import { createHash } from 'node:crypto';

/** Names of the URL query parameters of a signed link: `?expires=E&kid=K&sig=S`. */
export const LINK_QUERY = { expires: 'expires', keyId: 'kid', signature: 'sig' } as const;

/**
 * First characters of a signed-link credential in HELLO's token field. Access tokens start
 * with "ft_"; "." never occurs in one, so the two kinds cannot be mistaken for each other.
 */
export const LINK_CREDENTIAL_PREFIX = 'ftlink1.';

/** Domain-separation tag at the start of the HMAC input (the link format's version). */
export const LINK_MAC_TAG = 'ft-signed-link-v1';

/** Largest expiry, in Unix seconds: 9999-12-31T23:59:59Z. */
export const MAX_LINK_EXPIRES = 253_402_300_799;

/** The parts of a signed link, as its URL carries them. */
export interface LinkParams {
  /** Unix time in seconds after which the link no longer opens anything. */
  expires: number;
  /** 8 lower-case hex digits naming the key (the first 4 bytes of SHA-256(key)). */
  keyId: string;
  /** base64url (no padding) of the 32-byte HMAC-SHA256. */
  signature: string;
}

/** A decoded credential: the link's parameters and the SHA-256 of the path it was signed for. */
export interface LinkCredential extends LinkParams {
  pathDigest: Buffer;
}

const EXPIRES = /^[1-9][0-9]{0,11}$/;
const KEY_ID = /^[0-9a-f]{8}$/;
/** base64url of 32 bytes: 43 characters, the last one of 16 possible (2 padding bits zero). */
const B64_32 = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/** Whether `text` is a well-formed Unix expiry for a link (1 … MAX_LINK_EXPIRES, no leading 0). */
export function isLinkExpires(text: string): boolean {
  return EXPIRES.test(text) && Number(text) <= MAX_LINK_EXPIRES;
}

/** Whether the link parameters are well formed (says nothing about the signature's validity). */
export function isWellFormedLink(p: LinkParams): boolean {
  return (
    Number.isSafeInteger(p.expires) &&
    isLinkExpires(String(p.expires)) &&
    KEY_ID.test(p.keyId) &&
    B64_32.test(p.signature)
  );
}

/**
 * SHA-256 of a normalised request path's UTF-8 bytes. The path is normalised as the server's
 * path jail does it: split on "/", "" and "." components dropped, joined by "/", no leading
 * slash ("docs//./a.txt" and "/docs/a.txt" are "docs/a.txt").
 */
export function linkPathDigest(normalisedPath: string): Buffer {
  return createHash('sha256').update(normalisedPath, 'utf8').digest();
}

/**
 * The exact bytes the HMAC covers: ASCII, fields separated by LF, no trailing LF:
 * `ft-signed-link-v1 LF <kid> LF <expires, decimal> LF <SHA-256 of the path, lower-case hex>`.
 */
export function linkMacInput(keyId: string, expires: number, pathDigest: Buffer): Buffer {
  return Buffer.from(
    `${LINK_MAC_TAG}\n${keyId}\n${expires}\n${pathDigest.toString('hex')}`,
    'ascii',
  );
}

/** The credential text: `ftlink1.<expires>.<kid>.<base64url SHA-256(path)>.<sig>` (≤ 117 bytes). */
export function encodeLinkCredential(c: LinkCredential): string {
  return `${LINK_CREDENTIAL_PREFIX}${c.expires}.${c.keyId}.${c.pathDigest.toString('base64url')}.${c.signature}`;
}

/** Whether a HELLO token is a signed-link credential (well formed or not). */
export function isLinkCredential(token: string): boolean {
  return token.startsWith(LINK_CREDENTIAL_PREFIX);
}

/** Parses a credential; undefined unless it is exactly the form encodeLinkCredential makes. */
export function decodeLinkCredential(token: string): LinkCredential | undefined {
  if (!isLinkCredential(token)) return undefined;
  const fields = token.slice(LINK_CREDENTIAL_PREFIX.length).split('.');
  if (fields.length !== 4) return undefined;
  const [expires, keyId, digest, signature] = fields as [string, string, string, string];
  if (!isLinkExpires(expires) || !B64_32.test(digest)) return undefined;
  const link = { expires: Number(expires), keyId, signature };
  if (!isWellFormedLink(link)) return undefined;
  return { ...link, pathDigest: Buffer.from(digest, 'base64url') };
}
