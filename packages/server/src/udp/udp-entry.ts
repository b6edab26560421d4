/**
 * Entry point of the UDP service process. The primary forks it (see supervisor.ts) so that the
 * primary never serves data; it binds the UDP socket, reports where over IPC, serves until told
 * to stop (or until the primary goes away), then ends its transfers and exits.
 */
import { FileService } from '../file-service.js';
import { Logger } from '../logger.js';
import { UDP_CONFIG_ENV, isToUdpChild } from './ipc.js';
import type { FromUdpChild, UdpChildConfig } from './ipc.js';
import { UdpFileServer } from './service.js';

const config = JSON.parse(process.env[UDP_CONFIG_ENV] ?? 'null') as UdpChildConfig | null;
if (config === null || process.send === undefined) {
  process.stderr.write('ftserve: udp-entry is started by ftserve, not by hand\n');
  process.exit(2);
}
const { server } = config;
const logger = new Logger({ format: server.logFormat, file: server.logFile });

function report(message: FromUdpChild): void {
  if (process.connected) process.send!(message, undefined, {}, () => {});
}

let service: UdpFileServer;
try {
  service = await UdpFileServer.listen({
    host: server.host,
    port: config.port,
    files: new FileService({ root: server.root, dotfiles: server.dotfiles }),
    logger,
    ...(config.livenessMs === undefined ? {} : { livenessMs: config.livenessMs }),
  });
} catch (error) {
  report({ t: 'udp-failed', code: (error as NodeJS.ErrnoException).code ?? String(error) });
  logger.close();
  process.exit(3);
}
const bound = service.address();
report({ t: 'udp-listening', host: bound.address, port: bound.port });

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await service.close();
  logger.info('udp-stopped', { ...service.stats });
  logger.close();
  process.exit(0);
}
process.on('message', (message: unknown) => {
  if (!isToUdpChild(message)) return;
  if (message.t === 'shutdown') void stop();
  else logger.reopen();
});
process.on('disconnect', () => void stop());
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.on('SIGHUP', () => logger.reopen());
