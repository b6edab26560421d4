/**
 * Command-line flags → a validated, absolute, serialisable server configuration. Everything a
 * worker or per-connection child needs travels as this object (JSON in an environment variable),
 * so it holds only plain data.
 */
import { constants as fsConstants, accessSync, realpathSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { FRAME_HEADER_SIZE, Limits, VALIDATOR_SIZE, parseRate } from '@ft/protocol';
import { isInside } from './files/digest-store.js';
import { parseCidrList } from './access/address-list.js';
import { SignKeyError, readSignKeyFile } from './access/sign-key.js';
import { TokenFileError, readTokenFile } from './access/token-store.js';
import { ExitCode, ServeError } from './exit-codes.js';

export const LogFormat = { TEXT: 'text', JSON: 'json' } as const;
export type LogFormat = (typeof LogFormat)[keyof typeof LogFormat];

export const ProcessModel = {
  PREFORK: 'prefork',
  FORK_PER_CONNECTION: 'fork-per-connection',
  INETD: 'inetd',
} as const;
export type ProcessModel = (typeof ProcessModel)[keyof typeof ProcessModel];

/** Defaults of every tunable; the README's flag table shows the same numbers. */
export const Defaults = {
  root: 'public',
  port: 7070,
  maxChildren: 64,
  maxConnections: 1024,
  maxConnectionsPerIp: 64,
  idleTimeoutSeconds: 60,
  requestTimeoutSeconds: 5,
  maxRequestSize: Limits.MAX_REQUEST_FRAME,
  graceSeconds: 30,
} as const;

/** The smallest request limit that still admits a GET with a path of the maximum length. */
export const MIN_REQUEST_SIZE = 4 + 1 + 8 + 8 + VALIDATOR_SIZE + 2 + Limits.MAX_PATH_BYTES;
export const MAX_REQUEST_SIZE = 1024 * 1024 - FRAME_HEADER_SIZE;

/** Flags as the command line gives them (all optional; missing means default). */
export interface ServeFlags {
  root?: string | undefined;
  host?: string | undefined;
  port?: number | undefined;
  workers?: number | undefined;
  'fork-per-connection'?: boolean | undefined;
  'max-children'?: number | undefined;
  'max-connections'?: number | undefined;
  'max-connections-per-ip'?: number | undefined;
  'idle-timeout'?: number | undefined;
  'request-timeout'?: number | undefined;
  'max-request-size'?: number | undefined;
  grace?: number | undefined;
  dotfiles?: boolean | undefined;
  'log-file'?: string | undefined;
  'log-format'?: string | undefined;
  inetd?: boolean | undefined;
  daemon?: boolean | undefined;
  'pid-file'?: string | undefined;
  'digest-cache'?: string | undefined;
  'max-rate'?: string | undefined;
  'max-rate-per-connection'?: string | undefined;
  tokens?: string | undefined;
  'sign-key'?: string | undefined;
  allow?: string[] | undefined;
  deny?: string[] | undefined;
  'tls-cert'?: string | undefined;
  'tls-key'?: string | undefined;
  'tls-min'?: string | undefined;
  'proxy-protocol'?: boolean | undefined;
  'trusted-proxy'?: string[] | undefined;
  'exclusive-accept'?: boolean | undefined;
  /** false from --no-sendfile. */
  sendfile?: boolean | undefined;
}

export interface ServerConfig {
  /** Real absolute path of the served directory (symlinks resolved). */
  root: string;
  /** Address to bind; undefined means all interfaces, dual stack ("::", falling back to "0.0.0.0"). */
  host: string | undefined;
  port: number;
  model: ProcessModel;
  workers: number;
  maxChildren: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  idleTimeoutMs: number;
  /** Deadline of the handshake and of each request frame, from its first byte to its last. */
  requestTimeoutMs: number;
  maxRequestSize: number;
  graceMs: number;
  dotfiles: boolean;
  logFile: string | undefined;
  logFormat: LogFormat;
  daemon: boolean;
  pidFile: string | undefined;
  /**
   * Directory of the chunk-digest store the server's processes share. From --digest-cache (kept
   * across runs); otherwise the primary fills in a private temporary one before starting children.
   */
  digestCacheDir: string | undefined;
  /** --max-rate: bytes per second the whole server sends, at most (TCP and UDP each). */
  maxRate: number | undefined;
  /** --max-rate-per-connection: bytes per second one connection (or UDP transfer) gets. */
  maxRatePerConnection: number | undefined;
  /** --tokens: every request needs a token from this file (absolute path; reloaded on SIGHUP). */
  tokensFile: string | undefined;
  /** --sign-key: signed links made with this key open their one path (absolute; reloaded on SIGHUP). */
  signKeyFile: string | undefined;
  /** --allow / --deny: CIDRs, checked at accept (see access/address-list.ts). */
  allow: string[];
  deny: string[];
  /** --tls-cert/--tls-key: the TCP port speaks ft over TLS only (net/tls.ts). */
  tls: TlsSettings | undefined;
  /** --proxy-protocol: every connection starts with a PROXY v1/v2 header naming the client. */
  proxyProtocol: boolean;
  /**
   * --trusted-proxy: with --proxy-protocol, the only peers that may connect (and so send a
   * header); empty: any peer may.
   */
  trustedProxies: string[];
  /**
   * Prefork: the shared listening socket is registered with EPOLLEXCLUSIVE in each worker, so
   * that one idle worker wakes per new connection (--exclusive-accept; by default every worker
   * wakes: the measured gain was within the runs' noise, see README).
   */
  exclusiveAccept: boolean;
  /**
   * Send file bodies over plain TCP with sendfile(2) (files/sendfile-sender.ts); false
   * (--no-sendfile): read them into pool buffers and write those, as over TLS.
   */
  sendfile: boolean;
}

function rateFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const rate = parseRate(value);
  if (rate === undefined)
    usage(`--${flag} must be a rate in bytes per second such as 500k, 10M or 1G, got "${value}"`);
  return rate;
}

