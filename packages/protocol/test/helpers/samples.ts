/**
 * Shared test fixtures: one encoder dispatch for every message, hand-written samples of every
 * frame type, and a way to flatten decoder events so differently chunked runs can be compared.
 */
import {
  DigestAlgorithm,
  EndStatus,
  EntryKind,
  FrameDecoder,
  FrameType,
  LinkKind,
  WireError,
  encodeChunkDigest,
  encodeEnd,
  encodeError,
  encodeFile,
  encodeGet,
  encodeHello,
  encodeList,
  encodeListResult,
  encodeStat,
  encodeStatResult,
  encodeUdpSession,
  encodeUdpSessionOk,
  encodeWelcome,
} from '../../src/index.js';
import type { DecoderEvent, FileHeader, Message, Request, Response } from '../../src/index.js';

/** Encodes any message with the encoder for its type. */
export function encode(m: Message): Buffer {
  switch (m.type) {
    case FrameType.HELLO:
      return encodeHello(m);
    case FrameType.WELCOME:
      return encodeWelcome(m);
    case FrameType.GET:
      return encodeGet(m);
    case FrameType.STAT:
      return encodeStat(m);
    case FrameType.LIST:
      return encodeList(m);
    case FrameType.FILE:
      return encodeFile(m);
    case FrameType.END:
      return encodeEnd(m);
    case FrameType.CHUNK_DIGEST:
      return encodeChunkDigest(m);
    case FrameType.STAT_OK:
      return encodeStatResult(m);
    case FrameType.LIST_OK:
      return encodeListResult(m);
    case FrameType.UDP_SESSION:
      return encodeUdpSession(m);
    case FrameType.UDP_SESSION_OK:
      return encodeUdpSessionOk(m);
    case FrameType.ERROR:
      return encodeError(m);
  }
}

export const bytesOf = (fill: number, n: number): Buffer => Buffer.alloc(n, fill);
export const validatorA = bytesOf(0xa1, 16);
export const digest = (i: number): Buffer => bytesOf(i, 32);

export const hello: Request = {
  type: FrameType.HELLO,
  minVersion: 1,
  maxVersion: 1,
  name: 'ftget/1.0.0',
};
export const welcome: Response = {
  type: FrameType.WELCOME,
  version: 1,
  maxRequestFrame: 8192,
  name: 'ftserve/1.0.0',
};

/** One sample of every request type (decoded form: optional fields present as undefined). */
export const SAMPLE_REQUESTS: readonly Request[] = [
  hello,
  { type: FrameType.HELLO, minVersion: 1, maxVersion: 7, name: '' },
  {
    type: FrameType.GET,
    requestId: 1,
    path: 'dir/file.bin',
    offset: 0,
    length: undefined,
    validator: undefined,
    wantDigests: false,
  },
  {
    type: FrameType.GET,
    requestId: 0xffff_ffff,
    path: 'ünï/cödé/日本語.txt',
    // The largest range there is: it ends exactly at 2^53 - 1.
    offset: Number.MAX_SAFE_INTEGER - (2 ** 40 + 3),
    length: 2 ** 40 + 3,
    validator: validatorA,
    wantDigests: true,
  },
  { type: FrameType.STAT, requestId: 2, path: 'a', wantDigest: true },
  { type: FrameType.STAT, requestId: 3, path: '', wantDigest: false },
  { type: FrameType.LIST, requestId: 4, path: 'some/dir' },
  { type: FrameType.LIST, requestId: 5, path: 'looptree', wantLinks: true },
  { type: FrameType.STAT, requestId: 6, path: 'f', wantDigest: true, wantSha256: true },
  { type: FrameType.UDP_SESSION, requestId: 9, path: 'docs/a.txt' },
];

export const fileWithDigests: FileHeader = {
  type: FrameType.FILE,
  requestId: 9,
  size: 5_000_000,
  offset: 1_500_000,
  length: 12,
  mtimeMs: 1_700_000_000_123,
  validator: validatorA,
  algorithm: DigestAlgorithm.SHA256_CHUNKS,
  chunkSize: 1024 * 1024,
  root: digest(0xee),
  firstChunk: 1,
  chunkDigests: [digest(1)],
};

export const fileNoDigests: FileHeader = {
  type: FrameType.FILE,
  requestId: 1,
  size: 10,
  offset: 5,
  length: 5,
  mtimeMs: 0,
  validator: validatorA,
  algorithm: DigestAlgorithm.NONE,
  chunkSize: 0,
  root: bytesOf(0, 32),
  firstChunk: 0,
  chunkDigests: [],
};

