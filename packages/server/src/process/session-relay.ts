/**
 * The primary's relay of encrypted UDP sessions: the TCP children (workers or one-shot children)
 * that grant a session over TLS send it here ('udp-session'), and the relay passes it to the UDP
 * service process. The primary only forwards; it keeps nothing.
 */
import type { ChildProcess } from 'node:child_process';
import { isFromChild } from './ipc.js';
import { isUdpSessionGrant } from '../udp/session-grant.js';
import type { UdpSessionGrant } from '../udp/session-grant.js';

export class SessionRelay {
  private sink: ((grant: UdpSessionGrant) => void) | undefined;

  /** @param enabled whether children may grant sessions at all (TLS and a UDP service) */
  constructor(readonly enabled: boolean) {}

  /** Where grants go from now on (the UDP service, once it runs). */
  connect(sink: (grant: UdpSessionGrant) => void): void {
    this.sink = sink;
  }

  /** Passes on the grants `child` sends. */
  watch(child: ChildProcess): void {
    if (!this.enabled) return;
    child.on('message', (message: unknown) => {
      if (!isFromChild(message) || message.t !== 'udp-session') return;
      if (isUdpSessionGrant(message.grant)) this.sink?.(message.grant);
    });
  }
}
