/**
 * TLS on the TCP port (docs/PROTOCOL.md §12). Every serving process (prefork worker, one-shot
 * child, inetd) loads the certificate itself and wraps each accepted socket after reading its
 * first byte: a TLS ClientHello starts TLS, anything else is a plaintext client, which gets a
 * plaintext TLS_REQUIRED error at once instead of a handshake failure it cannot read. TLS
 * wraps the socket in the serving process, so the process models hand over raw sockets as
 * before and the ft layer above sees a Socket like any other.
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { TLSSocket, createSecureContext } from 'node:tls';
import type { SecureContext } from 'node:tls';
import { TLS_HANDSHAKE_RECORD, WireError, alpnProtocols } from '@ft/protocol';
import type { TlsSettings } from '../config.js';
import { ExitCode, ServeError } from '../exit-codes.js';
import type { Logger } from '../logger.js';
import { refuseSocket } from '../process/acceptor.js';
import { peerOf } from './peer.js';

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ServeError(`cannot read the TLS ${what} ${file}: ${code}`, ExitCode.USAGE);
  }
}

/** OpenSSL messages look like "error:0480006C:PEM routines::no start line": keep the words. */
function opensslReason(error: unknown): string {
  const message = (error as Error).message ?? String(error);
  const parts = message.split(':').filter((p) => p !== '');
  return parts[parts.length - 1]?.trim() ?? message;
}

/** Loads the certificate and key into a secure context; a ServeError (USAGE) if they are unusable. */
export function loadSecureContext(settings: TlsSettings): SecureContext {
  const cert = readPem(settings.certFile, 'certificate');
  const key = readPem(settings.keyFile, 'key');
  if (!cert.includes('-----BEGIN CERTIFICATE-----'))
    throw new ServeError(`${settings.certFile} holds no PEM certificate`, ExitCode.USAGE);
  try {
    createPrivateKey(key);
  } catch (error) {
    throw new ServeError(
      `${settings.keyFile} holds no usable PEM private key: ${opensslReason(error)}`,
      ExitCode.USAGE,
    );
  }
  try {
    return createSecureContext({
      cert,
      key,
      minVersion: settings.minVersion,
      ticketKeys: Buffer.from(settings.ticketKeys, 'hex'),
    });
  } catch (error) {
    throw new ServeError(
      `cannot use the TLS certificate ${settings.certFile} with the key ${settings.keyFile}: ${opensslReason(error)}`,
      ExitCode.USAGE,
    );
  }
}

/** Told how a wrapped connection went: a TLS socket to serve, or gone (refused, closed, timed out). */
export interface TlsOutcome {
  secure(socket: TLSSocket): void;
  gone(): void;
}

/** The TLS side of one serving process: its current certificate, and the wrapping of sockets. */
export class TlsAcceptor {
  private context: SecureContext;
  private readonly alpn = alpnProtocols();

  constructor(
    private readonly settings: TlsSettings,
    private readonly logger: Logger,
  ) {
    this.context = loadSecureContext(settings);
  }

  /**
   * Loads the certificate files again (SIGHUP): connections accepted from now on get the new
   * certificate, running ones keep theirs. A broken new certificate is logged and the old one
   * kept, so a bad edit never takes the server down.
   */
  reload(): void {
    try {
      this.context = loadSecureContext(this.settings);
      this.logger.info('tls-reloaded', { cert: this.settings.certFile });
    } catch (error) {
      this.logger.error('tls-reload-failed', { error: (error as Error).message });
    }
  }

  /**
   * Waits (at most `timeoutMs`) for the client's first byte. A TLS handshake record gets the
   * socket wrapped in TLS (handed to `outcome.secure`; the handshake runs under the
   * connection's own deadlines); any other byte gets ERROR TLS_REQUIRED in plaintext.
   * `outcome.gone` is called once the socket is closed without being handed on.
   */
  accept(socket: Socket, timeoutMs: number, outcome: TlsOutcome): void {
    const onError = (): void => {};
    const onClose = (): void => {
      cleanup();
      outcome.gone();
    };
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      cleanup();
      socket.pause();
      if (chunk[0] !== TLS_HANDSHAKE_RECORD) {
        this.logger.warn('refused', { peer: peerOf(socket), reason: 'plaintext-on-tls-port' });
        socket.once('close', () => outcome.gone());
        refuseSocket(
          socket,
          WireError.TLS_REQUIRED,
          0,
          'this server speaks ft over TLS only: use an fts:// URL or --tls',
        );
        return;
      }
      // onError stays: errors of the raw socket surface on the TLS socket, not here.
      // The chunk goes back to the socket: TLSSocket feeds bytes already read to OpenSSL first.
      socket.unshift(chunk);
      const secure = new TLSSocket(socket, {
        isServer: true,
        secureContext: this.context,
        ALPNProtocols: this.alpn,
      });
      outcome.secure(secure);
    };
    socket.on('error', onError);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.resume();
  }
}