/** One sample of every response type. */
export const SAMPLE_RESPONSES: readonly Response[] = [
  welcome,
  fileNoDigests,
  fileWithDigests,
  { ...fileNoDigests, offset: 10, length: 0 },
  { type: FrameType.END, requestId: 1, bytesSent: 5, status: EndStatus.OK },

  {
    type: FrameType.END,
    requestId: 2,
    bytesSent: Number.MAX_SAFE_INTEGER,
    status: EndStatus.CHANGED,
  },
  {
    type: FrameType.STAT_OK,
    requestId: 5,
    kind: EntryKind.FILE,
    size: 123,
    mtimeMs: 42,
    validator: validatorA,
    algorithm: DigestAlgorithm.SHA256_CHUNKS,
    chunkSize: 1024 * 1024,
    root: digest(7),
  },
  {
    type: FrameType.STAT_OK,
    requestId: 6,
    kind: EntryKind.DIRECTORY,
    size: 4096,
    mtimeMs: 1,
    validator: bytesOf(0, 16),
    algorithm: DigestAlgorithm.NONE,
    chunkSize: 0,
    root: bytesOf(0, 32),
  },
  {
    type: FrameType.LIST_OK,
    requestId: 7,
    more: true,
    entries: [
      { kind: EntryKind.FILE, name: 'a.txt', size: 3, mtimeMs: 10 },
      { kind: EntryKind.DIRECTORY, name: 'sub', size: 0, mtimeMs: 11 },
      { kind: EntryKind.OTHER, name: 'fifo ✓', size: 0, mtimeMs: 12 },
    ],
  },
  { type: FrameType.LIST_OK, requestId: 7, more: false, entries: [] },
  {
    type: FrameType.ERROR,
    requestId: 3,
    code: WireError.NOT_FOUND,
    retryAfterMs: 0,
    message: 'no such file: x',
  },
  { type: FrameType.ERROR, requestId: 0, code: WireError.BUSY, retryAfterMs: 250, message: '' },
  {
    type: FrameType.STAT_OK,
    requestId: 9,
    kind: EntryKind.FILE,
    size: 12,
    mtimeMs: 42,
    validator: validatorA,
    algorithm: DigestAlgorithm.SHA256_CHUNKS,
    chunkSize: 1024 * 1024,
    root: digest(7),
    sha256: digest(9),
  },
  {
    type: FrameType.UDP_SESSION_OK,
    requestId: 9,
    sessionId: bytesOf(0x5e, 8),
    lifetimeMs: 600_000,
  },
  {
    type: FrameType.LIST_OK,
    requestId: 8,
    more: false,
    links: true,
    entries: [
      {
        kind: EntryKind.FILE,
        name: 'a.txt',
        size: 3,
        mtimeMs: 10,
        link: LinkKind.NONE,
        target: '',
      },
      {
        kind: EntryKind.DIRECTORY,
        name: 'self',
        size: 0,
        mtimeMs: 11,
        link: LinkKind.INSIDE,
        target: 'looptree',
      },
      {
        kind: EntryKind.DIRECTORY,
        name: 'up',
        size: 0,
        mtimeMs: 12,
        link: LinkKind.INSIDE,
        target: '',
      },
      {
        kind: EntryKind.OTHER,
        name: 'out',
        size: 0,
        mtimeMs: 13,
        link: LinkKind.UNSERVABLE,
        target: '',
      },
    ],
  },
  { type: FrameType.CHUNK_DIGEST, requestId: 3, index: 7, digest: digest(7) },
  { type: FrameType.CHUNK_DIGEST, requestId: 3, index: 8, digest: digest(8), root: digest(9) },
];

/** A decoder event with body data merged: what a run means, independent of chunking. */
export type FlatEvent = { kind: 'message'; message: Message } | { kind: 'data'; bytes: Buffer };

/** Merges consecutive data events (copying them) so runs with different chunking compare equal. */
export function flatten(events: readonly DecoderEvent[]): FlatEvent[] {
  const out: FlatEvent[] = [];
  for (const e of events) {
    const last = out.at(-1);
    if (e.kind === 'message') out.push(e);
    else if (e.chunk.length === 0) continue;
    else if (last?.kind === 'data') last.bytes = Buffer.concat([last.bytes, e.chunk]);
    else out.push({ kind: 'data', bytes: Buffer.from(e.chunk) });
  }
  return out;
}

/** Feeds `parts` to a fresh decoder in order and returns every event, then checks end of stream. */
export function decodeParts(
  accept: 'requests' | 'responses',
  parts: readonly Buffer[],
  maxFrameSize?: number,
): FlatEvent[] {
  const decoder = new FrameDecoder(
    maxFrameSize === undefined ? { accept } : { accept, maxFrameSize },
  );
  const events: DecoderEvent[] = [];
  for (const p of parts) {
    // Copy each event list at once: data views are only promised valid until push returns.
    events.push(...flatten(decoder.push(p)).map(unflatten));
  }
  decoder.end();
  return flatten(events);
}

function unflatten(e: FlatEvent): DecoderEvent {
  return e.kind === 'message' ? e : { kind: 'data', chunk: e.bytes };
}

/** Splits `buf` at the given offsets (sorted, within bounds). */
export function splitAt(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const parts: Buffer[] = [];
  let at = 0;
  for (const c of cuts) {
    parts.push(buf.subarray(at, c));
    at = c;
  }
  parts.push(buf.subarray(at));
  return parts;
}
