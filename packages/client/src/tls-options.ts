/**
 * ft over TLS, client side (docs/PROTOCOL.md §12): which servers get TLS (fts:// URLs, or all
 * with --tls), how their certificate is checked (system CAs or --cacert, host name, --pin),
 * and the TLS handshake of a dialed TLS socket. One ftget process has one set of TLS
 * settings (the command line's), so they are configured once, like the verbose log.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity } from 'node:tls';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { alpnProtocols } from '@ft/protocol';
import { ClientError, ClientErrorCode } from './errors.js';
import { formatServer } from './remote.js';
import type { ServerAddress } from './remote.js';
import { verbose } from './verbose-log.js';

/** The TLS flags of a command line. */
export interface TlsFlags {
  tls?: boolean | undefined;
  cacert?: string | undefined;
  pin?: string | undefined;
  insecure?: boolean | undefined;
}

interface TlsSettings {
  /** --tls: every server, not only fts:// URLs. */
  always: boolean;
  /** --cacert contents; undefined: the system CAs. */
  ca: Buffer | undefined;
  /** Accepted SPKI SHA-256 digests (base64); empty: no pinning. */
  pins: string[];
  insecure: boolean;
}

let settings: TlsSettings = { always: false, ca: undefined, pins: [], insecure: false };
/** Session tickets by server, so that repeated connections of one run resume (no full handshake). */
const sessions = new Map<string, Buffer>();

function usage(message: string, hint?: string): ClientError {
  return new ClientError(ClientErrorCode.USAGE, message, hint === undefined ? {} : { hint });
}

/**
 * Parses --pin: `sha256//BASE64` (several joined with ";", as curl's --pinnedpubkey), each the
 * base64 SHA-256 of the server's DER SubjectPublicKeyInfo.
 */
export function parsePins(text: string): string[] {
  return text.split(';').map((part) => {
    const m = /^sha256\/\/([A-Za-z0-9+/]{43}=)$/.exec(part.trim());
    if (m === null)
      throw usage(
        `invalid --pin "${part}"`,
        'the pin is sha256// and the base64 SHA-256 of the public key (44 characters)',
      );
    return m[1]!;
  });
}

