/**
 * The primary's side of the UDP service: forks the service process, waits until it has bound
 * its socket, restarts it if it dies (within a restart budget), and stops it at shutdown. It
 * plugs into runServer as the `udp` starter.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ExitCode, ServeError } from '../exit-codes.js';
import type { Logger } from '../logger.js';
import { hostPort } from '../net/peer.js';
import type { ServerConfig } from '../config.js';
import type { UdpService } from '../process/server.js';
import { RestartBudget, childNodeFlags, exited } from '../process/spawn-child.js';
import { UDP_CONFIG_ENV, isFromUdpChild } from './ipc.js';
import { UdpDefaults } from './config.js';
import type { FromUdpChild, ToUdpChild, UdpChildConfig } from './ipc.js';

const ENTRY = fileURLToPath(new URL('./udp-entry.js', import.meta.url));
const START_TIMEOUT_MS = 30_000;
/** Environment override of the liveness limit, in ms (tests use short ones). */
export const LIVENESS_ENV = 'FT_UDP_LIVENESS_MS';

export interface UdpFlags {
  /** --no-udp turns the service off. */
  enabled: boolean;
  /** --udp-port; default: the TCP port actually bound. */
  port: number | undefined;
  /** --udp-max-transfers: concurrent UDP transfers; beyond it BUSY. */
  maxTransfers?: number | undefined;
  /** --udp-max-per-address: concurrent UDP transfers from one client address; beyond it BUSY. */
  maxPerAddress?: number | undefined;
}

/** Defaults and upper bounds of the UDP limit flags (the flag definitions use them). */
export const UdpLimitFlags = {
  maxTransfers: { default: UdpDefaults.maxTransfers, max: 65_536 },
  maxPerAddress: { default: UdpDefaults.maxTransfersPerAddress, max: 65_536 },
} as const;

/** Validates --udp-port, the UDP limits and FT_UDP_LIVENESS_MS; throws ServeError(USAGE). */
export function checkUdpFlags(flags: UdpFlags): void {
  const p = flags.port;
  if (p !== undefined && (!Number.isSafeInteger(p) || p < 0 || p > 65535))
    throw new ServeError(`--udp-port must be in 0..65535, got ${p}`, ExitCode.USAGE);
  checkLimit('udp-max-transfers', flags.maxTransfers, UdpLimitFlags.maxTransfers.max);
  checkLimit('udp-max-per-address', flags.maxPerAddress, UdpLimitFlags.maxPerAddress.max);
  livenessFromEnv();
}

function checkLimit(flag: string, v: number | undefined, max: number): void {
  if (v !== undefined && (!Number.isSafeInteger(v) || v < 1 || v > max))
    throw new ServeError(`--${flag} must be an integer in 1..${max}, got ${v}`, ExitCode.USAGE);
}

function livenessFromEnv(): number | undefined {
  const raw = process.env[LIVENESS_ENV];
  if (raw === undefined || raw === '') return undefined;
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < 100 || v > 600_000)
    throw new ServeError(
      `${LIVENESS_ENV} must be an integer in 100..600000, got ${raw}`,
      ExitCode.USAGE,
    );
  return v;
}

function startChild(config: UdpChildConfig): { child: ChildProcess; ready: Promise<FromUdpChild> } {
  const child = fork(ENTRY, [], {
    // FTSERVE_CHILD_NODE_FLAGS reaches the UDP service too (profiling it with --cpu-prof).
    execArgv: childNodeFlags(),
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, [UDP_CONFIG_ENV]: JSON.stringify(config) },
    serialization: 'json',
  });
  const ready = new Promise<FromUdpChild>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('UDP service did not start in time')),
      START_TIMEOUT_MS,
    );
    child.on('message', (m: unknown) => {
      if (!isFromUdpChild(m)) return;
      clearTimeout(timer);
      resolve(m);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`UDP service exited during start-up (${signal ?? code})`));
    });
  });
  return { child, ready };
}

/** The `udp` option of runServer for these flags (undefined when --no-udp). */
export function udpStarter(flags: UdpFlags) {
  if (!flags.enabled) return undefined;
  return async (context: {
    config: ServerConfig;
    logger: Logger;
    tcpPort: number;
  }): Promise<UdpService> => {
    const { config, logger } = context;
    const livenessMs = livenessFromEnv();
    const childConfig: UdpChildConfig = {
      server: config,
      port: flags.port ?? context.tcpPort,
      ...(livenessMs === undefined ? {} : { livenessMs }),
      ...(flags.maxTransfers === undefined ? {} : { maxTransfers: flags.maxTransfers }),
      ...(flags.maxPerAddress === undefined ? {} : { maxPerAddress: flags.maxPerAddress }),
    };
    let { child, ready } = startChild(childConfig);
    let report: FromUdpChild;
    try {
      report = await ready;
    } catch (error) {
      child.kill('SIGKILL');
      throw new ServeError(
        `cannot start the UDP service: ${(error as Error).message}`,
        ExitCode.INTERNAL,
      );
    }
    if (report.t === 'udp-failed') {
      await exited(child);
      throw new ServeError(
        `cannot listen on UDP ${hostPort(config.host ?? '::', childConfig.port)}: ${report.code === 'EADDRINUSE' ? 'address already in use' : report.code}`,
        ExitCode.CANNOT_LISTEN,
      );
    }
    // Restarts bind the port the first child got, so the announced address stays true.
    childConfig.port = report.port;
    const address = hostPort(report.host, report.port);
    const budget = new RestartBudget(5);
    let stopping = false;
    const supervise = (c: ChildProcess): void => {
      c.once('exit', (code, signal) => {
        if (stopping) return;
        logger.warn('udp-service-exited', {
          pid: c.pid,
          code: code ?? undefined,
          signal: signal ?? undefined,
        });
        if (budget.spend()) {
          logger.error('udp-service-gave-up', { reason: 'restarting too often' });
          return;
        }
        ({ child, ready } = startChild(childConfig));
        ready.then(
          () => logger.info('udp-service-started', { pid: child.pid }),
          (error: unknown) => logger.error('udp-service-failed', { error: String(error) }),
        );
        supervise(child);
      });
    };
    supervise(child);
    return {
      address,
      reopenLogs: () => {
        const message: ToUdpChild = { t: 'reopen-log' };
        if (child.connected) child.send(message, undefined, {}, () => {});
      },
      // A grant sent while the service restarts is lost: the client's requests then go
      // unanswered and it retries with a new session.
      addSession: (grant) => {
        const message: ToUdpChild = { t: 'session', grant };
        if (child.connected) child.send(message, undefined, {}, () => {});
      },
      close: async () => {
        stopping = true;
        if (child.connected) child.send({ t: 'shutdown' }, undefined, {}, () => {});
        const timer = setTimeout(() => child.kill('SIGKILL'), config.graceMs + 2000);
        // A second signal to the primary while draining: the service ends its transfers now.
        const hurry = (): void => {
          child.kill('SIGTERM');
        };
        process.on('SIGTERM', hurry);
        process.on('SIGINT', hurry);
        await exited(child);
        process.off('SIGTERM', hurry);
        process.off('SIGINT', hurry);
        clearTimeout(timer);
      },
    };
  };
}
