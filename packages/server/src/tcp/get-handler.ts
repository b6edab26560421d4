/**
 * GET: open the file through the jail (with its digests if asked), check the validator and the
 * offset, send the FILE header and exactly the announced bytes, re-check the file and end with
 * END (OK or CHANGED). If the announced bytes cannot all be sent, the connection is cut: the
 * client must see a short body, never a wrong one.
 */
import {
  DigestAlgorithm,
  EndStatus,
  FtError,
  chunkSizeFor,
  chunksOverlapping,
  encodeEnd,
  encodeFile,
} from '@ft/protocol';
import type { GetRequest } from '@ft/protocol';
import { FILE_CHANGED } from '../files/file-service.js';
import type { DigestLookup, FileDigests, OpenedFile } from '../files/file-service.js';
import { digestFields } from '../files/digest-fields.js';
import { settleRange } from '../files/get-range.js';
import {
  SMALL_RANGE,
  TruncatedFileError,
  readSmallRange,
  sendRange,
  writeAll,
  writeTo,
} from '../files/file-sender.js';
import { sendStreamed } from '../files/streamed-sender.js';
import { zeroCopyFor } from '../files/sendfile-sender.js';
import type { ZeroCopy } from '../files/sendfile-sender.js';
import { ZERO_DIGEST } from '../files/digest-fields.js';
import { refuse } from './request-context.js';
import { throttleFor } from '../net/rates.js';
import type { RequestContext } from './request-context.js';

/**
 * Files up to this size are hashed before the header even when the client accepts streamed
 * digests: one chunk costs about a millisecond to hash, and the header then carries the root.
 */
export const STREAM_MIN_SIZE = 1024 * 1024 + 1;

/**
 * Opens the file and, when asked, its digests; retries if the file changes while hashing. With
 * STREAM_DIGESTS and no digests known without hashing, answers `streamed` instead of hashing.
 */
async function openWithDigests(
  ctx: RequestContext,
  request: GetRequest,
): Promise<{ opened: OpenedFile; lookup: DigestLookup | undefined; streamed?: boolean }> {
  for (let attempt = 1; ; attempt++) {
    const opened = await ctx.files.openForRead(request.path);
    if (!request.wantDigests) return { opened, lookup: undefined };
    try {
      if (request.streamDigests === true && opened.size >= STREAM_MIN_SIZE) {
        const known = await ctx.files.knownDigests(opened);
        if (known === undefined) return { opened, lookup: undefined, streamed: true };
      }
      const recheck = request.recheck === true ? request : undefined;
      return { opened, lookup: await ctx.files.lookupDigests(opened, recheck) };
    } catch (error) {
      await opened.close();
      if (!(error instanceof FtError && error.code === FILE_CHANGED) || attempt >= 3) throw error;
    }
  }
}

/** The digest fields of a FILE header for the range [offset, offset + length). */
/** The fields of a GET that asked for no digests (most of them): built once, read-only. */
const NO_DIGESTS = Object.freeze({
  ...digestFields(undefined),
  firstChunk: 0,
  chunkDigests: Object.freeze([]) as readonly Buffer[] as Buffer[],
});

function digestFieldsFor(digests: FileDigests | undefined, offset: number, length: number) {
  if (digests === undefined) return NO_DIGESTS;
  const { first, count } = chunksOverlapping(offset, length, digests.chunkSize);
  return {
    ...digestFields(digests),
    firstChunk: first,
    chunkDigests: digests.chunkDigests.slice(first, first + count),
  };
}

/** Serves one GET. */
export async function serveGet(ctx: RequestContext, request: GetRequest): Promise<void> {
  const started = performance.now();
  // "cached" or "computed" once digests were asked for: whether this request paid for hashing.
  let digestSource: string | undefined;
  // Set when the body goes with sendfile(2): the log line says so (sendfile=true).
  let zeroCopy: ZeroCopy | undefined;
  const log = (result: string, bytes: number, length?: number): void =>
    ctx.logger.info('transfer', {
      peer: ctx.peer,
      path: request.path,
      offset: request.offset,
      length,
      bytes,
      ms: Math.round(performance.now() - started),
      digest: digestSource,
      sendfile: zeroCopy === undefined ? undefined : true,
      result,
    });
  ctx.pauseIdleTimer();
  let opened: OpenedFile | undefined;
  try {
    let digests;
    let streamed: boolean | undefined;
    try {
      let lookup;
      ({ opened, lookup, streamed } = await openWithDigests(ctx, request));
      digests = lookup?.digests;
      digestSource = streamed === true ? 'streamed' : lookup?.source;
    } catch (error) {
      return await refuse(ctx, request.requestId, error, log);
    }
    let length: number;
    try {
      length = settleRange(opened, request);
    } catch (error) {
      return await refuse(ctx, request.requestId, error, log);
    }
    if (streamed === true) return await serveStreamed(ctx, request, opened, length, log);
    const header = encodeFile({
      ...fileFields(request, opened, length),
      ...digestFieldsFor(digests, request.offset, length),
    });
    ctx.resumeIdleTimer();
    if (length > 0 && length <= SMALL_RANGE)
      return await sendSmall(ctx, request, opened, header, length, log);
    let sent = 0;
    try {
      zeroCopy = await zeroCopyFor(ctx.socket, length);
      sent = await sendRange(
        ctx.socket,
        opened.handle.fd,
        header,
        request.offset,
        length,
        ctx.buffers,
        ctx.address,
        () => ctx.noteProgress(),
        throttleFor(ctx),
        zeroCopy,
      );
    } catch (error) {
      cutShort(ctx, error, sent, length, log);
      return;
    }
    ctx.countSent(sent);
    const changed = await ctx.files.hasChanged(opened);
    await sendEnd(ctx, request.requestId, sent, length, changed, log);
  } finally {
    ctx.resumeIdleTimer();
    await opened?.close();
  }
}

