/** Limits, defaults, options and counters of the UDP service. */
import { UdpLimits } from '@ft/protocol';
import type { FileService } from '../files/file-service.js';
import type { Logger } from '../logger.js';
import type { AddressGate } from '../access/address-list.js';
import type { UdpAccess } from './udp-auth.js';

/** Limits and tunables of the UDP service; docs/PROTOCOL.md lists the defaults. */
export const UdpDefaults = {
  maxTransfers: 256,
  maxTransfersPerAddress: 16,
  /** A transfer whose client sent nothing valid for this long is ended. */
  livenessMs: 10_000,
  /** Largest payload and window the server grants. */
  maxPayload: UdpLimits.MAX_PAYLOAD,
  maxWindow: 8 * 1024 * 1024,
  socketBufferBytes: 4 * 1024 * 1024,
  /** Datagrams queued in the socket before transfers pause their sending. */
  maxSendQueue: 256,
  /** Suggested wait in BUSY answers. */
  busyRetryMs: 1000,
  /** Encrypted sessions held at once (each is a few hundred bytes). */
  maxSessions: 1024,
} as const;

/** Answers before validation may be at most this many times the size of what they answer. */
export const AMPLIFICATION_FACTOR = 3;

export interface UdpServerOptions {
  /** Address to bind; undefined: all interfaces, dual stack. */
  host: string | undefined;
  port: number;
  files: FileService;
  logger: Logger;
  maxTransfers?: number;
  maxTransfersPerAddress?: number;
  livenessMs?: number;
  maxWindow?: number;
  /** --allow/--deny: datagrams from other addresses are dropped unanswered. */
  gate?: AddressGate | undefined;
  /** --tokens: every REQUEST and STAT needs an access token (checked after address validation). */
  access?: UdpAccess | undefined;
  /** TLS is configured: transfers only in encrypted sessions, plaintext REQUEST/STAT refused. */
  sessions?: boolean;
  maxSessions?: number;
}

export interface UdpServerStats {
  datagrams: number;
  malformed: number;
  strangers: number;
  retries: number;
  busy: number;
  transfers: number;
  bytesIn: number;
  bytesOut: number;
  sendErrors: number;
  /** Sealed datagrams naming no session we hold. */
  unknownSession: number;
  /** Sealed datagrams whose AEAD tag did not verify. */
  forged: number;
  /** Sealed datagrams already received, or older than the replay window. */
  replayed: number;
  /** Plaintext REQUESTs and STATs refused because the server has TLS. */
  plaintextRefused: number;
}

/** Counters at zero. */
export function newUdpStats(): UdpServerStats {
  return {
    datagrams: 0,
    malformed: 0,
    strangers: 0,
    retries: 0,
    busy: 0,
    transfers: 0,
    bytesIn: 0,
    bytesOut: 0,
    sendErrors: 0,
    unknownSession: 0,
    forged: 0,
    replayed: 0,
    plaintextRefused: 0,
  };
}
