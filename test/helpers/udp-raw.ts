/**
 * A hand-driven ft UDP client for tests that need a transfer held open or a request answered
 * without a real ftget: it does the token handshake (REQUEST → RETRY → REQUEST with the token)
 * and returns the server's answer. It never ACKs, so an accepted transfer stays open on the
 * server until its liveness limit (or until the test closes it).
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { DatagramType, decodeDatagram, encodeUdpRequest } from '@ft/protocol';
import type { UdpServerMessage } from '@ft/protocol';

export interface RawUdpClient {
  /**
   * Sends a REQUEST for `path` (with the token dance; `credential`: the access token it
   * carries) and resolves with the first real answer.
   */
  request(path: string, timeoutMs?: number, credential?: string): Promise<UdpServerMessage>;
  /** Sends one datagram to the server (e.g. a CLOSE for the transfer it holds). */
  send(datagram: Buffer): void;
  close(): Promise<void>;
}

/**
 * Opens a socket connected to the server's UDP port on 127.0.0.1, sending from `localAddress`
 * (another loopback address keeps per-address limits away from the test's other clients).
 */
export async function rawUdpClient(port: number, localAddress?: string): Promise<RawUdpClient> {
  const socket: Socket = createSocket('udp4');
  if (localAddress !== undefined)
    await new Promise<void>((resolve) => socket.bind(0, localAddress, () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(port, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  let closed = false;
  return {
    request: (path, timeoutMs = 10_000, credential) =>
      new Promise<UdpServerMessage>((resolve, reject) => {
        const nonce = randomInt(1, 0xffff_ffff);
        const send = (token: Buffer): void =>
          socket.send(
            encodeUdpRequest({
              nonce,
              path,
              offset: 0,
              wantDigests: false,
              maxPayload: 1200,
              window: 64 * 1024,
              token,
              credential,
            }),
          );
        const done = (): void => {
          clearTimeout(timer);
          clearInterval(resend);
          socket.off('message', onMessage);
        };
        let token: Buffer = Buffer.alloc(0);
        const onMessage = (msg: Buffer): void => {
          let m;
          try {
            m = decodeDatagram(msg);
          } catch {
            return;
          }
          if (!('nonce' in m) || m.nonce !== nonce) return;
          if (m.type === DatagramType.RETRY) {
            token = m.token;
            send(token);
            return;
          }
          done();
          resolve(m as UdpServerMessage);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no answer to REQUEST ${path} in ${timeoutMs} ms`));
        }, timeoutMs);
        // Loopback rarely loses anything, but a test must not hang on one lost datagram.
        const resend = setInterval(() => send(token), 500);
        socket.on('message', onMessage);
        send(token);
      }),
    send: (datagram) => socket.send(datagram),
    close: () =>
      closed
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            closed = true;
            socket.close(() => resolve());
          }),
  };
}