/** The FILE header's fields that say which bytes of which version follow (all but the digests). */
function fileFields(request: GetRequest, opened: OpenedFile, length: number) {
  return {
    requestId: request.requestId,
    size: opened.size,
    offset: request.offset,
    length,
    mtimeMs: opened.mtimeMs,
    validator: opened.validator,
  };
}

/**
 * A GET answered with its digests streamed after each chunk (PROTOCOL.md §4.13): the header
 * goes out at once, the body is hashed as it is read, and a pass over the whole file fills the
 * digest cache (unless the file changed meanwhile) so the next GET gets them in its header.
 */
async function serveStreamed(
  ctx: RequestContext,
  request: GetRequest,
  opened: OpenedFile,
  length: number,
  log: (result: string, bytes: number, length?: number) => void,
): Promise<void> {
  const chunkSize = chunkSizeFor(opened.size);
  const header = encodeFile({
    ...fileFields(request, opened, length),
    algorithm: DigestAlgorithm.SHA256_CHUNKS_STREAMED,
    chunkSize,
    root: ZERO_DIGEST,
    firstChunk: Math.floor(request.offset / chunkSize),
    chunkDigests: [],
  });
  ctx.resumeIdleTimer();
  let whole;
  try {
    whole = await sendStreamed(
      ctx.socket,
      header,
      {
        requestId: request.requestId,
        fd: opened.handle.fd,
        size: opened.size,
        chunkSize,
        offset: request.offset,
        length,
      },
      {
        pool: ctx.buffers,
        address: ctx.address,
        onTaken: () => ctx.noteProgress(),
        throttle: throttleFor(ctx),
      },
    );
  } catch (error) {
    cutShort(ctx, error, 0, length, log);
    return;
  }
  ctx.countSent(length);
  const changed = await ctx.files.hasChanged(opened);
  if (whole !== undefined && !changed) await ctx.files.rememberDigests(opened, whole);
  await sendEnd(ctx, request.requestId, length, length, changed, log);
}

/**
 * A body that could not be sent whole (the file ended early, or the socket failed): the
 * announced bytes cannot all arrive, so the client must see a short body, not a lie — the
 * connection is cut, and the transfer logged with why.
 */
function cutShort(
  ctx: RequestContext,
  error: unknown,
  sent: number,
  length: number,
  log: (result: string, bytes: number, length?: number) => void,
): void {
  const why =
    error instanceof TruncatedFileError
      ? 'truncated'
      : ctx.socket.destroyed
        ? ctx.result
        : 'send-failed';
  ctx.destroy(why === 'closed' ? 'send-failed' : why);
  log(why, sent, length);
}

/**
 * The END after a body the socket took whole, and the transfer's log line. The peer may be gone
 * by then (the body fitted in the kernel's buffers before a cut reached us): the END then fails,
 * the connection is cut, and the transfer is still logged, with what failed.
 */
async function sendEnd(
  ctx: RequestContext,
  requestId: number,
  sent: number,
  length: number,
  changed: boolean,
  log: (result: string, bytes: number, length?: number) => void,
): Promise<void> {
  const end = encodeEnd({
    requestId,
    bytesSent: sent,
    status: changed ? EndStatus.CHANGED : EndStatus.OK,
  });
  try {
    await writeTo(ctx.socket, end);
  } catch {
    ctx.destroy('send-failed');
    log(ctx.result === 'closed' ? 'send-failed' : ctx.result, sent, length);
    return;
  }
  log(changed ? 'CHANGED' : 'OK', sent, length);
}

/**
 * A small range is read whole before anything is sent, so the check for a change can come
 * right after the read (the bytes sent are exactly the bytes read), and header, body and END
 * leave together in one write.
 */
async function sendSmall(
  ctx: RequestContext,
  request: GetRequest,
  opened: OpenedFile,
  header: Buffer,
  length: number,
  log: (result: string, bytes: number, length?: number) => void,
): Promise<void> {
  let data: Buffer;
  try {
    data = readSmallRange(opened.handle.fd, request.offset, length);
  } catch (error) {
    // Nothing was sent yet; as for a large range, the client sees the connection cut and retries.
    const why = error instanceof TruncatedFileError ? 'truncated' : 'send-failed';
    ctx.destroy(why);
    log(why, 0, length);
    return;
  }
  const changed = await ctx.files.hasChanged(opened);
  const end = encodeEnd({
    requestId: request.requestId,
    bytesSent: length,
    status: changed ? EndStatus.CHANGED : EndStatus.OK,
  });
  try {
    await throttleFor(ctx)?.consume(length);
    await writeAll(ctx.socket, [header, data, end]);
  } catch {
    ctx.destroy('send-failed');
    log(ctx.result, 0, length);
    return;
  }
  ctx.countSent(length);
  log(changed ? 'CHANGED' : 'OK', length, length);
}
