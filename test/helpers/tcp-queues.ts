/**
 * The kernel's TCP socket table (/proc/net/tcp and tcp6) of this network namespace: how many
 * bytes each socket on a port still holds in its send queue (written by the process, not yet
 * acknowledged by the peer). Lets a test see memory the kernel keeps for a connection, which no
 * process's RSS shows.
 */
import { readFileSync } from 'node:fs';

export interface TcpSocketRow {
  localPort: number;
  remotePort: number;
  /** Kernel state number (1 established, 4 FIN_WAIT1, 10 listen, …). */
  state: number;
  /** Bytes in the send queue (unacknowledged or unsent). */
  sendQueue: number;
}

function rows(file: string): TcpSocketRow[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: TcpSocketRow[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const port = (addr: string) => parseInt(addr.slice(addr.indexOf(':') + 1), 16);
    const [tx] = f[4]!.split(':');
    out.push({
      localPort: port(f[1]!),
      remotePort: port(f[2]!),
      state: parseInt(f[3]!, 16),
      sendQueue: parseInt(tx!, 16),
    });
  }
  return out;
}

/** Sockets whose local port is `port` (a server's accepted connections), listeners excluded. */
export function serverSockets(port: number): TcpSocketRow[] {
  return [...rows('/proc/net/tcp'), ...rows('/proc/net/tcp6')].filter(
    (r) => r.localPort === port && r.state !== 10,
  );
}

/** Bytes the kernel holds in the send queues of the server's connections on `port`. */
export function serverSendQueued(port: number): number {
  return serverSockets(port).reduce((sum, r) => sum + r.sendQueue, 0);
}
