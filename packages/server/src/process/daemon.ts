/**
 * --daemon: start ftserve again as a detached process (new session, cwd "/", stdio on /dev/null
 * or the log file), wait until it listens, print its listening line and exit 0. Start-up
 * failures of the daemon come back over IPC and end the parent with the same line and code.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ServerConfig } from '../config.js';
import { ExitCode, ServeError } from '../exit-codes.js';
import { checkPidFile } from './pid-file.js';
import type { UdpFlags } from '../udp/supervisor.js';

export const DAEMON_CONFIG_ENV = 'FTSERVE_DAEMON_CONFIG';

/** Daemon → parent, once. */
export type DaemonReport =
  { t: 'listening'; line: string } | { t: 'fatal'; message: string; exitCode: ExitCode };

const DAEMON_ENTRY = fileURLToPath(new URL('./daemon-entry.js', import.meta.url));
const START_TIMEOUT_MS = 60_000;

export interface DaemonPayload {
  config: ServerConfig;
  serverName: string;
  /** The UDP transport's flags; the daemon starts UDP from them as the foreground command would. */
  udpFlags: UdpFlags;
}

/** Parent side: returns the exit code for the parent; the daemon keeps running. */
export async function daemonize(
  config: ServerConfig,
  serverName: string,
  udpFlags: UdpFlags,
): Promise<ExitCode> {
  if (config.pidFile !== undefined) checkPidFile(config.pidFile);
  let logFd: number | undefined;
  if (config.logFile !== undefined) {
    try {
      logFd = openSync(config.logFile, 'a', 0o640);
    } catch (error) {
      throw new ServeError(
        `cannot open log file ${config.logFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        ExitCode.USAGE,
      );
    }
  }
  const payload: DaemonPayload = { config, serverName, udpFlags };
  const child = spawn(process.execPath, [DAEMON_ENTRY], {
    detached: true,
    cwd: '/',
    stdio: ['ignore', 'ignore', logFd ?? 'ignore', 'ipc'],
    env: { ...process.env, [DAEMON_CONFIG_ENV]: JSON.stringify(payload) },
  });
  if (logFd !== undefined) closeSync(logFd);
  const report = await new Promise<DaemonReport>((resolve) => {
    const timer = setTimeout(
      () =>
        resolve({
          t: 'fatal',
          message: 'daemon did not start in time',
          exitCode: ExitCode.INTERNAL,
        }),
      START_TIMEOUT_MS,
    );
    child.on('message', (m: DaemonReport) => {
      clearTimeout(timer);
      resolve(m);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({
        t: 'fatal',
        message: `daemon exited during start-up (${signal ?? `code ${code}`})`,
        exitCode: ExitCode.INTERNAL,
      });
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({
        t: 'fatal',
        message: `cannot start daemon: ${error.message}`,
        exitCode: ExitCode.INTERNAL,
      });
    });
  });
  child.removeAllListeners();
  if (child.connected) child.disconnect();
  child.unref();
  if (report.t === 'fatal') throw new ServeError(report.message, report.exitCode);
  process.stdout.write(report.line + '\n');
  return ExitCode.OK;
}
