/**
 * @ft/client: resumable, verified downloads from an ft server. The `ftget` CLI is a thin layer
 * over these functions; other programs can embed them the same way.
 *
 * @example
 * ```ts
 * import { download, parseRemote, resolveServer } from '@ft/client';
 * const controller = new AbortController();
 * const result = await download({
 *   remote: parseRemote('ft://127.0.0.1:7070/big.iso', resolveServer({})),
 *   output: 'big.iso',
 *   resume: true,
 *   signal: controller.signal,
 *   onProgress: (p) => console.error(`${p.bytes}/${p.total}`),
 * });
 * ```
 */
export { download } from './download.js';
export type { DownloadOptions, DownloadProgress, DownloadResult } from './download-types.js';
export { DownloadSession } from './session.js';
export { stat } from './stat.js';
export type { RemoteKind, RemoteStat, StatOptions } from './stat.js';
export { list } from './list.js';
export type { ListOptions, RemoteEntry } from './list.js';
export {
  DEFAULT_HOST,
  DEFAULT_PORT,
  formatServer,
  normalizeRemotePath,
  parsePort,
  parseRemote,
  resolveServer,
} from './remote.js';
export type { Remote, ServerAddress } from './remote.js';
export { ClientError, ClientErrorCode, describeError, exitCodeFor, isRetryable } from './errors.js';
// The hashing stages, for tests of their ordering and fallbacks (not a stable API).
export { ChunkDigester } from './hashing/chunk-digester.js';
export { RING_THREAD_MIN_BYTES, RingHasher } from './hashing/ring-hasher.js';
export { EXIT_CODE_MEANINGS, ExitCode } from './exit-codes.js';
export { parseState as parsePartialState, partPathFor, statePathFor } from './partial-state.js';
export type { PartialIdentity, PartialState } from './partial-state.js';