function cidrFlag(values: string[] | undefined, flag: string): string[] {
  const { cidrs, bad } = parseCidrList(values ?? []);
  if (bad !== undefined)
    usage(
      `--${flag} takes IPv4 or IPv6 addresses or CIDRs such as 10.0.0.0/8 or fd00::/8, got "${bad}"`,
    );
  return cidrs;
}

/** The TLS part of the configuration (net/tls.ts uses it). */
export interface TlsSettings {
  /** PEM certificate, optionally followed by its chain. */
  certFile: string;
  /** PEM private key of the certificate. */
  keyFile: string;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  /**
   * Session-ticket keys (48 bytes, hex), made once per server run and shared by all its
   * processes so that a ticket issued by one worker resumes on any other.
   */
  ticketKeys: string;
}

/** TLS versions --tls-min accepts, as Node names them. */
const TLS_MIN_VERSIONS = { '1.2': 'TLSv1.2', '1.3': 'TLSv1.3' } as const;

/**
 * --tls-cert, --tls-key and --tls-min, checked. The files are loaded by net/tls.ts
 * (loadSecureContext, called by the serve command before it starts anything): node:tls is
 * loaded only by servers that use it, as per-connection processes start faster without it.
 */
function tlsFlags(flags: ServeFlags, cwd: string): TlsSettings | undefined {
  const cert = flags['tls-cert'];
  const key = flags['tls-key'];
  const min = flags['tls-min'];
  if (cert === undefined && key === undefined) {
    if (min !== undefined) usage('--tls-min needs --tls-cert and --tls-key');
    return undefined;
  }
  if (cert === undefined || key === undefined) usage('--tls-cert and --tls-key go together');
  const minVersion = TLS_MIN_VERSIONS[(min ?? '1.3') as keyof typeof TLS_MIN_VERSIONS];
  if (minVersion === undefined) usage(`--tls-min must be 1.2 or 1.3, got "${min}"`);
  const settings: TlsSettings = {
    certFile: resolve(cwd, cert),
    keyFile: resolve(cwd, key),
    minVersion,
    ticketKeys: randomBytes(48).toString('hex'),
  };
  return settings;
}

function usage(message: string): never {
  throw new ServeError(message, ExitCode.USAGE);
}

function positiveInt(
  value: number | undefined,
  fallback: number,
  flag: string,
  max: number,
): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1 || v > max)
    usage(`--${flag} must be an integer in 1..${max}, got ${v}`);
  return v;
}

/** Resolves and checks the root: it must exist, be a directory, and be readable and searchable. */
export function resolveRoot(root: string, cwd: string): string {
  const abs = resolve(cwd, root);
  let real: string;
  try {
    real = realpathSync(abs);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    usage(
      code === 'ENOENT'
        ? `root directory ${abs} does not exist`
        : `cannot resolve root directory ${abs}: ${code ?? String(error)}`,
    );
  }
  if (!statSync(real).isDirectory()) usage(`root ${abs} is not a directory`);
  try {
    accessSync(real, fsConstants.R_OK | fsConstants.X_OK);
  } catch {
    usage(`root directory ${abs} is not readable`);
  }
  return real;
}

