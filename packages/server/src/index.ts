/**
 * @ft/server: the ftserve file server. The CLI lives in commands/serve.ts; these exports are
 * for other transports (the file service) and for embedding or testing the server.
 */
export { Defaults, LogFormat, ProcessModel, resolveConfig, resolveRoot } from './config.js';
export type { ServeFlags, ServerConfig } from './config.js';
export { ExitCode, ServeError } from './exit-codes.js';
export { FILE_CHANGED, FileService } from './files/file-service.js';
export type {
  FileDigests,
  FileServiceOptions,
  OpenedFile,
  StatInfo,
} from './files/file-service.js';
export { JailError, PathJail, parseRequestPath } from './files/path-jail.js';
export { BufferPool } from './files/file-sender.js';
export { StallWatch } from './tcp/stall-watch.js';
export { ListSlots } from './tcp/list-budget.js';
export type { Stallable } from './tcp/stall-watch.js';
export { Logger, formatLine } from './logger.js';
export type { LogFields, LoggerOptions } from './logger.js';
export { Connection } from './tcp/connection.js';
export type { ConnectionOptions } from './tcp/connection.js';
export { ConnectionLimiter } from './net/limits.js';
export { listeningLine, runServer } from './process/server.js';
export type { RunOptions, UdpService, UdpStarter } from './process/server.js';
