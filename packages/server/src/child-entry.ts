/**
 * Entry point of prefork workers and per-connection children (not the CLI: no oclif, so a fork
 * starts fast). It receives accepted sockets over IPC from the accepting process, serves them,
 * and drains gracefully on 'shutdown', SIGTERM/SIGINT, or when the accepting process goes away.
 */
import { Socket } from 'node:net';
import { Connection } from './connection.js';
import { FileService } from './file-service.js';
import { CHILD_CONFIG_ENV, isToChild } from './ipc.js';
import type { ChildConfig, FromChild } from './ipc.js';
import { Logger } from './logger.js';

const config = JSON.parse(process.env[CHILD_CONFIG_ENV] ?? 'null') as ChildConfig | null;
if (config === null || process.send === undefined) {
  process.stderr.write('ftserve: child-entry is started by ftserve, not by hand\n');
  process.exit(2);
}
const { server, role } = config;
const logger = new Logger({ format: server.logFormat, file: server.logFile });
const files = new FileService({ root: server.root, dotfiles: server.dotfiles });
const connections = new Set<Connection>();
let served = 0;
let draining = false;

function send(message: FromChild): void {
  if (process.connected) process.send!(message, undefined, {}, () => {});
}

function maybeExit(): void {
  const done = role === 'oneshot' ? served > 0 || draining : draining;
  if (done && connections.size === 0) {
    logger.close();
    process.exit(0);
  }
}

function drain(): void {
  if (draining) return;
  draining = true;
  for (const c of connections) c.drain();
  // Transfers still running when the grace period ends are cut.
  setTimeout(() => {
    for (const c of connections) c.destroy('shutdown');
  }, server.graceMs).unref();
  maybeExit();
}

function serve(socket: Socket, id: number): void {
  served++;
  const connection = new Connection(socket, {
    files,
    logger,
    idleTimeoutMs: server.idleTimeoutMs,
    maxRequestSize: server.maxRequestSize,
    serverName: config!.serverName,
  });
  connections.add(connection);
  if (draining) connection.drain();
  void connection.closed.then(() => {
    connections.delete(connection);
    send({ t: 'closed', id });
    maybeExit();
  });
}

process.on('message', (message: unknown, handle: unknown) => {
  if (!isToChild(message)) return;
  if (message.t === 'conn') {
    if (!(handle instanceof Socket)) return;
    if (role === 'oneshot' && served > 0) {
      handle.destroy();
      return;
    }
    serve(handle, message.id);
  } else if (message.t === 'shutdown') {
    drain();
  } else {
    logger.reopen();
  }
});
// Without the accepting process nobody would count, limit or stop us: finish and go.
process.on('disconnect', drain);
process.on('SIGTERM', drain);
process.on('SIGINT', drain);
process.on('SIGHUP', () => logger.reopen());
send({ t: 'ready' });
