/** What a TCP connection is given by the process that accepted it (see connection.ts). */
import type { Credentials } from '../access/credential-check.js';
import type { FileService } from '../files/file-service.js';
import type { Logger } from '../logger.js';
import type { ClientAddress } from '../net/peer.js';
import type { UdpSessionGrant } from '../udp/session-grant.js';

export interface ConnectionOptions {
  files: FileService;
  logger: Logger;
  /** Close a client that sends nothing, or takes nothing we write, for this long. */
  idleTimeoutMs: number;
  /**
   * Close a client whose handshake (connect to HELLO) or any request frame (first byte to
   * last) takes longer than this, however steadily its bytes trickle in.
   */
  requestTimeoutMs: number;
  /** Largest request frame payload accepted (announced in WELCOME). */
  maxRequestSize: number;
  /** Our name in WELCOME, e.g. "ftserve/0.1.0". */
  serverName: string;
  /**
   * --tokens and/or --sign-key: every request needs an access token or a signed link
   * (PROTOCOL.md §5.6, §5.7); undefined: no access control.
   */
  credentials?: Credentials | undefined;
  /** Hands an encrypted UDP session to the UDP service (undefined: UDP_SESSION is refused). */
  udpSessions?: ((grant: UdpSessionGrant) => void) | undefined;
  /** Who the client is (from a PROXY header); default: the socket's peer. */
  client?: ClientAddress | undefined;
}
