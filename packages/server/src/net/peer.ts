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
  return hostPort(ipKey(ip), socket.remotePort ?? 0);
}

/**
 * Who a connection is from, as logs, the per-IP connection limits and the per-address share of
 * the read buffers see it: the socket's peer, or with --proxy-protocol the client the load
 * balancer's header names (`via` is then the balancer). Every accept path takes it from here.
 */
export interface ClientAddress {
  /** The IP (see ipKey) the per-address limits count. */
  ip: string;
  /** "ip:port" for logs. */
  peer: string;
  /** The balancer's "ip:port" when the address came from a PROXY header. */
  via?: string;
}

/** The client of `socket`; `proxied` is the source a PROXY header gave (if any). */
export function clientOf(socket: Socket, proxied?: { ip: string; port: number }): ClientAddress {
  if (proxied === undefined) return { ip: ipKey(socket.remoteAddress), peer: peerOf(socket) };
  const ip = ipKey(proxied.ip);
  return { ip, peer: hostPort(ip, proxied.port), via: peerOf(socket) };
}

/** "host:port" with IPv6 hosts in brackets, as in the listening line. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
