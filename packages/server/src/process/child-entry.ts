/**
 * Entry point of prefork workers and per-connection children (not the CLI: no oclif, so a fork
 * starts fast). A worker listens on the socket the primary shares with it and accepts directly;
 * a one-shot child receives its one accepted socket over IPC. Both drain gracefully on
 * 'shutdown', SIGTERM/SIGINT, or when the primary goes away, and exit within the grace period.
 */
import type { Server } from 'node:net';
import { Socket } from 'node:net';
import { Connection } from '../tcp/connection.js';
import { FileService } from '../files/file-service.js';
import { CHILD_CONFIG_ENV, isToChild } from './ipc.js';
import { trustedProxyGate } from './identify-client.js';
import type { ProxyAccept } from './identify-client.js';
import type { AcceptWakeup, ChildConfig, FromChild, ToChild } from './ipc.js';
import { Logger } from '../logger.js';
import type { ClientAddress } from '../net/peer.js';
import { configureRates } from '../net/rates.js';
import { ONESHOT_LOAD_AT, configureSendfile } from '../files/sendfile-sender.js';
import { AddressGate } from '../access/address-list.js';
import { loadCredentials, reloadCredentials } from '../access/credential-reload.js';
import type { UdpSessionGrant } from '../udp/session-grant.js';
import type { TlsAcceptor } from '../net/tls.js';

/** After the grace period, connections are cut; if we are somehow still alive this much later, exit anyway. */
const EXIT_MARGIN_MS = 5000;

const config = JSON.parse(process.env[CHILD_CONFIG_ENV] ?? 'null') as ChildConfig | null;
if (config === null || process.send === undefined) {
  process.stderr.write('ftserve: child-entry is started by ftserve, not by hand\n');
  process.exit(2);
}
const { server, role } = config;
// Workers share the overall rate; per-connection children split it as --max-children allows.
configureRates(server, role === 'worker' ? server.workers : server.maxChildren);
// A worker keeps koffi for all its connections; a one-shot child loads it only when it pays.
configureSendfile({
  enabled: server.sendfile,
  loadAtBytes: role === 'worker' ? 0 : ONESHOT_LOAD_AT,
});
const logger = new Logger({ format: server.logFormat, file: server.logFile });
const files = new FileService({
  root: server.root,
  dotfiles: server.dotfiles,
  digestStoreDir: server.digestCacheDir,
});
const credentials = loadCredentials(server, logger);
/** UDP_SESSION grants go to the primary, which passes them to the UDP service process. */
const udpSessions =
  config.udpSessions === true
    ? (grant: UdpSessionGrant): void => send({ t: 'udp-session', grant })
    : undefined;
// Workers accept for themselves, so they check the address lists (one-shot children get sockets
// the primary already checked).
const gate = role === 'worker' ? AddressGate.of(server.allow, server.deny, logger) : undefined;
// The primary checked the certificate before starting us; SIGHUP (or 'reopen-log') reloads it.
// Loaded (with node:tls) only when configured: see the end of this file.
let tls: TlsAcceptor | undefined;
/** Live connections, each with the callback that frees its place in the accept limits. */
const connections = new Map<Connection, () => void>();
let listener: Server | undefined;
let served = 0;
let draining = false;

function send(message: FromChild): void {
  if (process.connected) process.send!(message, undefined, {}, () => {});
}

function exit(code = 0): void {
  logger.close();
  process.exit(code);
}

function maybeExit(): void {
  const done = role === 'oneshot' ? served > 0 || draining : draining;
  if (done && connections.size === 0) exit();
}

function drain(): void {
  if (draining) return;
  draining = true;
  // Stop accepting: the primary, or a replacement worker, may go on without us.
  listener?.close();
  for (const c of connections.keys()) c.drain();
  // Transfers still running when the grace period ends are cut.
  setTimeout(() => {
    for (const c of connections.keys()) c.destroy('shutdown');
  }, server.graceMs).unref();
  setTimeout(exit, server.graceMs + EXIT_MARGIN_MS).unref();
  maybeExit();
}

/** SIGHUP (or the primary's 'reopen-log'): reopen the log file, reload the token and key files. */
function hangup(): void {
  logger.reopen();
  reloadCredentials(credentials, logger);
  tls?.reload();
}

function serve(socket: Socket, done: () => void = () => {}, client?: ClientAddress): void {
  served++;
  if (tls === undefined) {
    serveConnection(socket, done, client);
    return;
  }
  // Until its first byte tells TLS from plaintext the socket is no Connection yet: it holds
  // its place in the limits (done() frees it), and the wait is bounded by the request deadline.
  tls.accept(socket, server.requestTimeoutMs, {
    secure: (secure) => serveConnection(secure, done, client),
    gone: () => {
      done();
      maybeExit();
    },
  });
}

