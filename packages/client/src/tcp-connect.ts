/**
 * Opening the socket of a Connection: every address the name resolves to is tried, IPv6
 * and IPv4 interleaved (happy eyeballs), with the receive ring given to the socket from the
 * start (Node takes `onread` only at creation), a connect timeout and abort. A TLS connection
 * is dialed as a TLS socket with the same options, so its decrypted bytes land in the ring
 * too, and its handshake is awaited (tls-options.ts) before this resolves.
 */
import net from 'node:net';
import tls from 'node:tls';
import { ClientError, ClientErrorCode } from './errors.js';
import { ReceiveRing } from './receive/receive-ring.js';
import { formatServer } from './remote.js';
import type { ServerAddress } from './remote.js';
import { abortError } from './retry.js';
import { secureSocket, tlsConnectOptions, usesTls } from './tls-options.js';
import { verbose } from './verbose-log.js';
import type { ConnectOptions } from './connection-types.js';

/** " (tried ::1, 127.0.0.1)" when several addresses were tried and all failed. */
function triedAddresses(error: NodeJS.ErrnoException): string {
  const errors = (error as { errors?: unknown }).errors;
  if (!Array.isArray(errors) || errors.length < 2) return '';
  const addresses = errors.map((e) => String((e as { address?: unknown }).address ?? '?'));
  return ` (tried ${addresses.join(', ')})`;
}

/** A connected socket (TLS: handshake done and checked) reading into its own receive ring. */
export function connectSocket(
  address: ServerAddress,
  options: ConnectOptions,
): Promise<{ socket: net.Socket; ring: ReceiveRing }> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(abortError());
      return;
    }
    const server = formatServer(address);
    verbose(() => `connecting to ${server}`);
    // Every address the name resolves to is tried, IPv6 and IPv4 interleaved, a new attempt
    // every 250 ms while the earlier ones are pending (happy eyeballs, RFC 8305, as curl does).
    const ring = new ReceiveRing();
    const secure = usesTls(address);
    const tcpOptions = {
      host: address.host,
      port: address.port,
      autoSelectFamily: true,
      autoSelectFamilyAttemptTimeout: 250,
      onread: ring.onread,
    };
    const socket = secure
      ? tls.connect({ ...tcpOptions, ...tlsConnectOptions(address) })
      : net.connect(tcpOptions);
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      options.signal?.removeEventListener('abort', onAbort);
    };
    const onError = (error: NodeJS.ErrnoException): void => {
      cleanup();
      socket.destroy();
      reject(
        new ClientError(
          ClientErrorCode.CONNECT_FAILED,
          `cannot connect to ${server}: ${error.code ?? error.message}${triedAddresses(error)}`,
          { cause: error },
        ),
      );
    };
    const onAbort = (): void => {
      cleanup();
      socket.destroy();
      reject(abortError());
    };
    const timer = setTimeout(() => {
      cleanup();
      socket.destroy();
      reject(
        new ClientError(
          ClientErrorCode.CONNECT_FAILED,
          `cannot connect to ${server}: timed out after ${options.timeoutMs} ms`,
        ),
      );
    }, options.timeoutMs);
    socket.once('error', onError);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      cleanup();
      verbose(() => {
        const tried = socket.autoSelectFamilyAttemptedAddresses ?? [];
        const to = formatServer({
          host: socket.remoteAddress ?? '?',
          port: socket.remotePort ?? 0,
        });
        return `connected to ${to}${tried.length > 1 ? ` (tried ${tried.join(', ')})` : ''}`;
      });
      socket.setNoDelay(true);
      if (!secure) resolve({ socket, ring });
      else
        secureSocket(socket as tls.TLSSocket, address, options.timeoutMs).then(
          (s) => resolve({ socket: s, ring }),
          reject,
        );
    });
  });
}
