/** STAT and LIST requests: describe a path, or list a directory in frames of bounded size. */
import {
  LIST_OK_FIXED_PAYLOAD,
  Limits,
  encodeListResult,
  encodeStatResult,
  listEntrySize,
} from '@ft/protocol';
import type { ListEntry, ListRequest, StatRequest } from '@ft/protocol';
import { writeTo } from '../files/file-sender.js';
import type { Listing } from '../files/directory-listing.js';
import { chargeList, sharedListSlots } from './list-budget.js';
import { digestFields } from '../files/digest-fields.js';
import { refuse } from './request-context.js';
import type { RequestContext } from './request-context.js';

/** Answers STAT with STAT_OK (with the root digest if asked and a file) or ERROR. */
export async function serveStat(ctx: RequestContext, request: StatRequest): Promise<void> {
  ctx.pauseIdleTimer();
  let digest: string | undefined;
  const log = (result: string): void =>
    ctx.logger.info('request', {
      peer: ctx.peer,
      op: 'STAT',
      path: request.path,
      result,
      // "cached" or "computed" when a digest was asked for, as on the transfer line of a GET.
      digest,
    });
  try {
    const wantSha256 = request.wantSha256 === true;
    const info = await ctx.files.stat(request.path, {
      wantDigest: request.wantDigest || wantSha256,
      wantSha256,
    });
    digest = info.digestSource;
    await writeTo(
      ctx.socket,
      encodeStatResult({
        requestId: request.requestId,
        kind: info.kind,
        size: info.size,
        mtimeMs: info.mtimeMs,
        validator: info.validator,
        ...digestFields(info.digest),
        ...(wantSha256 && info.digest !== undefined ? { sha256: info.digest.sha256 } : {}),
      }),
    );
    log('OK');
  } catch (error) {
    await refuse(ctx, request.requestId, error, log);
  } finally {
    ctx.resumeIdleTimer();
  }
}

/**
 * Splits entries into LIST_OK frames of at most MAX_LIST_ENTRIES_PER_FRAME entries and at most
 * MAX_RESPONSE_FRAME payload bytes (LINKS entries with long targets can exceed it sooner).
 */
export function listFrames(entries: readonly ListEntry[], links: boolean): ListEntry[][] {
  const frames: ListEntry[][] = [[]];
  let bytes = LIST_OK_FIXED_PAYLOAD;
  for (const e of entries) {
    const size = listEntrySize(e, links);
    const frame = frames[frames.length - 1]!;
    if (
      frame.length > 0 &&
      (frame.length >= Limits.MAX_LIST_ENTRIES_PER_FRAME ||
        bytes + size > Limits.MAX_RESPONSE_FRAME)
    ) {
      frames.push([e]);
      bytes = LIST_OK_FIXED_PAYLOAD + size;
    } else {
      frame.push(e);
      bytes += size;
    }
  }
  return frames;
}

/**
 * Answers LIST with LIST_OK frames (LINKS entries if asked), or ERROR: BUSY over the
 * connection's LIST rate, TOO_LARGE for a path too deep (see list-budget.ts). The listing takes
 * one of the process's list slots while it is built and sent, and is described one frame's worth
 * of names at a time, each frame written once the client took the previous one: what it holds
 * meanwhile is its names and one frame.
 */
export async function serveList(ctx: RequestContext, request: ListRequest): Promise<void> {
  ctx.pauseIdleTimer();
  let count = 0;
  const log = (result: string, entries?: number): void =>
    ctx.logger.info('request', {
      peer: ctx.peer,
      op: 'LIST',
      path: request.path,
      entries,
      result,
    });
  const links = request.wantLinks === true;
  let listing: Listing;
  try {
    chargeList(ctx, request.path);
  } catch (error) {
    ctx.resumeIdleTimer();
    return await refuse(ctx, request.requestId, error, log);
  }
  await sharedListSlots.acquire(ctx.address);
  try {
    // A client that left while waiting for a slot needs no listing.
    if (ctx.socket.destroyed) return log('closed');
    try {
      listing = await ctx.files.lister.open(request.path);
    } catch (error) {
      ctx.resumeIdleTimer();
      return await refuse(ctx, request.requestId, error, log);
    }
    ctx.resumeIdleTimer();
    // A frame is written only once the next is known to exist (or not): MORE must be exact.
    let pending: ListEntry[] | undefined;
    const names = listing.names;
    for (let at = 0; at < names.length; at += Limits.MAX_LIST_ENTRIES_PER_FRAME) {
      const slice = names.slice(at, at + Limits.MAX_LIST_ENTRIES_PER_FRAME);
      const entries = await ctx.files.lister.describe(listing, slice, links);
      for (const frame of listFrames(entries, links)) {
        if (frame.length === 0) continue;
        if (pending !== undefined) await writeList(ctx, request.requestId, links, pending, true);
        pending = frame;
        count += frame.length;
      }
    }
    await writeList(ctx, request.requestId, links, pending ?? [], false);
    log('OK', count);
  } finally {
    sharedListSlots.release(ctx.address);
  }
}

async function writeList(
  ctx: RequestContext,
  requestId: number,
  links: boolean,
  entries: ListEntry[],
  more: boolean,
): Promise<void> {
  await writeTo(ctx.socket, encodeListResult({ requestId, more, links, entries }));
  ctx.noteProgress();
}
