/**
 * `--allow CIDR` / `--deny CIDR`: which client addresses may talk to the server at all. Checked
 * where a connection is accepted (and for each UDP datagram), before any protocol work. Deny
 * wins over allow; with any --allow, an address that matches none is refused. IPv4-mapped IPv6
 * addresses (::ffff:a.b.c.d) count as their IPv4 address.
 */
import { BlockList, isIP } from 'node:net';
import type { Socket } from 'node:net';
import { WireError } from '@ft/protocol';
import type { Logger } from '../logger.js';
import { ipKey } from '../net/peer.js';

/** Refused addresses are logged at most once per this interval each. */
export const REFUSAL_LOG_INTERVAL_MS = 60_000;
/** Addresses remembered for that; beyond it, new ones are counted, not logged, until entries age out. */
const MAX_REMEMBERED = 4096;

/** A CIDR as given: "10.0.0.0/8", "::1/128", or a bare address (a /32 or /128). */
interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Parses one CIDR; undefined if it is not one. */
export function parseCidr(text: string): Cidr | undefined {
  const [address = '', bits, ...rest] = text.trim().split('/');
  if (rest.length > 0) return undefined;
  const v = isIP(address);
  if (v === 0) return undefined;
  const max = v === 4 ? 32 : 128;
  if (bits !== undefined && !/^\d{1,3}$/.test(bits)) return undefined;
  const prefix = bits === undefined ? max : Number(bits);
  if (prefix > max) return undefined;
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * Splits repeatable, comma-separated flag values into CIDRs; returns the first bad one as
 * `bad` (the caller turns it into a usage error).
 */
export function parseCidrList(values: readonly string[]): { cidrs: string[]; bad?: string } {
  const cidrs: string[] = [];
  for (const value of values) {
    for (const part of value.split(',')) {
      if (part.trim() === '') continue;
      if (parseCidr(part) === undefined) return { cidrs, bad: part.trim() };
      cidrs.push(part.trim());
    }
  }
  return { cidrs };
}

function blockList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const text of cidrs) {
    const c = parseCidr(text);
    if (c !== undefined) list.addSubnet(c.address, c.prefix, c.family);
  }
  return list;
}

/** What a gate logs and answers when it refuses an address. */
export interface GateRefusal {
  /** Log event name. */
  event: string;
  /** The ERROR frame's message. */
  message: string;
}

const ADDRESS_REFUSED: GateRefusal = { event: 'address-refused', message: 'address not allowed' };

/** The allow and deny lists, with the rate-limited log of what they refuse. */
export class AddressGate {
  private readonly allow: BlockList | undefined;
  private readonly deny: BlockList | undefined;
  private readonly logged = new Map<string, number>();
  private suppressed = 0;

  constructor(
    allow: readonly string[],
    deny: readonly string[],
    private readonly logger: Logger,
    private readonly refusal: GateRefusal = ADDRESS_REFUSED,
  ) {
    this.allow = allow.length === 0 ? undefined : blockList(allow);
    this.deny = deny.length === 0 ? undefined : blockList(deny);
  }

  /** A gate, or undefined when neither list is set (nothing to check). */
  static of(
    allow: readonly string[],
    deny: readonly string[],
    logger: Logger,
  ): AddressGate | undefined {
    return allow.length === 0 && deny.length === 0
      ? undefined
      : new AddressGate(allow, deny, logger);
  }

  /** Whether `address` (as a socket reports it) may connect. Unknown addresses (pipes) may. */
  admits(address: string | undefined): boolean {
    if (address === undefined) return true;
    const ip = ipKey(address);
    const family = isIP(ip) === 4 ? 'ipv4' : 'ipv6';
    if (this.deny?.check(ip, family) === true) return false;
    if (this.allow !== undefined && !this.allow.check(ip, family)) return false;
    return true;
  }

  /** Logs a refusal of `ip`, unless it was logged less than a minute ago (bounded memory). */
  noteRefused(ip: string, transport: 'tcp' | 'udp', now = performance.now()): void {
    const last = this.logged.get(ip);
    if (last !== undefined && now - last < REFUSAL_LOG_INTERVAL_MS) return;
    if (last === undefined && this.logged.size >= MAX_REMEMBERED) {
      for (const [k, at] of this.logged)
        if (now - at >= REFUSAL_LOG_INTERVAL_MS) this.logged.delete(k);
      if (this.logged.size >= MAX_REMEMBERED) {
        this.suppressed++;
        return;
      }
    }
    this.logged.delete(ip);
    this.logged.set(ip, now);
    const extra = this.suppressed > 0 ? { unlogged: this.suppressed } : {};
    this.suppressed = 0;
    this.logger.warn(this.refusal.event, { ip, transport, ...extra });
  }

  /**
   * At accept: if the client's `address` (default: the socket's) is refused, answers ERROR ACCESS_DENIED (requestId 0)
   * without reading anything, closes, logs (rate-limited) and returns true.
   */
  refuses(
    socket: Socket,
    refuse: (socket: Socket, code: number, retryAfterMs: number, message: string) => void,
    address: string | undefined = socket.remoteAddress,
  ): boolean {
    if (this.admits(address)) return false;
    this.noteRefused(ipKey(address!), 'tcp');
    refuse(socket, WireError.ACCESS_DENIED, 0, this.refusal.message);
    return true;
  }
}
