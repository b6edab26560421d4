/**
 * The primary process: open the listening socket, start the process model, announce where we
 * listen, then wait for a signal (or a broken pool) and shut down gracefully. The primary never
 * serves a connection: prefork workers accept from the socket it shares with them; with
 * --fork-per-connection it accepts, counts and hands each connection to a child.
 */
import { AddressGate } from '../access/address-list.js';
import type { ServerConfig } from '../config.js';
import { ProcessModel } from '../config.js';
import { tmpdir } from 'node:os';
import { acceptConnections } from './acceptor.js';
import { openStoreDir } from '../files/digest-store.js';
import { ExitCode, ServeError } from '../exit-codes.js';
import { ForkPerConnectionPool } from './fork-per-connection.js';
import { serveInetd } from './inetd.js';
import { ConnectionLimiter } from '../net/limits.js';
import { bindShared, boundAddress, listenTcp } from '../net/listen.js';
import { Logger, stderrIsStdinSocket } from '../logger.js';
import { acquirePidFile } from './pid-file.js';
import { PreforkPool } from './prefork.js';
import type { ProcessPool } from './prefork.js';
import { SessionRelay } from './session-relay.js';
import type { UdpSessionGrant } from '../udp/session-grant.js';

/** A running UDP service, as the UDP transport reports it. */
export interface UdpService {
  /** "host:port" as it appears after `udp=` in the listening line. */
  address: string;
  /** Asks the service process to reopen its log file (SIGHUP). */
  reopenLogs(): void;
  /** Hands an encrypted session granted over TLS to the service process. */
  addSession(grant: UdpSessionGrant): void;
  close(): Promise<void>;
}

/**
 * Hook for the UDP transport: started by the primary after the TCP pool is up and closed at
 * shutdown. It may serve in its own process (the primary itself should not serve data).
 */
export type UdpStarter = (context: {
  config: ServerConfig;
  logger: Logger;
  /** The TCP port actually bound (the UDP port defaults to it). */
  tcpPort: number;
}) => Promise<UdpService | undefined>;

export interface RunOptions {
  /** Our name in WELCOME, e.g. "ftserve/0.1.0". */
  serverName: string;
  /** Receives the first line once listening; default: print it on stdout. */
  announce?: (line: string) => void;
  udp?: UdpStarter;
  /** Told the signal that started a graceful shutdown (the foreground CLI re-raises it). */
  onStopSignal?: (signal: NodeJS.Signals) => void;
}

/** The documented first line: `ftserve listening tcp=<host:port> udp=<host:port>|off pid=<pid> root=<root>`. */
export function listeningLine(tcp: string, udp: string | undefined, root: string): string {
  return `ftserve listening tcp=${tcp} udp=${udp ?? 'off'} pid=${process.pid} root=${root}`;
}

/** Runs ftserve until it is told to stop; resolves with the exit code. Throws ServeError on start-up failures. */
export async function runServer(config: ServerConfig, options: RunOptions): Promise<ExitCode> {
  const silent =
    config.model === ProcessModel.INETD && config.logFile === undefined && stderrIsStdinSocket();
  let logger: Logger;
  try {
    logger = new Logger({ format: config.logFormat, file: config.logFile, silent });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ServeError(`cannot open log file ${config.logFile}: ${code}`, ExitCode.USAGE);
  }
  try {
    // One inetd connection shares nothing with other processes unless --digest-cache says where.
    if (config.model === ProcessModel.INETD && config.digestCacheDir === undefined)
      return await serveInetd(config, logger, options.serverName);
    const store = openDigestStore(config.digestCacheDir);
    try {
      if (config.model === ProcessModel.INETD)
        return await serveInetd(
          { ...config, digestCacheDir: store.dir },
          logger,
          options.serverName,
        );
      const removePidFile =
        config.pidFile === undefined ? undefined : acquirePidFile(config.pidFile);
      try {
        return await runPrimary({ ...config, digestCacheDir: store.dir }, options, logger);
      } finally {
        removePidFile?.();
      }
    } finally {
      store.remove();
    }
  } finally {
    logger.close();
  }
}

