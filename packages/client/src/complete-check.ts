/**
 * `--resume` when OUTPUT already exists and no partial does: is OUTPUT the complete, current
 * remote file? One STAT for the version's root digest and one read pass over the local file.
 */
import { EntryKind, rootDigest } from '@ft/protocol';
import { open } from 'node:fs/promises';
import { openConnection } from './udp/transport.js';
import { ClientError, ClientErrorCode } from './errors.js';
import type { DownloadOptions, DownloadResult } from './download-types.js';
import { hashLocalRange } from './verify.js';
import { RemoteError, WireError } from '@ft/protocol';

/**
 * The root digest of a local file in the server's chunk scheme (one read pass), or undefined
 * when its size is not `size` (then it cannot be the same version).
 */
export async function localRootDigest(
  path: string,
  chunkSize: number,
  size: number,
  signal?: AbortSignal,
): Promise<Buffer | undefined> {
  const handle = await open(path, 'r');
  try {
    if ((await handle.stat()).size !== size) return undefined;
    const digests: Buffer[] = [];
    const hasher = await hashLocalRange(
      handle,
      chunkSize,
      0,
      size,
      (_i, d) => digests.push(d),
      signal,
    );
    hasher.finish();
    await hasher.flushed();
    return rootDigest(digests);
  } finally {
    await handle.close();
  }
}

export async function verifyCompleteFile(
  o: DownloadOptions,
  server: string,
): Promise<Omit<DownloadResult, 'durationMs'>> {
  const connection = await openConnection(o.transport, o.remote, {
    signal: o.signal,
    timeoutMs: o.stallTimeoutMs ?? 30_000,
  });
  let st;
  try {
    st = await connection.stat(o.remote.path, true);
  } finally {
    connection.close();
  }
  if (st.kind !== EntryKind.FILE) {
    throw new RemoteError(
      WireError.IS_DIRECTORY,
      `${o.remote.path} on ${server} is not a file`,
      0,
      0,
    );
  }
  if (st.chunkSize === 0) {
    throw new ClientError(ClientErrorCode.BAD_RESPONSE, 'protocol error: STAT without a digest');
  }
  const local = await localRootDigest(o.output, st.chunkSize, st.size, o.signal);
  if (local === undefined || !local.equals(st.root)) {
    throw new ClientError(
      ClientErrorCode.LOCAL_CONFLICT,
      `${o.output} already exists and differs from ${o.remote.path} on ${server}`,
      { hint: 'use --force to replace it' },
    );
  }
  o.onProgress?.({ path: o.output, bytes: st.size, total: st.size, resumedFrom: st.size });
  return {
    path: o.output,
    bytes: st.size,
    resumedFrom: st.size,
    digest: st.root.toString('hex'),
    validator: st.validator.toString('hex'),
    attempts: 1,
    alreadyComplete: true,
  };
}
