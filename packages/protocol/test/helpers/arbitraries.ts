/** fast-check generators of valid ft messages (decoded form, as the decoder returns them). */
import fc from 'fast-check';
import { DigestAlgorithm, EndStatus, EntryKind, FrameType, Limits } from '../../src/index.js';
import type {
  End,
  ErrorFrame,
  FileHeader,
  GetRequest,
  Hello,
  ListEntry,
  ListRequest,
  ListResult,
  Request,
  Response,
  StatRequest,
  StatResult,
  Welcome,
} from '../../src/index.js';

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
/** u64 values biased to the interesting edges: small, around 2^32, and up to 2^53 − 1. */
const u64 = fc.oneof(
  fc.integer({ min: 0, max: 1000 }),
  fc.integer({ min: 2 ** 32 - 2, max: 2 ** 32 + 2 }),
  fc.maxSafeNat(),
);
/** Records with an ordinary prototype, like the decoder's output (fast-check may otherwise use a null one). */
function record<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>;
}
const bytes = (n: number) =>
  fc.uint8Array({ minLength: n, maxLength: n }).map((a) => Buffer.from(a));

/** Well-formed Unicode strings of at most `maxBytes` UTF-8 bytes (any code point, 1–4 bytes each). */
function text(maxBytes: number, maxLength = maxBytes): fc.Arbitrary<string> {
  return fc
    .string({ unit: 'binary', maxLength: Math.min(maxLength, maxBytes) })
    .filter((s) => Buffer.byteLength(s) <= maxBytes);
}

const path = text(Limits.MAX_PATH_BYTES, 300);
const kind = fc.constantFrom(EntryKind.FILE, EntryKind.DIRECTORY, EntryKind.OTHER);
const digestInfo = fc.oneof(
  record({
    algorithm: fc.constant(DigestAlgorithm.NONE),
    chunkSize: fc.constant(0),
    root: fc.constant(Buffer.alloc(32)),
  }),
  record({
    algorithm: fc.constant(DigestAlgorithm.SHA256_CHUNKS),
    chunkSize: fc.integer({ min: 1, max: 0xffff_ffff }),
    root: bytes(32),
  }),
);

export const hello: fc.Arbitrary<Hello> = fc
  .record({ a: u16, b: u16, name: text(Limits.MAX_PEER_NAME_BYTES) })
  .map(({ a, b, name }) => ({
    type: FrameType.HELLO,
    minVersion: Math.min(a, b),
    maxVersion: Math.max(a, b),
    name,
  }));

export const welcome: fc.Arbitrary<Welcome> = record({
  type: fc.constant(FrameType.WELCOME),
  version: u16,
  maxRequestFrame: u32,
  name: text(Limits.MAX_PEER_NAME_BYTES),
});

/** Request ids are never 0 (reserved for the connection-level ERROR). */
const requestId = fc.integer({ min: 1, max: 0xffff_ffff });

export const get: fc.Arbitrary<GetRequest> = fc
  .record({
    requestId,
    path,
    offset: u64,
    a: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
    validator: fc.option(bytes(16), { nil: undefined }),
    wantDigests: fc.boolean(),
  })
  .map(({ a, ...m }) => ({
    type: FrameType.GET,
    ...m,
    // offset + length stays within 2^53 - 1, as the decoder requires.
    length: a === undefined ? undefined : Math.floor(a * (Number.MAX_SAFE_INTEGER - m.offset)),
  }));

export const stat: fc.Arbitrary<StatRequest> = record({
  type: fc.constant(FrameType.STAT),
  requestId,
  path,
  wantDigest: fc.boolean(),
});

export const list: fc.Arbitrary<ListRequest> = record({
  type: fc.constant(FrameType.LIST),
  requestId,
  path,
});

export const file: fc.Arbitrary<FileHeader> = fc
  .record({
    requestId: u32,
    size: u64,
    a: fc.double({ min: 0, max: 1, noNaN: true }),
    b: fc.double({ min: 0, max: 1, noNaN: true }),
    mtimeMs: u64,
    validator: bytes(16),
    info: digestInfo,
    firstChunk: u32,
    chunkDigests: fc.array(bytes(32), { maxLength: 20 }),
  })
  .map(({ size, a, b, info, ...rest }) => {
    const offset = Math.floor(size * a);
    const length = Math.floor((size - offset) * b);
    return { type: FrameType.FILE, size, offset, length, ...info, ...rest };
  });

/** A FILE header whose body is small enough to generate. */
export const smallFile: fc.Arbitrary<FileHeader> = fc
  .tuple(file, fc.integer({ min: 0, max: 300 }))
  .map(([f, length]) => ({ ...f, offset: 0, size: Math.max(f.size, length), length }));

export const end: fc.Arbitrary<End> = record({
  type: fc.constant(FrameType.END),
  requestId: u32,
  bytesSent: u64,
  status: fc.constantFrom(EndStatus.OK, EndStatus.CHANGED),
});

export const statResult: fc.Arbitrary<StatResult> = fc
  .record({
    requestId: u32,
    kind,
    size: u64,
    mtimeMs: u64,
    validator: bytes(16),
    info: digestInfo,
  })
  .map(({ info, ...rest }) => ({ type: FrameType.STAT_OK, ...rest, ...info }));

const entry: fc.Arbitrary<ListEntry> = record({
  kind,
  name: text(Limits.MAX_NAME_BYTES, 40),
  size: u64,
  mtimeMs: u64,
});

export const listResult: fc.Arbitrary<ListResult> = record({
  type: fc.constant(FrameType.LIST_OK),
  requestId: u32,
  more: fc.boolean(),
  entries: fc.array(entry, { maxLength: 30 }),
});

export const errorFrame: fc.Arbitrary<ErrorFrame> = record({
  type: fc.constant(FrameType.ERROR),
  requestId: u32,
  code: u16,
  retryAfterMs: u32,
  message: text(Limits.MAX_ERROR_MESSAGE_BYTES, 200),
});

export const request: fc.Arbitrary<Request> = fc.oneof(hello, get, stat, list);
export const response: fc.Arbitrary<Response> = fc.oneof(
  welcome,
  file,
  end,
  statResult,
  listResult,
  errorFrame,
);
