/**
 * LIST and LIST_OK, split from codec.ts: the version-1 layouts and the version-2 additions
 * (LIST's optional flags byte, LIST_OK's LINKS entries). Encoders return one Buffer holding
 * header and payload; decoders take a complete payload (codec.ts's decodePayload calls them).
 */
import {
  EntryKind,
  FrameType,
  LIST_FLAGS_MASK,
  LIST_REQUEST_FLAGS_MASK,
  Limits,
  LinkKind,
  ListFlags,
  ListRequestFlags,
  MAX_U64,
} from './constants.js';
import { FrameWriter, PayloadReader, utf8Length } from './bytes.js';
import {
  bad,
  checkEntryKind,
  checkFlags,
  checkInt,
  checkRequestId,
  measure,
  readRequestId,
} from './checks.js';
import { ProtocolError } from './errors.js';
import type { ListEntry, ListRequest, ListResult } from './messages.js';

// LIST: requestId u32 path str16, then (version 2, only when a flag is set) flags u8
export function encodeList(m: Omit<ListRequest, 'type'>): Buffer {
  checkRequestId(m.requestId);
  const n = measure(m.path, Limits.MAX_PATH_BYTES, 'path');
  // Without flags the version-1 layout: what a v1 server expects, and equivalent for a v2 one.
  const flags = m.wantLinks === true ? ListRequestFlags.WANT_LINKS : 0;
  const w = new FrameWriter(FrameType.LIST, 4 + 2 + n + (flags === 0 ? 0 : 1))
    .u32(m.requestId)
    .string(m.path, n);
  if (flags !== 0) w.u8(flags);
  return w.done();
}
export function decodeList(r: PayloadReader): ListRequest {
  const requestId = readRequestId(r, 'LIST');
  const path = r.string('path', Limits.MAX_PATH_BYTES, 'FT_ERR_PATH_TOO_LONG');
  // The two layouts differ only in the trailing flags byte: the payload length tells them apart.
  if (r.remaining === 0) return { type: FrameType.LIST, requestId, path };
  const flags = r.u8();
  checkFlags(flags, LIST_REQUEST_FLAGS_MASK, 'LIST');
  return {
    type: FrameType.LIST,
    requestId,
    path,
    wantLinks: (flags & ListRequestFlags.WANT_LINKS) !== 0,
  };
}

/** Fixed part of a LIST_OK payload: requestId, flags, count. */
export const LIST_OK_FIXED_PAYLOAD = 4 + 1 + 2;

function checkLink(link: number, what: string): void {
  if (link !== LinkKind.NONE && link !== LinkKind.INSIDE && link !== LinkKind.UNSERVABLE) {
    throw new ProtocolError('FT_ERR_BAD_VALUE', `${what}: unknown link kind ${link}`);
  }
}

/**
 * Bytes one entry takes in a LIST_OK payload, in the v1 layout or the LINKS layout; a server
 * uses it to keep every frame within MAX_RESPONSE_FRAME.
 */
export function listEntrySize(e: ListEntry, links: boolean): number {
  const name = measure(e.name, Limits.MAX_NAME_BYTES, 'entry name');
  if (!links) return 1 + 8 + 8 + 2 + name;
  return 1 + 8 + 8 + 1 + 2 + name + 2 + measure(e.target ?? '', Limits.MAX_PATH_BYTES, 'target');
}

// LIST_OK: requestId u32 flags u8 count u16 then count × entry, where an entry is
//   kind u8 size u64 mtimeMs u64 name str16                          (v1 layout), or
//   kind u8 size u64 mtimeMs u64 link u8 name str16 target str16     (flag LINKS)
export function encodeListResult(m: Omit<ListResult, 'type'>): Buffer {
  checkInt(m.requestId, 0, 0xffff_ffff, 'requestId');
  if (m.entries.length > Limits.MAX_LIST_ENTRIES_PER_FRAME) {
    bad(`more than ${Limits.MAX_LIST_ENTRIES_PER_FRAME} entries in one LIST_OK frame`);
  }
  const links = m.links === true;
  const size = m.entries.reduce((s, e) => s + listEntrySize(e, links), LIST_OK_FIXED_PAYLOAD);
  const w = new FrameWriter(FrameType.LIST_OK, size)
    .u32(m.requestId)
    .u8((m.more ? ListFlags.MORE : 0) | (links ? ListFlags.LINKS : 0))
    .u16(m.entries.length);
  for (const e of m.entries) {
    checkEntryKind(e.kind, 'LIST_OK');
    checkInt(e.size, 0, MAX_U64, 'entry size');
    checkInt(e.mtimeMs, 0, MAX_U64, 'entry mtimeMs');
    w.u8(e.kind).u64(e.size).u64(e.mtimeMs);
    if (links) {
      const link = e.link ?? LinkKind.NONE;
      checkLink(link, 'LIST_OK');
      if (link !== LinkKind.INSIDE && (e.target ?? '') !== '') bad('target without an INSIDE link');
      w.u8(link);
    }
    w.string(e.name, utf8Length(e.name));
    if (links) w.string(e.target ?? '', utf8Length(e.target ?? ''));
  }
  return w.done();
}
export function decodeListResult(r: PayloadReader): ListResult {
  const requestId = r.u32();
  const flags = r.u8();
  checkFlags(flags, LIST_FLAGS_MASK, 'LIST_OK');
  const links = (flags & ListFlags.LINKS) !== 0;
  const count = r.u16();
  if (count > Limits.MAX_LIST_ENTRIES_PER_FRAME) {
    throw new ProtocolError(
      'FT_ERR_TOO_MANY_ENTRIES',
      `LIST_OK: ${count} entries, limit ${Limits.MAX_LIST_ENTRIES_PER_FRAME}`,
    );
  }
  const entries: ListEntry[] = [];
  for (let i = 0; i < count; i++) {
    const kind = r.u8();
    checkEntryKind(kind, 'LIST_OK');
    const size = r.u64('entry size');
    const mtimeMs = r.u64('entry mtimeMs');
    if (!links) {
      const name = r.string('entry name', Limits.MAX_NAME_BYTES, 'FT_ERR_BAD_LENGTH');
      entries.push({ kind: kind as EntryKind, size, mtimeMs, name });
      continue;
    }
    const link = r.u8();
    checkLink(link, 'LIST_OK');
    const name = r.string('entry name', Limits.MAX_NAME_BYTES, 'FT_ERR_BAD_LENGTH');
    const target = r.string('target', Limits.MAX_PATH_BYTES, 'FT_ERR_PATH_TOO_LONG');
    if (link !== LinkKind.INSIDE && target !== '') {
      throw new ProtocolError('FT_ERR_BAD_VALUE', 'LIST_OK: target without an INSIDE link');
    }
    entries.push({ kind: kind as EntryKind, size, mtimeMs, name, link: link as LinkKind, target });
  }
  return {
    type: FrameType.LIST_OK,
    requestId,
    more: (flags & ListFlags.MORE) !== 0,
    ...(links ? { links: true } : {}),
    entries,
  };
}
