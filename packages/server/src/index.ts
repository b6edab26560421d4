/**
 * @ft/server: the ftserve file server. The CLI lives in commands/serve.ts; these exports are
 * for other transports (the file service) and for embedding or testing the server.
 */
export { Defaults, LogFormat, ProcessModel, resolveConfig, resolveRoot } from './config.js';
export type { ServeFlags, ServerConfig } from './config.js';
export { ExitCode, ServeError } from './exit-codes.js';
export { FILE_CHANGED, FileService } from './file-service.js';
export type { FileDigests, FileServiceOptions, OpenedFile, StatInfo } from './file-service.js';
export { JailError, PathJail, parseRequestPath } from './path-jail.js';
export { Logger, formatLine } from './logger.js';
export type { LogFields, LoggerOptions } from './logger.js';
export { Connection } from './connection.js';
export type { ConnectionOptions } from './connection.js';
export { ConnectionLimiter } from './limits.js';
export { listeningLine, runServer } from './server.js';
export type { RunOptions, UdpService, UdpStarter } from './server.js';