/** Turns flags into a ServerConfig or throws a ServeError with exit code USAGE. */
export function resolveConfig(flags: ServeFlags, cwd = process.cwd()): ServerConfig {
  const inetd = flags.inetd === true;
  const forkPerConnection = flags['fork-per-connection'] === true;
  const daemon = flags.daemon === true;
  if (inetd && forkPerConnection) usage('--inetd and --fork-per-connection cannot be combined');
  if (inetd && daemon) usage('--inetd and --daemon cannot be combined');
  if (inetd && flags.workers !== undefined) usage('--inetd and --workers cannot be combined');
  if (forkPerConnection && flags.workers !== undefined)
    usage('--fork-per-connection and --workers cannot be combined');
  if (daemon && flags['pid-file'] === undefined) usage('--daemon needs --pid-file');
  // The primary counts per-IP limits before handing a connection over; it does not read headers.
  if (forkPerConnection && flags['proxy-protocol'] === true)
    usage('--proxy-protocol and --fork-per-connection cannot be combined');
  const trustedProxies = cidrFlag(flags['trusted-proxy'], 'trusted-proxy');
  if (trustedProxies.length > 0 && flags['proxy-protocol'] !== true)
    usage('--trusted-proxy needs --proxy-protocol');

  const port = flags.port ?? Defaults.port;
  if (!Number.isSafeInteger(port) || port < 0 || port > 65535)
    usage(`--port must be in 0..65535, got ${port}`);
  const host = flags.host === undefined || flags.host === '' ? undefined : flags.host;
  const logFormat = flags['log-format'] ?? LogFormat.TEXT;
  if (logFormat !== LogFormat.TEXT && logFormat !== LogFormat.JSON)
    usage(`--log-format must be text or json, got ${logFormat}`);
  const maxRequestSize = flags['max-request-size'] ?? Defaults.maxRequestSize;
  if (
    !Number.isSafeInteger(maxRequestSize) ||
    maxRequestSize < MIN_REQUEST_SIZE ||
    maxRequestSize > MAX_REQUEST_SIZE
  ) {
    usage(
      `--max-request-size must be in ${MIN_REQUEST_SIZE}..${MAX_REQUEST_SIZE}, got ${maxRequestSize}`,
    );
  }
  const grace = flags.grace ?? Defaults.graceSeconds;
  if (!Number.isSafeInteger(grace) || grace < 0 || grace > 86_400)
    usage(`--grace must be in 0..86400 seconds, got ${grace}`);

  const root = resolveRoot(flags.root ?? Defaults.root, cwd);
  const digestCacheDir =
    flags['digest-cache'] === undefined || flags['digest-cache'] === ''
      ? undefined
      : resolve(cwd, flags['digest-cache']);
  // The server never writes under the root, and the cache must not be served either.
  if (digestCacheDir !== undefined && isInside(digestCacheDir, root))
    usage(`--digest-cache ${digestCacheDir} must not be inside the root ${root}`);

  const tokensFile =
    flags.tokens === undefined || flags.tokens === '' ? undefined : resolve(cwd, flags.tokens);
  if (tokensFile !== undefined) {
    try {
      readTokenFile(tokensFile);
    } catch (error) {
      if (error instanceof TokenFileError) usage(error.message);
      throw error;
    }
  }

  const signKeyFile =
    flags['sign-key'] === undefined || flags['sign-key'] === ''
      ? undefined
      : resolve(cwd, flags['sign-key']);
  if (signKeyFile !== undefined) {
    try {
      readSignKeyFile(signKeyFile);
    } catch (error) {
      if (error instanceof SignKeyError) usage(error.message);
      throw error;
    }
  }

  return {
    root,
    host,
    port,
    model: inetd
      ? ProcessModel.INETD
      : forkPerConnection
        ? ProcessModel.FORK_PER_CONNECTION
        : ProcessModel.PREFORK,
    workers: positiveInt(flags.workers, availableParallelism(), 'workers', 256),
    maxChildren: positiveInt(flags['max-children'], Defaults.maxChildren, 'max-children', 4096),
    maxConnections: positiveInt(
      flags['max-connections'],
      Defaults.maxConnections,
      'max-connections',
      1_000_000,
    ),
    maxConnectionsPerIp: positiveInt(
      flags['max-connections-per-ip'],
      Defaults.maxConnectionsPerIp,
      'max-connections-per-ip',
      1_000_000,
    ),
    idleTimeoutMs:
      positiveInt(flags['idle-timeout'], Defaults.idleTimeoutSeconds, 'idle-timeout', 86_400) *
      1000,
    requestTimeoutMs:
      positiveInt(
        flags['request-timeout'],
        Defaults.requestTimeoutSeconds,
        'request-timeout',
        3600,
      ) * 1000,
    maxRequestSize,
    graceMs: grace * 1000,
    dotfiles: flags.dotfiles === true,
    logFile: flags['log-file'] === undefined ? undefined : resolve(cwd, flags['log-file']),
    logFormat,
    daemon,
    pidFile: flags['pid-file'] === undefined ? undefined : resolve(cwd, flags['pid-file']),
    digestCacheDir,
    maxRate: rateFlag(flags['max-rate'], 'max-rate'),
    maxRatePerConnection: rateFlag(flags['max-rate-per-connection'], 'max-rate-per-connection'),
    tokensFile,
    signKeyFile,
    allow: cidrFlag(flags.allow, 'allow'),
    deny: cidrFlag(flags.deny, 'deny'),
    tls: tlsFlags(flags, cwd),
    proxyProtocol: flags['proxy-protocol'] === true,
    trustedProxies,
    exclusiveAccept: flags['exclusive-accept'] === true,
    sendfile: flags.sendfile !== false,
  };
}
