/** STAT and LIST requests: describe a path, or list a directory in frames of bounded size. */
import { DigestAlgorithm, Limits, encodeListResult, encodeStatResult } from '@ft/protocol';
import type { ListRequest, StatRequest } from '@ft/protocol';
import { writeTo } from '../files/file-sender.js';
import { ZERO_DIGEST, refuse } from './request-context.js';
import type { RequestContext } from './request-context.js';

/** Answers STAT with STAT_OK (with the root digest if asked and a file) or ERROR. */
export async function serveStat(ctx: RequestContext, request: StatRequest): Promise<void> {
  ctx.pauseIdleTimer();
  const log = (result: string): void =>
    ctx.logger.info('request', {
      peer: ctx.peer,
      op: 'STAT',
      path: request.path,
      result,
    });
  try {
    const info = await ctx.files.stat(request.path, { wantDigest: request.wantDigest });
    await writeTo(
      ctx.socket,
      encodeStatResult({
        requestId: request.requestId,
        kind: info.kind,
        size: info.size,
        mtimeMs: info.mtimeMs,
        validator: info.validator,
        algorithm: info.digest === undefined ? DigestAlgorithm.NONE : DigestAlgorithm.SHA256_CHUNKS,
        chunkSize: info.digest?.chunkSize ?? 0,
        root: info.digest?.root ?? ZERO_DIGEST,
      }),
    );
    log('OK');
  } catch (error) {
    await refuse(ctx, request.requestId, error, log);
  } finally {
    ctx.resumeIdleTimer();
  }
}

/** Answers LIST with LIST_OK frames of at most MAX_LIST_ENTRIES_PER_FRAME entries, or ERROR. */
export async function serveList(ctx: RequestContext, request: ListRequest): Promise<void> {
  ctx.pauseIdleTimer();
  const log = (result: string, entries?: number): void =>
    ctx.logger.info('request', {
      peer: ctx.peer,
      op: 'LIST',
      path: request.path,
      entries,
      result,
    });
  let entries;
  try {
    entries = await ctx.files.list(request.path);
  } catch (error) {
    ctx.resumeIdleTimer();
    return await refuse(ctx, request.requestId, error, log);
  }
  ctx.resumeIdleTimer();
  const per = Limits.MAX_LIST_ENTRIES_PER_FRAME;
  for (let i = 0; i === 0 || i < entries.length; i += per) {
    const more = i + per < entries.length;
    await writeTo(
      ctx.socket,
      encodeListResult({
        requestId: request.requestId,
        more,
        entries: entries.slice(i, i + per),
      }),
    );
  }
  log('OK', entries.length);
}