function serveConnection(socket: Socket, done: () => void, client?: ClientAddress): void {
  // A plain literal: a spread here cost 2% of a worker's CPU per 4 KiB request.
  const connection = new Connection(socket, {
    client,
    files,
    logger,
    idleTimeoutMs: server.idleTimeoutMs,
    requestTimeoutMs: server.requestTimeoutMs,
    maxRequestSize: server.maxRequestSize,
    serverName: config!.serverName,
    credentials,
    udpSessions,
  });
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    done();
  };
  connections.set(connection, release);
  if (draining) connection.drain();
  void connection.closed.then(() => {
    connections.delete(connection);
    release();
    maybeExit();
  });
}

/**
 * Closes the connection that has been idle longest (see Connection.idleSince) to make room for
 * a new client, and frees its place at once; false if no connection is idle.
 */
function shedOldestIdle(): boolean {
  let oldest: Connection | undefined;
  let since = Infinity;
  for (const c of connections.keys()) {
    const s = c.idleSince();
    if (s !== undefined && s < since) {
      since = s;
      oldest = c;
    }
  }
  if (oldest === undefined) return false;
  oldest.shed();
  connections.get(oldest)?.();
  return true;
}

/**
 * With --proxy-protocol: the header's deadline, how many may be read at once (our share of
 * --max-connections), and the --trusted-proxy peers allowed to send one.
 */
function proxyAccept(share: { maxConnections: number }): ProxyAccept | undefined {
  if (!server.proxyProtocol) return undefined;
  return {
    timeoutMs: server.requestTimeoutMs,
    maxPending: share.maxConnections,
    trusted: trustedProxyGate(server.trustedProxies, logger),
  };
}

function listen(message: Extract<ToChild, { t: 'listen' }>, handle: unknown): void {
  if (listener !== undefined || draining || typeof handle !== 'object' || handle === null) return;
  // Loaded here, not at the top: one-shot children never listen, and each module costs start-up time.
  import('./worker-listener.js')
    .then(({ listenShared }) =>
      listenShared(handle, message, logger, serve, shedOldestIdle, proxyAccept(message), gate),
    )
    .then(
      async (s) => {
        listener = s;
        if (draining) {
          s.close();
          return;
        }
        // A lone worker has no one to wake instead: it keeps koffi (~2.5 MiB) out.
        const accept = server.exclusiveAccept && server.workers > 1 ? await wakeOnlyMe(s) : 'all';
        if (!draining) send({ t: 'listening', accept });
      },
      (error: NodeJS.ErrnoException) =>
        send({ t: 'listen-failed', code: error.code ?? String(error) }),
    );
}

/**
 * Registers the shared socket with EPOLLEXCLUSIVE in our event loop (sys/epoll-exclusive.ts),
 * so that a new connection wakes one idle worker, not all of them. Loaded only here: one-shot
 * children and --no-exclusive-accept need neither it nor koffi.
 */
async function wakeOnlyMe(s: Server): Promise<AcceptWakeup> {
  const fd = (s as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return 'all';
  const { wakeOneAcceptor } = await import('../sys/epoll-exclusive.js');
  try {
    // Once the server is closed its descriptor number may name another socket: stop there.
    const outcome = await wakeOneAcceptor(fd, () => s.listening && !draining);
    if (outcome === 'exclusive') return 'exclusive';
    if (outcome !== 'closed') logger.warn('exclusive-accept-unavailable', { reason: outcome });
  } catch (error) {
    // The socket is no longer polled here: exit, and the primary starts a worker that polls it.
    logger.error('listen-lost', { error: (error as Error).message });
    exit(1);
  }
  return 'all';
}

process.on('message', (message: unknown, handle: unknown) => {
  if (!isToChild(message)) return;
  if (message.t === 'listen') {
    if (role === 'worker') listen(message, handle);
  } else if (message.t === 'conn') {
    if (!(handle instanceof Socket)) return;
    if (role !== 'oneshot' || served > 0) {
      handle.destroy();
      return;
    }
    serve(handle);
  } else if (message.t === 'shutdown') {
    drain();
  } else {
    hangup();
  }
});
// Without the primary nobody would supervise or stop us: finish (within the grace period) and go.
process.on('disconnect', drain);
process.on('SIGTERM', drain);
process.on('SIGINT', drain);
process.on('SIGHUP', hangup);
if (server.tls === undefined) send({ t: 'ready' });
else {
  const settings = server.tls;
  void import('../net/tls.js').then(({ TlsAcceptor }) => {
    tls = new TlsAcceptor(settings, logger);
    send({ t: 'ready' });
  });
}
