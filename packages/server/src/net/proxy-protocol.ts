/**
 * The PROXY protocol (HAProxy's, versions 1 and 2) that a TCP load balancer sends before the
 * client's first byte, so that ftserve --proxy-protocol sees the real client's address rather
 * than the balancer's. Only the header is read here; what follows it is the ft stream. Both
 * forms are bounded: a v1 line is at most 107 bytes (the protocol's own limit), a v2 header at
 * most MAX_V2_HEADER bytes, and either must arrive within the request deadline.
 * See https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { Socket } from 'node:net';

/** Longest v1 header, "PROXY … \r\n" included (the specification's limit). */
export const MAX_V1_HEADER = 107;
/**
 * Longest v2 header accepted: the 16 fixed bytes, the addresses (at most 216) and room for the
 * TLVs balancers add (unique id, ALPN, authority, SSL facts). Longer is refused, not skipped.
 */
export const MAX_V2_HEADER = 536;
/** The 12 bytes every v2 header starts with. */
export const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');

/** The client's address as the header gives it. */
export interface ProxiedSource {
  ip: string;
  port: number;
}

export type HeaderParse =
  | { kind: 'incomplete' }
  /** `source` is undefined for LOCAL (v2) and UNKNOWN (v1): the connection's own address applies. */
  | { kind: 'header'; length: number; source: ProxiedSource | undefined }
  | { kind: 'invalid'; reason: string };

/** True if `buf` is `prefix` or starts with it, or is a (shorter) start of it. */
function agrees(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  return buf.subarray(0, n).equals(prefix.subarray(0, n));
}

const PORT = /^(0|[1-9]\d{0,4})$/;

function parseV1(buf: Buffer): HeaderParse {
  const end = buf.subarray(0, MAX_V1_HEADER).indexOf('\r\n');
  if (end < 0) {
    return buf.length >= MAX_V1_HEADER
      ? { kind: 'invalid', reason: `v1 header longer than ${MAX_V1_HEADER} bytes` }
      : { kind: 'incomplete' };
  }
  const words = buf.subarray(0, end).toString('latin1').split(' ');
  const length = end + 2;
  if (words[1] === 'UNKNOWN') return { kind: 'header', length, source: undefined };
  const [, family, src, dst, sport, dport] = words;
  const isIp = family === 'TCP4' ? isIPv4 : family === 'TCP6' ? isIPv6 : undefined;
  if (isIp === undefined) return { kind: 'invalid', reason: 'v1 header with an unknown protocol' };
  const valid =
    words.length === 6 &&
    isIp(src!) &&
    isIp(dst!) &&
    [sport!, dport!].every((p) => PORT.test(p) && Number(p) <= 65535);
  if (!valid) return { kind: 'invalid', reason: 'malformed v1 header' };
  return { kind: 'header', length, source: { ip: src!, port: Number(sport) } };
}

/** An IPv6 address in its usual text form (RFC 5952); IPv4-mapped ones as plain IPv4. */
export function formatIPv6(bytes: Buffer): string {
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff)
    return [...bytes.subarray(12, 16)].join('.');
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2));
  // The longest run of two or more zero groups (the first of equals) becomes "::".
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLength).join(':')}`;
}

function parseV2(buf: Buffer): HeaderParse {
  if (buf.length < 16) return { kind: 'incomplete' };
  const version = buf[12]! >> 4;
  const command = buf[12]! & 0x0f;
  const family = buf[13]! >> 4;
  const transport = buf[13]! & 0x0f;
  const length = 16 + buf.readUInt16BE(14);
  if (version !== 2) return { kind: 'invalid', reason: `v2 header of version ${version}` };
  if (command > 1) return { kind: 'invalid', reason: `v2 header with command ${command}` };
  if (length > MAX_V2_HEADER)
    return { kind: 'invalid', reason: `v2 header of ${length} bytes (most: ${MAX_V2_HEADER})` };
  if (buf.length < length) return { kind: 'incomplete' };
  // LOCAL: the balancer's own connection (its health checks); the addresses are ignored.
  if (command === 0) return { kind: 'header', length, source: undefined };
  if (transport > 1) return { kind: 'invalid', reason: 'v2 header for a datagram connection' };
  if (family === 0x1 || family === 0x2) {
    const size = family === 0x1 ? 4 : 16;
    if (length < 16 + 2 * size + 4)
      return { kind: 'invalid', reason: 'v2 header too short for its addresses' };
    const src = buf.subarray(16, 16 + size);
    const ip = size === 4 ? [...src].join('.') : formatIPv6(src);
    return { kind: 'header', length, source: { ip, port: buf.readUInt16BE(16 + 2 * size) } };
  }
  // UNSPEC or a UNIX socket: no IP to report; the connection's own address stands.
  if (family === 0x0 || family === 0x3) return { kind: 'header', length, source: undefined };
  return { kind: 'invalid', reason: `v2 header with address family ${family}` };
}

/** Parses the start of a connection's bytes as a PROXY header (v1 or v2). */
export function parseProxyHeader(buf: Buffer): HeaderParse {
  if (buf.length > 0 && buf[0] === V2_SIGNATURE[0]) {
    if (!agrees(buf, V2_SIGNATURE)) return { kind: 'invalid', reason: 'not a PROXY header' };
    return parseV2(buf);
  }
  if (!agrees(buf, V1_PREFIX)) return { kind: 'invalid', reason: 'not a PROXY header' };
  return buf.length < V1_PREFIX.length ? { kind: 'incomplete' } : parseV1(buf);
}

export type HeaderRead =
  { ok: true; source: ProxiedSource | undefined } | { ok: false; reason: string; timeout: boolean };

/**
 * Reads the PROXY header from a fresh socket (paused or not) within `timeoutMs`. The bytes after
 * it are put back (unshift) for whoever reads next; the socket is left paused. Reads at most
 * MAX_V2_HEADER bytes' worth before deciding.
 */
export function readProxyHeader(socket: Socket, timeoutMs: number): Promise<HeaderRead> {
  return new Promise((resolve) => {
    let held: Buffer = Buffer.alloc(0);
    const finish = (result: HeaderRead, rest?: Buffer): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onGone);
      socket.off('close', onGone);
      socket.off('error', onGone);
      socket.pause();
      if (rest !== undefined && rest.length > 0) socket.unshift(rest);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      held = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
      const parsed = parseProxyHeader(held);
      if (parsed.kind === 'header')
        finish({ ok: true, source: parsed.source }, held.subarray(parsed.length));
      else if (parsed.kind === 'invalid')
        finish({ ok: false, reason: parsed.reason, timeout: false });
    };
    const onGone = (): void =>
      finish({ ok: false, reason: 'closed before its PROXY header', timeout: false });
    const timer = setTimeout(
      () =>
        finish({
          ok: false,
          reason: `no PROXY header within ${timeoutMs / 1000} s`,
          timeout: true,
        }),
      timeoutMs,
    );
    socket.on('data', onData);
    socket.once('end', onGone);
    socket.once('close', onGone);
    socket.once('error', onGone);
    socket.resume();
  });
}
