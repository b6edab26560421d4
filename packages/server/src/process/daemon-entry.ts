/** Entry point of the detached daemon process started by --daemon (see daemon.ts). */
import { DAEMON_CONFIG_ENV } from './daemon.js';
import type { DaemonPayload, DaemonReport } from './daemon.js';
import { ExitCode, ServeError } from '../exit-codes.js';
import { runServer } from './server.js';
import { udpStarter } from '../udp/supervisor.js';

function report(message: DaemonReport): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(message, undefined, {}, () => resolve());
  });
}

const payload = JSON.parse(process.env[DAEMON_CONFIG_ENV] ?? 'null') as DaemonPayload | null;
if (payload === null || process.send === undefined) {
  process.stderr.write('ftserve: daemon-entry is started by ftserve --daemon, not by hand\n');
  process.exit(ExitCode.USAGE);
}
delete process.env[DAEMON_CONFIG_ENV];
// Nobody reads our stdout once the parent is gone.
process.stdout.on('error', () => {});
let code: ExitCode;
try {
  const udp = udpStarter(payload.udpFlags);
  code = await runServer(payload.config, {
    serverName: payload.serverName,
    ...(udp === undefined ? {} : { udp }),
    announce: (line) => {
      void report({ t: 'listening', line }).then(() => {
        if (process.connected) process.disconnect();
      });
    },
  });
} catch (error) {
  const e =
    error instanceof ServeError
      ? error
      : new ServeError(`internal error: ${String(error)}`, ExitCode.INTERNAL);
  await report({ t: 'fatal', message: e.message, exitCode: e.exitCode });
  code = e.exitCode;
}
process.exit(code);
