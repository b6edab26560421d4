/**
 * ft over TLS (docs/PROTOCOL.md, "TLS"): TLS wraps the same byte stream, and nothing inside it
 * changes. What TLS adds on the wire is named here so that client and server agree on it.
 */
import { MAX_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION } from './constants.js';

/** ALPN protocol names are this prefix and a protocol version: "ft/3", "ft/2", "ft/1". */
export const ALPN_PREFIX = 'ft/';

/** First byte of a TLS handshake record (a ClientHello): how a TLS port tells TLS from plaintext. */
export const TLS_HANDSHAKE_RECORD = 0x16;

/**
 * The ALPN names for the versions [min, max], highest first: the order a client offers them
 * in and a server prefers them in. HELLO/WELCOME still negotiate the version inside the stream.
 */
export function alpnProtocols(
  min: number = MIN_PROTOCOL_VERSION,
  max: number = MAX_PROTOCOL_VERSION,
): string[] {
  const names: string[] = [];
  for (let v = max; v >= min; v--) names.push(`${ALPN_PREFIX}${v}`);
  return names;
}

/** The protocol version an ALPN name stands for ("ft/2" → 2), or undefined if it is not ft's. */
export function alpnVersion(name: string | false | null | undefined): number | undefined {
  if (typeof name !== 'string' || !name.startsWith(ALPN_PREFIX)) return undefined;
  const text = name.slice(ALPN_PREFIX.length);
  if (!/^[1-9]\d{0,4}$/.test(text)) return undefined;
  return Number(text);
}
