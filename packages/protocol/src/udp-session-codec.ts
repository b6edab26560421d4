/**
 * UDP_SESSION and UDP_SESSION_OK (docs/PROTOCOL.md §4.11, §4.12): over TLS, the client asks for
 * an encrypted UDP session and the server names it. The keys never cross the wire: both sides
 * derive them from the TLS connection's exported keying material (udp/session-keys.ts).
 */
import { FrameType, Limits } from './constants.js';
import { FrameWriter, PayloadReader } from './bytes.js';
import { bad, checkBytes, checkRequestId, checkU, measure, readRequestId } from './checks.js';
import { ProtocolError } from './errors.js';
import type { UdpSessionGranted, UdpSessionRequest } from './messages.js';

/** Length of a UDP session id. */
export const UDP_SESSION_ID_SIZE = 8;

// UDP_SESSION: requestId u32 path str16
export function encodeUdpSession(m: Omit<UdpSessionRequest, 'type'>): Buffer {
  checkRequestId(m.requestId);
  const n = measure(m.path, Limits.MAX_PATH_BYTES, 'path');
  return new FrameWriter(FrameType.UDP_SESSION, 4 + 2 + n)
    .u32(m.requestId)
    .string(m.path, n)
    .done();
}
export function decodeUdpSession(r: PayloadReader): UdpSessionRequest {
  const requestId = readRequestId(r, 'UDP_SESSION');
  const path = r.string('path', Limits.MAX_PATH_BYTES, 'FT_ERR_PATH_TOO_LONG');
  return { type: FrameType.UDP_SESSION, requestId, path };
}

// UDP_SESSION_OK: requestId u32 sessionId[8] lifetimeMs u32
export function encodeUdpSessionOk(m: Omit<UdpSessionGranted, 'type'>): Buffer {
  checkRequestId(m.requestId);
  checkBytes(m.sessionId, UDP_SESSION_ID_SIZE, 'sessionId');
  checkU(m.lifetimeMs, 0xffff_ffff, 'lifetimeMs');
  if (m.lifetimeMs === 0) bad('lifetimeMs must not be 0');
  return new FrameWriter(FrameType.UDP_SESSION_OK, 4 + UDP_SESSION_ID_SIZE + 4)
    .u32(m.requestId)
    .bytes(m.sessionId)
    .u32(m.lifetimeMs)
    .done();
}
export function decodeUdpSessionOk(r: PayloadReader): UdpSessionGranted {
  const requestId = readRequestId(r, 'UDP_SESSION_OK');
  const sessionId = r.bytes(UDP_SESSION_ID_SIZE);
  const lifetimeMs = r.u32();
  if (lifetimeMs === 0) throw new ProtocolError('FT_ERR_BAD_VALUE', 'UDP_SESSION_OK: lifetime 0');
  return { type: FrameType.UDP_SESSION_OK, requestId, sessionId, lifetimeMs };
}