/** The digest store of this run (see digest-store.ts); a ServeError(USAGE) if it cannot be made. */
function openDigestStore(dir: string | undefined): { dir: string; remove: () => void } {
  try {
    return openStoreDir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ServeError(
      `cannot create the digest cache directory ${dir ?? 'under ' + tmpdir()}: ${code}`,
      ExitCode.USAGE,
    );
  }
}

async function runPrimary(
  config: ServerConfig,
  options: RunOptions,
  logger: Logger,
): Promise<ExitCode> {
  let tcp: { port: number; text: string };
  let closeListener: () => void;
  let pool: ProcessPool;
  let prefork: PreforkPool | undefined;
  let startAccepting = (): void => {};
  // With TLS and a UDP service, TCP children grant encrypted UDP sessions (UDP_SESSION).
  const sessions = new SessionRelay(options.udp !== undefined && config.tls !== undefined);
  if (config.model === ProcessModel.PREFORK) {
    const socket = await bindShared(config.host, config.port);
    tcp = socket;
    closeListener = () => socket.close();
    pool = prefork = new PreforkPool(config, options.serverName, logger, socket, sessions);
  } else {
    const server = await listenTcp(config.host, config.port);
    tcp = boundAddress(server);
    closeListener = () => server.close();
    const forking = new ForkPerConnectionPool(config, options.serverName, logger, sessions);
    startAccepting = () =>
      acceptConnections(
        server,
        new ConnectionLimiter(config.maxConnections, config.maxConnectionsPerIp),
        forking,
        logger,
        AddressGate.of(config.allow, config.deny, logger),
      );
    pool = forking;
  }
  try {
    await pool.start();
  } catch (error) {
    closeListener();
    await pool.shutdown();
    throw new ServeError(
      `cannot start ${config.model} children: ${(error as Error).message}`,
      ExitCode.INTERNAL,
    );
  }
  startAccepting();
  const udp =
    options.udp === undefined
      ? undefined
      : await options.udp({ config, logger, tcpPort: tcp.port });
  if (udp !== undefined) sessions.connect((grant) => udp.addSession(grant));
  // Signal handlers go in before the first line is out: whoever reads it may signal at once.
  // One listener for the whole run: with a once() listener swapped for another after the first
  // signal, a second signal in between would find none and kill us with the default action.
  let stopping = false;
  const stopped = new Promise<{ reason: string; code: ExitCode }>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (!stopping) {
        stopping = true;
        options.onStopSignal?.(signal);
        resolve({ reason: signal, code: ExitCode.OK });
        return;
      }
      // A second signal while draining: stop waiting for the grace period.
      for (const pid of pool.pids()) process.kill(pid, 'SIGKILL');
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    process.on('SIGHUP', () => {
      logger.reopen();
      pool.reopenLogs();
      udp?.reopenLogs();
    });
    void pool.failed.then((reason) => {
      stopping = true;
      resolve({ reason, code: ExitCode.INTERNAL });
    });
  });
  const line = listeningLine(tcp.text, udp?.address, config.root);
  (options.announce ?? ((l: string) => process.stdout.write(l + '\n')))(line);
  logger.info('listening', {
    tcp: tcp.text,
    udp: udp?.address ?? 'off',
    root: config.root,
    model: config.model,
    tls: config.tls === undefined ? undefined : config.tls.minVersion,
    workers: config.model === ProcessModel.PREFORK ? config.workers : undefined,
    // Prefork: whether one idle worker (exclusive) or every worker (all) wakes per connection.
    accept: prefork?.acceptWakeup(),
    maxChildren: config.model === ProcessModel.FORK_PER_CONNECTION ? config.maxChildren : undefined,
  });

  const outcome = await stopped;
  if (outcome.code === ExitCode.OK)
    logger.info('shutting-down', { reason: outcome.reason, graceMs: config.graceMs });
  else {
    logger.error('giving-up', { reason: outcome.reason });
    process.stderr.write(`ftserve: ${outcome.reason}; giving up\n`);
  }
  closeListener();
  await Promise.all([pool.shutdown(), udp?.close()]);
  logger.info('stopped', { reason: outcome.reason });
  // The foreground CLI may die by the stop signal right after this returns: write the log now.
  logger.flush();
  return outcome.code;
}