/** Sets the TLS settings from the command line; throws a usage ClientError on a bad flag. */
export function configureTls(flags: TlsFlags): void {
  let ca: Buffer | undefined;
  if (flags.cacert !== undefined) {
    try {
      ca = readFileSync(flags.cacert);
    } catch (error) {
      throw usage(
        `cannot read --cacert ${flags.cacert}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      );
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----'))
      throw usage(`--cacert ${flags.cacert} holds no PEM certificate`);
  }
  settings = {
    always: flags.tls === true,
    ca,
    pins: flags.pin === undefined ? [] : parsePins(flags.pin),
    insecure: flags.insecure === true,
  };
}

/** The warning --insecure prints on every run (stderr), so that it is never forgotten in a script. */
export function insecureWarning(): string | undefined {
  return settings.insecure
    ? "--insecure: the server's certificate is not verified; anyone on the path can read and change the transfer"
    : undefined;
}

/** Whether connections to `address` use TLS. */
export function usesTls(address: ServerAddress): boolean {
  return settings.always || address.tls === true;
}

/** Base64 SHA-256 of a certificate's DER SubjectPublicKeyInfo (the --pin value). */
export function spkiPin(spki: Buffer): string {
  return createHash('sha256').update(spki).digest('base64');
}

/** OpenSSL errors of a peer that does not speak TLS at all (it answered in plaintext). */
const NOT_TLS = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'ERR_SSL_UNKNOWN_PROTOCOL',
  'ERR_SSL_RECORD_LAYER_FAILURE',
]);

/** Why the certificate is not acceptable, or undefined if it is. */
function verifyFailure(socket: TLSSocket, host: string): string | undefined {
  const cert = socket.getPeerCertificate();
  // A resumed session (TLS 1.3 ticket) carries no certificate: it was checked, with these same
  // settings, by the handshake that issued the ticket, and resuming proves the server holds
  // it (several connections to one server, a reconnect after a drop).
  if (socket.isSessionReused() && cert.raw === undefined) return undefined;
  if (!settings.insecure) {
    const identity = checkServerIdentity(host, cert);
    if (identity !== undefined) return `certificate is not for ${host} (${identity.message})`;
    const refusal = socket.authorizationError as unknown;
    if (refusal === 'CERT_HAS_EXPIRED') return `certificate expired on ${cert.valid_to}`;
    if (refusal !== null && refusal !== undefined)
      return `certificate not trusted (${String(refusal)})`;
  }
  if (settings.pins.length > 0) {
    // cert.pubkey is not the SPKI for every key type (EC: the bare point); the DER cert is.
    const spki = new X509Certificate(cert.raw).publicKey.export({ type: 'spki', format: 'der' });
    const pin = spkiPin(spki);
    if (!settings.pins.includes(pin)) return `public key sha256//${pin} does not match --pin`;
  }
  return undefined;
}

/**
 * The TLS options of a connection to `address`, for `tls.connect` next to the TCP options: the
 * socket is dialed as a TLS socket (not wrapped around a connected one) because only then does
 * Node take the `onread` option, and the decrypted bytes land in the receive ring with no
 * buffer allocated per record.
 */
export function tlsConnectOptions(address: ServerAddress): ConnectionOptions {
  return {
    // SNI carries names only, never IP literals (RFC 6066).
    ...(isIP(address.host) === 0 ? { servername: address.host } : {}),
    ...(settings.ca === undefined ? {} : { ca: settings.ca }),
    ALPNProtocols: alpnProtocols(),
    // Checked below, after the handshake, so that each failure gets its own message and code.
    rejectUnauthorized: false,
    session: sessions.get(formatServer(address)),
  };
}

/**
 * Waits for the TLS handshake of `secure` (dialed with tlsConnectOptions, its TCP connection
 * just up) and checks the server; resolves with the socket. Must be called in the tick of the
 * TCP 'connect' event (its error listener takes over there). Failures are ClientErrors:
 * FT_TLS_VERIFY (certificate), FT_TLS_MISMATCH (the server does not speak TLS, or the
 * handshake failed).
 */
export function secureSocket(
  secure: TLSSocket,
  address: ServerAddress,
  timeoutMs: number,
): Promise<TLSSocket> {
  const server = formatServer(address);
  const key = server;
  return new Promise((resolve, reject) => {
    // Only a session of a verified handshake is kept: resuming it skips the certificate
    // (OpenSSL does not keep the peer's certificate in a resumed TLS 1.3 session, so there is
    // nothing to check again; only a server holding the ticket keys can resume it). TLS 1.3
    // tickets arrive after the handshake, hence the flag.
    let verified = false;
    let early: Buffer | undefined;
    secure.on('session', (session: Buffer) => {
      if (verified) sessions.set(key, session);
      else early = session;
    });
    let settled = false;
    const fail = (error: ClientError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      secure.destroy();
      reject(error);
    };
    const timer = setTimeout(
      () =>
        fail(
          new ClientError(
            ClientErrorCode.CONNECT_FAILED,
            `TLS handshake with ${server} did not finish within ${timeoutMs / 1000} s`,
          ),
        ),
      timeoutMs,
    );
    const onError = (error: NodeJS.ErrnoException): void => {
      const code = error.code ?? '';
      if (NOT_TLS.has(code)) {
        fail(
          new ClientError(
            ClientErrorCode.TLS_MISMATCH,
            `${server} does not speak TLS (it answered in plaintext)`,
            { hint: 'use an ft:// URL without --tls for a plaintext server', cause: error },
          ),
        );
        return;
      }
      const lost = code === 'ECONNRESET' || code === 'EPIPE';
      fail(
        new ClientError(
          lost ? ClientErrorCode.CONNECTION_LOST : ClientErrorCode.TLS_MISMATCH,
          `TLS handshake with ${server} failed: ${error.message.split('\n')[0]}`,
          { cause: error },
        ),
      );
    };
    const onClose = (): void =>
      fail(
        new ClientError(
          ClientErrorCode.TLS_MISMATCH,
          `${server} closed the connection during the TLS handshake`,
        ),
      );
    secure.once('error', onError);
    secure.once('close', onClose);
    secure.once('secureConnect', () => {
      const why = secure.isSessionReused() ? undefined : verifyFailure(secure, address.host);
      if (why !== undefined) {
        fail(
          new ClientError(ClientErrorCode.TLS_VERIFY, `TLS: ${server}: ${why}`, {
            hint: settings.insecure
              ? 'check --pin against the server'
              : 'check --cacert, the host name in the URL, or --pin',
          }),
        );
        return;
      }
      verified = true;
      if (early !== undefined) sessions.set(key, early);
      clearTimeout(timer);
      secure.off('close', onClose);
      secure.off('error', onError);
      verbose(
        () =>
          `TLS ${secure.getProtocol() ?? '?'} ${secure.getCipher().name} alpn=${String(secure.alpnProtocol)}${secure.isSessionReused() ? ' (session resumed)' : ''}`,
      );
      resolve(secure);
    });
  });
}
