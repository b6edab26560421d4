/**
 * The encrypted UDP sessions the UDP service holds (PROTOCOL.md "Encrypted UDP sessions"): the
 * grants the TCP side made over TLS, each with its AEAD channel, the path it covers, its expiry
 * and the client address its last authenticated datagram came from (replies to that address are
 * sealed). Bounded: at most `max` sessions; a new grant first drops expired sessions without
 * running transfers, then, if still full, the oldest.
 */
import { SealedChannel } from '@ft/protocol';
import type { OpenFailure } from '@ft/protocol';
import { leadsOutsidePrefix } from '../access/prefix-escape.js';
import { prefixCovers } from '../access/token-store.js';
import type { PathJail } from '../files/path-jail.js';
import type { UdpSessionGrant } from './session-grant.js';

export interface UdpSession {
  readonly id: string;
  readonly channel: SealedChannel;
  readonly prefix: string;
  readonly expiresAt: number;
  /** Transfers opened in the session still running. */
  transfers: number;
  /** "address|port" of the last authenticated datagram. */
  peer: string | undefined;
}

export class UdpSessions {
  private readonly byId = new Map<string, UdpSession>();
  private readonly byPeer = new Map<string, UdpSession>();

  constructor(
    private readonly max: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.byId.size;
  }

  add(grant: UdpSessionGrant): void {
    if (this.byId.size >= this.max) this.sweep();
    if (this.byId.size >= this.max) this.remove(this.byId.values().next().value!);
    const channel = new SealedChannel(
      Buffer.from(grant.id, 'hex'),
      Buffer.from(grant.material, 'base64'),
      'server',
    );
    this.byId.set(grant.id, {
      id: grant.id,
      channel,
      prefix: grant.prefix,
      expiresAt: grant.expiresAt,
      transfers: 0,
      peer: undefined,
    });
  }

  /**
   * Opens a sealed datagram whose header named session `id`, from `peer`: the session and the
   * inner datagram, or why it was dropped. A session that saw too many forgeries is removed.
   */
  open(
    id: Buffer,
    msg: Buffer,
    peer: string,
  ): { session: UdpSession; inner: Buffer } | OpenFailure | 'unknown' {
    const session = this.byId.get(id.toString('hex'));
    if (session === undefined) return 'unknown';
    const inner = session.channel.open(msg);
    if (typeof inner === 'string') {
      if (session.channel.compromised) this.remove(session);
      return inner;
    }
    if (session.peer !== peer) {
      if (session.peer !== undefined) this.byPeer.delete(session.peer);
      session.peer = peer;
      this.byPeer.set(peer, session);
    }
    return { session, inner };
  }

  /** The session whose client is `peer` ("address|port"): what is sent there is sealed. */
  forPeer(peer: string): UdpSession | undefined {
    return this.byPeer.get(peer);
  }

  /** Whether new requests are still accepted in `session`. */
  live(session: UdpSession): boolean {
    return this.now() < session.expiresAt;
  }

  /** Whether `session` covers `path`: under its prefix, and not leading out of it by a symlink. */
  covers(session: UdpSession, path: string, jail: PathJail): boolean {
    return prefixCovers(session.prefix, path) && !leadsOutsidePrefix(jail, session.prefix, path);
  }

  transferStarted(session: UdpSession): void {
    session.transfers++;
  }

  transferEnded(session: UdpSession): void {
    session.transfers--;
    if (session.transfers === 0 && !this.live(session)) this.remove(session);
  }

  private sweep(): void {
    for (const s of [...this.byId.values()]) if (s.transfers === 0 && !this.live(s)) this.remove(s);
  }

  private remove(session: UdpSession): void {
    this.byId.delete(session.id);
    if (session.peer !== undefined && this.byPeer.get(session.peer) === session)
      this.byPeer.delete(session.peer);
  }
}
