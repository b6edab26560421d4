/** Client addresses as logs and per-IP limits see them. */
import type { Socket } from 'node:net';

/** The IP of a client with an IPv4-mapped IPv6 address written as plain IPv4. */
export function ipKey(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** "ip:port", or "[ip]:port" for IPv6, or "local" for a socket without an address (a pipe). */
export function peerOf(socket: Socket): string {
  const ip = socket.remoteAddress;
  if (ip === undefined) return 'local';
  const key = ipKey(ip);
  return key.includes(':') ? `[${key}]:${socket.remotePort}` : `${key}:${socket.remotePort}`;
}

/** "host:port" with IPv6 hosts in brackets, as in the listening line. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
