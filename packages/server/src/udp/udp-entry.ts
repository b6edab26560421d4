/**
 * Entry point of the UDP service process. The primary forks it (see supervisor.ts) so that the
 * primary never serves data; it binds the UDP socket, reports where over IPC, serves until told
 * to stop (or until the primary goes away), then ends its transfers and exits.
 */
import { AddressGate } from '../access/address-list.js';
import { loadCredentials, reloadCredentials } from '../access/credential-reload.js';
import { FileService } from '../files/file-service.js';
import { Logger } from '../logger.js';
import { configureRates } from '../net/rates.js';
import { UDP_CONFIG_ENV, isToUdpChild } from './ipc.js';
import type { FromUdpChild, UdpChildConfig } from './ipc.js';
import { UdpFileServer } from './service.js';
import { UdpAccess } from './udp-auth.js';

const config = JSON.parse(process.env[UDP_CONFIG_ENV] ?? 'null') as UdpChildConfig | null;
if (config === null || process.send === undefined) {
  process.stderr.write('ftserve: udp-entry is started by ftserve, not by hand\n');
  process.exit(2);
}
const { server } = config;
// One process serves every UDP transfer: it has the whole overall rate.
configureRates(server);
const logger = new Logger({ format: server.logFormat, file: server.logFile });

function report(message: FromUdpChild): void {
  if (process.connected) process.send!(message, undefined, {}, () => {});
}

const files = new FileService({
  root: server.root,
  dotfiles: server.dotfiles,
  digestStoreDir: server.digestCacheDir,
});
const credentials = loadCredentials(server, logger);

let service: UdpFileServer;
try {
  service = await UdpFileServer.listen({
    host: server.host,
    port: config.port,
    files,
    logger,
    gate: AddressGate.of(server.allow, server.deny, logger),
    access: credentials === undefined ? undefined : new UdpAccess(credentials, files.jail, logger),
    sessions: server.tls !== undefined,
    ...(config.livenessMs === undefined ? {} : { livenessMs: config.livenessMs }),
    ...(config.maxTransfers === undefined ? {} : { maxTransfers: config.maxTransfers }),
    ...(config.maxPerAddress === undefined ? {} : { maxTransfersPerAddress: config.maxPerAddress }),
  });
} catch (error) {
  report({ t: 'udp-failed', code: (error as NodeJS.ErrnoException).code ?? String(error) });
  logger.close();
  process.exit(3);
}
const bound = service.address();
report({ t: 'udp-listening', host: bound.address, port: bound.port });

let stopping = false;
/** Drains (running transfers get the grace period, as over TCP), then exits. */
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await service.drain(server.graceMs);
  logger.info('udp-stopped', { ...service.stats });
  logger.close();
  process.exit(0);
}
/** A signal while draining (a second Ctrl-C, or the primary's second signal): end transfers now. */
function onSignal(): void {
  if (stopping) void service.close();
  else void stop();
}
/** SIGHUP (or the primary's 'reopen-log'): reopen the log file, reload the token file. */
function hangup(): void {
  logger.reopen();
  reloadCredentials(credentials, logger);
}
process.on('message', (message: unknown) => {
  if (!isToUdpChild(message)) return;
  if (message.t === 'shutdown') void stop();
  else if (message.t === 'session') service.addSession(message.grant);
  else hangup();
});
process.on('disconnect', () => void stop());
// The primary may have died while this process was still binding (SIGKILL before it announced
// itself): its 'disconnect' came before the listener above, so check once by hand.
if (!process.connected) void stop();
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);
process.on('SIGHUP', hangup);
