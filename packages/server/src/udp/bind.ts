/** Binding the UDP service's datagram socket, with the same address rules as the TCP listener. */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { UdpDefaults } from './config.js';

function bindSocket(type: 'udp4' | 'udp6', host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({
      type,
      ipv6Only: false,
      recvBufferSize: UdpDefaults.socketBufferBytes,
      sendBufferSize: UdpDefaults.socketBufferBytes,
    });
    socket.once('error', (error) => {
      socket.close();
      reject(error);
    });
    socket.bind(port, host, () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

/** Binds like the TCP listener: the given host, or "::" dual stack falling back to "0.0.0.0". */
export async function bindUdp(host: string | undefined, port: number): Promise<Socket> {
  if (host !== undefined) return bindSocket(isIP(host) === 6 ? 'udp6' : 'udp4', host, port);
  try {
    return await bindSocket('udp6', '::', port);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw error;
    return bindSocket('udp4', '0.0.0.0', port);
  }
}
