/**
 * Where a REMOTE points: a server (host, port) and a path on it. REMOTE is either a path on
 * the server given by --host/--port (env FTGET_HOST/FTGET_PORT, defaults localhost:7070) or a
 * URL `ft://host:port/path` (`fts://` for ft over TLS), IPv6 hosts in brackets.
 */
import { ClientError, ClientErrorCode } from './errors.js';

export const DEFAULT_HOST = 'localhost';
export const DEFAULT_PORT = 7070;

/** A server address. */
export interface ServerAddress {
  host: string;
  port: number;
  /** An fts:// URL: ft over TLS (tls-options.ts; --tls turns it on for every server). */
  tls?: boolean;
}

/** A parsed REMOTE. */
export interface Remote extends ServerAddress {
  /** Path relative to the server's root, without a leading slash; '' is the root itself. */
  path: string;
  /** It came as a signed link (signed-link.ts), whose credential is kept in credentials.ts. */
  signed?: true;
}

function usage(message: string): ClientError {
  return new ClientError(ClientErrorCode.USAGE, message, {
    hint: 'REMOTE is a path on the server (e.g. docs/a.txt) or ft://host:port/path',
  });
}

/** Parses a port number given as text; throws a usage error unless it is 1–65535. */
export function parsePort(text: string, what = 'port'): number {
  if (!/^\d{1,5}$/.test(text.trim())) throw usage(`invalid ${what} "${text}"`);
  const port = Number(text.trim());
  if (port < 1 || port > 65535) throw usage(`invalid ${what} "${text}": must be 1-65535`);
  return port;
}

/** Strips brackets from an IPv6 literal and refuses empty or spaced host names. */
function parseHost(text: string): string {
  const host = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (host === '' || /[\s/]/.test(host)) throw usage(`invalid host "${text}"`);
  return host;
}

/**
 * The server to use when REMOTE names none: explicit flags win over the environment
 * (FTGET_HOST, FTGET_PORT), which wins over localhost:7070.
 */
export function resolveServer(
  flags: { host?: string | undefined; port?: number | undefined },
  env: Readonly<Record<string, string | undefined>> = {},
): ServerAddress {
  const envHost = env['FTGET_HOST'];
  const envPort = env['FTGET_PORT'];
  return {
    host: parseHost(
      flags.host ?? (envHost !== undefined && envHost !== '' ? envHost : DEFAULT_HOST),
    ),
    port:
      flags.port ??
      (envPort !== undefined && envPort !== '' ? parsePort(envPort, 'FTGET_PORT') : DEFAULT_PORT),
  };
}

/** Normalizes a remote path: no leading or doubled slashes, no "." segments; ".." is refused. */
export function normalizeRemotePath(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw usage(`remote path "${path}" must not contain ".."`);
    parts.push(part);
  }
  return parts.join('/');
}

const URL_PATTERN = /^fts?:\/\/(\[[^\]]*\]|[^/:[\]]*)(?::([^/]*))?(\/.*)?$/i;

/** Parses REMOTE against a default server. Throws a ClientError with code FT_USAGE. */
export function parseRemote(remote: string, server: ServerAddress): Remote {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(remote)) {
    const m = URL_PATTERN.exec(remote);
    if (m === null) {
      throw /^fts?:/i.test(remote)
        ? usage(`invalid ft URL "${remote}"`)
        : usage(`unsupported URL scheme in "${remote}": only ft:// and fts:// are supported`);
    }
    const host = m[1] === '' || m[1] === undefined ? server.host : parseHost(m[1]);
    const port = m[2] === undefined || m[2] === '' ? server.port : parsePort(m[2]);
    let path: string;
    try {
      path = decodeURIComponent(m[3] ?? '/');
    } catch {
      throw usage(`invalid percent-encoding in "${remote}"`);
    }
    const tls = /^fts:/i.test(remote);
    return { host, port, path: normalizeRemotePath(path), ...(tls ? { tls } : {}) };
  }
  return { host: server.host, port: server.port, path: normalizeRemotePath(remote) };
}

/**
 * Refuses a REMOTE URL that names another port (or host) than an explicit --port (--host):
 * silently preferring one would download from a server the user did not mean.
 */
export function checkServerConflict(
  remote: string,
  flags: { host?: string | undefined; port?: string | undefined },
): void {
  const m = URL_PATTERN.exec(remote);
  if (m === null) return;
  const urlPort = m[2] === undefined || m[2] === '' ? undefined : parsePort(m[2]);
  if (urlPort !== undefined && flags.port !== undefined && parsePort(flags.port) !== urlPort) {
    throw new ClientError(
      ClientErrorCode.USAGE,
      `${remote} names port ${urlPort} but --port says ${flags.port.trim()}`,
      { hint: 'drop --port, or the port from the URL' },
    );
  }
  const urlHost = m[1] === '' || m[1] === undefined ? undefined : parseHost(m[1]);
  if (urlHost !== undefined && flags.host !== undefined && parseHost(flags.host) !== urlHost) {
    throw new ClientError(
      ClientErrorCode.USAGE,
      `${remote} names host ${urlHost} but --host says ${flags.host}`,
      { hint: 'drop --host, or the host from the URL' },
    );
  }
}

/** "host:port" with IPv6 hosts in brackets, for messages. */
export function formatServer(address: ServerAddress): string {
  return address.host.includes(':')
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}
