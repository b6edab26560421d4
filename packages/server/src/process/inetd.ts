/**
 * --inetd: serve the one connection that inetd, xinetd or systemd (Accept=yes) has already
 * accepted and handed over as stdin, then exit.
 */
import { fstatSync } from 'node:fs';
import { Socket } from 'node:net';
import type { ServerConfig } from '../config.js';
import { configureRates } from '../net/rates.js';
import { ONESHOT_LOAD_AT, configureSendfile } from '../files/sendfile-sender.js';
import { Connection } from '../tcp/connection.js';
import { ExitCode, ServeError } from '../exit-codes.js';
import { FileService } from '../files/file-service.js';
import type { Logger } from '../logger.js';
import { AddressGate } from '../access/address-list.js';
import { loadCredentials, reloadCredentials } from '../access/credential-reload.js';
import { refuseSocket } from './acceptor.js';
import type { ClientAddress } from '../net/peer.js';
import { identifyClient, trustedProxyGate } from './identify-client.js';

/** The client named by the PROXY header, or null once the connection is refused (and logged). */
function headerClient(
  socket: Socket,
  config: ServerConfig,
  logger: Logger,
): Promise<ClientAddress | null> {
  return new Promise((resolve) => {
    socket.once('close', () => resolve(null));
    const proxy = {
      timeoutMs: config.requestTimeoutMs,
      maxPending: 1,
      trusted: trustedProxyGate(config.trustedProxies, logger),
    };
    identifyClient(socket, proxy, logger, resolve);
  });
}

export async function serveInetd(
  config: ServerConfig,
  logger: Logger,
  serverName: string,
): Promise<ExitCode> {
  let isSocket = false;
  try {
    isSocket = fstatSync(0).isSocket();
  } catch {
    // No fd 0 at all.
  }
  if (!isSocket) throw new ServeError('--inetd needs a connected socket on stdin', ExitCode.USAGE);
  const raw = new Socket({ fd: 0, readable: true, writable: true });
  // inetd starts a process per connection, unknown to each other: the rates apply to each.
  configureRates(config);
  configureSendfile({ enabled: config.sendfile, loadAtBytes: ONESHOT_LOAD_AT });
  const client = config.proxyProtocol ? await headerClient(raw, config, logger) : undefined;
  if (client === null) return ExitCode.OK;
  // --allow/--deny on the client's address (the PROXY header's, when there is one).
  const gate = AddressGate.of(config.allow, config.deny, logger);
  if (gate?.refuses(raw, refuseSocket, client?.ip ?? raw.remoteAddress) === true) {
    await new Promise((resolve) => raw.once('close', resolve));
    return ExitCode.OK;
  }
  const credentials = loadCredentials(config, logger);
  const files = new FileService({
    root: config.root,
    dotfiles: config.dotfiles,
    digestStoreDir: config.digestCacheDir,
  });
  let connection: Connection | undefined;
  const serve = (socket: Socket): Promise<void> => {
    connection = new Connection(socket, {
      ...(client === undefined ? {} : { client }),
      files,
      logger,
      idleTimeoutMs: config.idleTimeoutMs,
      requestTimeoutMs: config.requestTimeoutMs,
      maxRequestSize: config.maxRequestSize,
      serverName,
      credentials,
    });
    return connection.closed;
  };
  const stop = (): void => {
    if (connection === undefined) {
      raw.destroy();
      return;
    }
    const c = connection;
    c.drain();
    setTimeout(() => c.destroy('shutdown'), config.graceMs).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.on('SIGHUP', () => {
    logger.reopen();
    reloadCredentials(credentials, logger);
  });
  if (config.tls === undefined) {
    await serve(raw);
  } else {
    const { TlsAcceptor } = await import('../net/tls.js');
    const tls = new TlsAcceptor(config.tls, logger);
    await new Promise<void>((resolve) =>
      tls.accept(raw, config.requestTimeoutMs, {
        secure: (secure) => void serve(secure).then(resolve),
        gone: resolve,
      }),
    );
  }
  return ExitCode.OK;
}
