/**
 * The sending side of the UDP service's socket: what goes to the peer of an encrypted session
 * is sealed first (its plaintext form never leaves), bytes and failed sends are counted, and
 * `idleEpoch` counts the moments at which every send issued so far had completed — the point
 * after which a buffer handed to an earlier send may be reused (block-reader.ts): Node passes a
 * send to the kernel a tick late, so an empty send queue alone does not say the bytes are gone.
 */
import type { Socket } from 'node:dgram';
import { UdpDefaults } from './config.js';
import type { UdpServerStats } from './config.js';
import { peerKey } from './peer-answers.js';
import type { UdpSessions } from './sessions.js';

export class UdpSendSide {
  /** See TransferHost.idleEpoch. */
  idleEpoch = 0;
  /** Sends issued whose callback has not run yet (the kernel may not have their bytes). */
  private unfinished = 0;
  private readonly afterSend = (error: Error | null): void => {
    if (--this.unfinished === 0) this.idleEpoch++;
    // A failed send is a lost datagram: the engine recovers from it like from any other loss.
    if (error !== null && error !== undefined) this.stats.sendErrors++;
  };

  constructor(
    private readonly socket: Socket,
    private readonly stats: UdpServerStats,
    private readonly sessions: UdpSessions | undefined,
  ) {}

  send(datagram: Buffer | Buffer[], port: number, address: string): void {
    const session = this.sessions?.forPeer(peerKey(address, port));
    if (session !== undefined) {
      try {
        datagram = session.channel.seal(datagram);
      } catch {
        // The session sealed its limit: the transfer stalls and ends; the client opens a new one.
        this.stats.sendErrors++;
        return;
      }
    }
    this.stats.bytesOut += Array.isArray(datagram)
      ? datagram.reduce((n, b) => n + b.length, 0)
      : datagram.length;
    this.unfinished++;
    this.socket.send(datagram, port, address, this.afterSend);
  }

  congested(): boolean {
    return this.socket.getSendQueueCount() > UdpDefaults.maxSendQueue;
  }
}
