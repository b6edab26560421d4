/**
 * Which downloads take the multi-source path (--connections N > 1, --mirror, several URLs of
 * one file), its limits, and how a source is named in messages.
 */
import type { DownloadOptions } from '../../download-types.js';
import { formatServer } from '../../remote.js';
import type { Remote } from '../../remote.js';
import { usesTls } from '../../tls-options.js';

/** Most connections to one source (--connections). */
export const MAX_CONNECTIONS = 16;
/** Most sources of one file: the REMOTE and its mirrors. */
export const MAX_SOURCES = 16;
/** Most connections of one download, all sources together. */
export const MAX_TOTAL_CONNECTIONS = 64;

/** True when the download fetches from more than one connection (sources/multi-attempt.ts). */
export function usesSources(o: Pick<DownloadOptions, 'mirrors' | 'connections'>): boolean {
  return (o.mirrors?.length ?? 0) > 0 || (o.connections ?? 1) > 1;
}

/** "ft://host:port/path" (fts:// over TLS), for messages. */
export function sourceLabel(remote: Remote): string {
  const path = remote.path.split('/').map(encodeURIComponent).join('/');
  return `${usesTls(remote) ? 'fts' : 'ft'}://${formatServer(remote)}/${path}`;
}
