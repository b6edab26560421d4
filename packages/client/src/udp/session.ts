/**
 * The encrypted session of a UDP connection to a server with TLS (PROTOCOL.md "Encrypted UDP
 * sessions"): a TLS connection to the TCP port (certificate checks, HELLO with the token, as for
 * any fts:// transfer) asks for a session covering a path, both ends derive the AES-256-GCM keys
 * from that connection's TLS exporter, and the TLS connection is closed again: the keys outlive
 * it. Every datagram of the UDP connection is then sealed.
 */
import { SealedChannel } from '@ft/protocol';
import { Connection } from '../connection.js';
import type { ConnectOptions } from '../connection-types.js';
import type { ServerAddress } from '../remote.js';

/** Renew a session this long before the server stops taking new requests in it. */
const EXPIRY_MARGIN_MS = 5000;

export class ClientSession {
  private constructor(
    readonly channel: SealedChannel,
    private readonly prefix: string[],
    private readonly expiresAt: number,
  ) {}

  /** Opens a session covering `path` over a new TLS connection to `address`. */
  static async open(
    address: ServerAddress,
    options: ConnectOptions,
    path: string,
  ): Promise<ClientSession> {
    const tcp = await Connection.open(address, options);
    try {
      const granted = await tcp.udpSession(path);
      return new ClientSession(
        new SealedChannel(granted.sessionId, granted.material, 'client'),
        components(path),
        performance.now() + granted.lifetimeMs - EXPIRY_MARGIN_MS,
      );
    } finally {
      tcp.close();
    }
  }

  /** Whether a request for `path` may use this session (it covers the path and is not about to expire). */
  serves(path: string): boolean {
    if (performance.now() >= this.expiresAt || this.channel.exhausted) return false;
    const parts = components(path);
    return this.prefix.length <= parts.length && this.prefix.every((p, i) => parts[i] === p);
  }
}

function components(path: string): string[] {
  return path.split('/').filter((p) => p !== '' && p !== '.');
}
