import test from 'ava';
import {
  DigestAlgorithm,
  EndStatus,
  EntryKind,
  FILE_FIXED_PAYLOAD,
  FRAME_HEADER_SIZE,
  FrameType,
  Limits,
  LinkKind,
  ListFlags,
  ListRequestFlags,
  ProtocolError,
  StatFlags,
  decodePayload,
  encodeEnd,
  encodeError,
  encodeFile,
  encodeGet,
  encodeHello,
  encodeList,
  encodeListResult,
  encodeStat,
  encodeStatResult,
  encodeWelcome,
  frameTypeName,
} from '../src/index.js';
import type { Hello, Message } from '../src/index.js';
import {
  SAMPLE_REQUESTS,
  SAMPLE_RESPONSES,
  bytesOf,
  digest,
  encode,
  fileNoDigests,
  fileWithDigests,
  validatorA,
} from './helpers/samples.js';

/** Decodes one whole encoded frame (header + payload) with the payload decoder alone. */
function decodeFrame(frame: Buffer): Message {
  return decodePayload(frame[0]!, frame.subarray(FRAME_HEADER_SIZE));
}

/** Builds a raw frame with a hand-made payload, bypassing the encoders. */
function rawFrame(type: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_SIZE);
  header[0] = type;
  header.writeUInt32BE(payload.length, 2);
  return Buffer.concat([header, payload]);
}

function throwsCode(t: import('ava').ExecutionContext, fn: () => unknown, code: string): void {
  const error = t.throws(fn, { instanceOf: ProtocolError });
  t.is(error?.code, code, error?.message);
}

for (const m of [...SAMPLE_REQUESTS, ...SAMPLE_RESPONSES]) {
  test(`${frameTypeName(m.type)} round-trips: ${JSON.stringify(m).slice(0, 60)}`, (t) => {
    const frame = encode(m);
    t.is(frame[0], m.type);
    t.is(frame[1], 0, 'frame flags are 0');
    t.is(frame.readUInt32BE(2), frame.length - FRAME_HEADER_SIZE, 'length field = payload size');
    t.deepEqual(decodeFrame(frame), m);
  });
}

test('every frame type has a sample', (t) => {
  const sampled = new Set([...SAMPLE_REQUESTS, ...SAMPLE_RESPONSES].map((m) => m.type));
  t.deepEqual([...sampled].sort(), Object.values(FrameType).sort());
});

test('frame layouts have the documented sizes', (t) => {
  t.is(encodeHello({ minVersion: 1, maxVersion: 1, name: 'ab' }).length, 6 + 12);
  t.is(encodeWelcome({ version: 1, maxRequestFrame: 1, name: 'ab' }).length, 6 + 14);
  t.is(encodeGet({ requestId: 1, path: 'ab', offset: 0, wantDigests: false }).length, 6 + 39 + 2);
  t.is(encodeStat({ requestId: 1, path: 'ab', wantDigest: false }).length, 6 + 7 + 2);
  t.is(encodeList({ requestId: 1, path: 'ab' }).length, 6 + 6 + 2);
  t.is(FILE_FIXED_PAYLOAD, 97);
  t.is(encode(fileWithDigests).length, 6 + 97 + 32);
  t.is(encodeEnd({ requestId: 1, bytesSent: 1, status: EndStatus.OK }).length, 6 + 13);
  t.is(encode(SAMPLE_RESPONSES[6]!).length, 6 + 74);
  t.is(
    encodeListResult({
      requestId: 1,
      more: false,
      entries: [{ kind: EntryKind.FILE, name: 'ab', size: 0, mtimeMs: 0 }],
    }).length,
    6 + 7 + 19 + 2,
  );
  t.is(encodeError({ requestId: 0, code: 1, retryAfterMs: 0, message: 'ab' }).length, 6 + 12 + 2);
});

test('GET without length or validator writes zeros in those fields and clears their flags', (t) => {
  const frame = encodeGet({ requestId: 7, path: 'p', offset: 3, wantDigests: false });
  const p = frame.subarray(FRAME_HEADER_SIZE);
  t.is(p[4], 0);
  t.true(p.subarray(13, 21).equals(Buffer.alloc(8)));
  t.true(p.subarray(21, 37).equals(Buffer.alloc(16)));
  const full = encodeGet({
    requestId: 7,
    path: 'p',
    offset: 3,
    length: 0,
    validator: validatorA,
    wantDigests: true,
  }).subarray(FRAME_HEADER_SIZE);
  t.is(full[4], 0x07);
  const recheck = encodeGet({
    requestId: 7,
    path: 'p',
    offset: 3,
    wantDigests: true,
    recheck: true,
  });
  t.is(recheck.subarray(FRAME_HEADER_SIZE)[4], 0x0c);
  t.like(decodePayload(FrameType.GET, recheck.subarray(FRAME_HEADER_SIZE)), { recheck: true });
});

test('GET ignores the length and validator fields when their flags are clear', (t) => {
  const payload = Buffer.from(
    encodeGet({ requestId: 1, path: 'x', offset: 0, wantDigests: false }),
  ).subarray(FRAME_HEADER_SIZE);
  payload.writeUInt32BE(99, 17);
  payload.fill(0x55, 21, 37);
  const m = decodePayload(FrameType.GET, payload);
  t.like(m, { length: undefined, validator: undefined });
});

test('a u64 above 2^53-1 is refused, not truncated', (t) => {
  const payload = Buffer.from(
    encodeGet({ requestId: 1, path: 'x', offset: 0, wantDigests: false }),
  ).subarray(FRAME_HEADER_SIZE);
  payload.writeBigUInt64BE(2n ** 53n, 5);
  throwsCode(t, () => decodePayload(FrameType.GET, payload), 'FT_ERR_UNSAFE_INTEGER');
  payload.writeBigUInt64BE(2n ** 64n - 1n, 5);
  throwsCode(t, () => decodePayload(FrameType.GET, payload), 'FT_ERR_UNSAFE_INTEGER');
  payload.writeBigUInt64BE(2n ** 53n - 1n, 5);
  t.like(decodePayload(FrameType.GET, payload), { offset: Number.MAX_SAFE_INTEGER });
});

test('u64 limits apply to every u64 field of every frame', (t) => {
  // Byte offsets of u64 fields in each payload (see docs/PROTOCOL.md).
  const cases: [Message, number[]][] = [
    [SAMPLE_REQUESTS[2]!, [5, 13]],
    [fileNoDigests, [4, 12, 20, 28]],
    [SAMPLE_RESPONSES[4]!, [4]],
    [SAMPLE_RESPONSES[6]!, [5, 13]],
    [SAMPLE_RESPONSES[8]!, [8, 16]],
  ];
  for (const [m, offsets] of cases) {
    for (const at of offsets) {
      const payload = Buffer.from(encode(m)).subarray(FRAME_HEADER_SIZE);
      payload.writeUInt32BE(0x0020_0000, at);
      throwsCode(t, () => decodePayload(m.type, payload), 'FT_ERR_UNSAFE_INTEGER');
    }
  }
});

test('invalid UTF-8 in any string is refused', (t) => {
  const bad = Buffer.from([0xc3, 0x28]);
  const frames: Buffer[] = [
    rawFrame(FrameType.LIST, Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 2]), bad])),
    rawFrame(
      FrameType.ERROR,
      Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 3, 0, 0, 0, 0, 0, 2]), bad]),
    ),
  ];
  for (const f of frames) throwsCode(t, () => decodeFrame(f), 'FT_ERR_BAD_UTF8');
  // Overlong encodings and lone surrogates are invalid too.
  for (const seq of [
    [0xc0, 0xaf],
    [0xed, 0xa0, 0x80],
  ]) {
    const payload = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, seq.length]), Buffer.from(seq)]);
    throwsCode(t, () => decodePayload(FrameType.LIST, payload), 'FT_ERR_BAD_UTF8');
  }
});

test('a path longer than MAX_PATH_BYTES is refused by decoder and encoder', (t) => {
  const long = 'a'.repeat(Limits.MAX_PATH_BYTES + 1);
  const payload = Buffer.alloc(4 + 2 + long.length);
  payload.writeUInt32BE(1, 0);
  payload.writeUInt16BE(long.length, 4);
  payload.write(long, 6);
  throwsCode(t, () => decodePayload(FrameType.LIST, payload), 'FT_ERR_PATH_TOO_LONG');
  throwsCode(t, () => encodeList({ requestId: 1, path: long }), 'FT_ERR_PATH_TOO_LONG');
  // Counted in bytes, not characters: 2049 two-byte characters are 4098 bytes.
  throwsCode(
    t,
    () => encodeStat({ requestId: 1, path: 'é'.repeat(2049), wantDigest: false }),
    'FT_ERR_PATH_TOO_LONG',
  );
  const max = 'b'.repeat(Limits.MAX_PATH_BYTES);
  t.like(decodeFrame(encodeList({ requestId: 1, path: max })), { path: max });
});

test('too many LIST_OK entries or chunk digests are refused before reading them', (t) => {
  const list = Buffer.alloc(7);
  list.writeUInt16BE(Limits.MAX_LIST_ENTRIES_PER_FRAME + 1, 5);
  throwsCode(t, () => decodePayload(FrameType.LIST_OK, list), 'FT_ERR_TOO_MANY_ENTRIES');
  const file = Buffer.from(encode(fileNoDigests)).subarray(FRAME_HEADER_SIZE);
  file.writeUInt32BE(Limits.MAX_CHUNKS + 1, FILE_FIXED_PAYLOAD - 4);
  throwsCode(t, () => decodePayload(FrameType.FILE, file), 'FT_ERR_TOO_MANY_ENTRIES');
});

test('a count larger than the payload is a truncated frame', (t) => {
  const list = Buffer.alloc(7);
  list.writeUInt16BE(3, 5);
  throwsCode(t, () => decodePayload(FrameType.LIST_OK, list), 'FT_ERR_TRUNCATED');
  const file = Buffer.from(encode(fileNoDigests)).subarray(FRAME_HEADER_SIZE);
  file.writeUInt32BE(2, FILE_FIXED_PAYLOAD - 4);
  throwsCode(t, () => decodePayload(FrameType.FILE, file), 'FT_ERR_TRUNCATED');
});

test('every payload cut short is FT_ERR_TRUNCATED and every payload with a trailing byte is FT_ERR_BAD_LENGTH', (t) => {
  for (const m of [...SAMPLE_REQUESTS, ...SAMPLE_RESPONSES]) {
    const payload = encode(m).subarray(FRAME_HEADER_SIZE);
    // Version-2 forms that only append a field: cut inside the appendix, they are the version-1
    // form plus (or minus) trailing bytes, tested below.
    const v1Length =
      m.type === FrameType.LIST && m.wantLinks === true
        ? payload.length - 1
        : m.type === FrameType.STAT_OK && m.sha256 !== undefined
          ? payload.length - 32
          : payload.length;
    for (let n = 0; n < payload.length; n++) {
      if (n >= v1Length) continue;
      throwsCode(t, () => decodePayload(m.type, payload.subarray(0, n)), 'FT_ERR_TRUNCATED');
    }
    // A version-1 LIST plus one byte is the version-2 form (a flags byte): two bytes are too many.
    const extra = m.type === FrameType.LIST && m.wantLinks !== true ? 2 : 1;
    // A HELLO's trailing byte starts the optional token's length: a truncated field.
    throwsCode(
      t,
      () => decodePayload(m.type, Buffer.concat([payload, Buffer.alloc(extra)])),
      m.type === FrameType.HELLO ? 'FT_ERR_TRUNCATED' : 'FT_ERR_BAD_LENGTH',
    );
  }
});

test('LIST: the version-1 layout without flags, the version-2 one with a trailing flags byte', (t) => {
  const v1 = encodeList({ requestId: 1, path: 'ab' });
  t.is(v1.length, FRAME_HEADER_SIZE + 4 + 2 + 2);
  t.is(encodeList({ requestId: 1, path: 'ab', wantLinks: false }).length, v1.length);
  const v2 = encodeList({ requestId: 1, path: 'ab', wantLinks: true });
  t.is(v2.length, v1.length + 1);
  t.is(v2[v2.length - 1], ListRequestFlags.WANT_LINKS);
  t.like(decodePayload(FrameType.LIST, v2.subarray(FRAME_HEADER_SIZE)), { wantLinks: true });
  const reserved = Buffer.from(v2.subarray(FRAME_HEADER_SIZE));
  reserved[reserved.length - 1] = 0x02;
  throwsCode(t, () => decodePayload(FrameType.LIST, reserved), 'FT_ERR_BAD_FLAGS');
});

test('STAT_OK: the SHA-256 is an appendix of exactly 32 bytes, for files with a digest only', (t) => {
  const withSha = SAMPLE_RESPONSES.find(
    (m) => m.type === FrameType.STAT_OK && m.sha256 !== undefined,
  )!;
  const payload = Buffer.from(encode(withSha)).subarray(FRAME_HEADER_SIZE);
  t.is(payload.length, 74 + 32);
  const v1 = decodePayload(FrameType.STAT_OK, payload.subarray(0, 74));
  t.is((v1 as { sha256?: Buffer }).sha256, undefined);
  for (const n of [75, 90, 105, 107])
    throwsCode(
      t,
      () =>
        decodePayload(FrameType.STAT_OK, Buffer.concat([payload, Buffer.alloc(1)]).subarray(0, n)),
      'FT_ERR_BAD_LENGTH',
    );
  const dir = Buffer.from(payload);
  dir[4] = EntryKind.DIRECTORY;
  throwsCode(t, () => decodePayload(FrameType.STAT_OK, dir), 'FT_ERR_BAD_VALUE');
  t.throws(() => encodeStatResult({ ...withSha, kind: EntryKind.DIRECTORY } as never));
  const stat = encodeStat({ requestId: 1, path: '', wantDigest: false, wantSha256: true });
  t.is(stat[FRAME_HEADER_SIZE + 4], StatFlags.WANT_SHA256);
});

test('LIST_OK with LINKS: link kinds are checked and only INSIDE links carry a target', (t) => {
  const links = SAMPLE_RESPONSES.findLast((r) => r.type === FrameType.LIST_OK)!;
  const payload = Buffer.from(encode(links)).subarray(FRAME_HEADER_SIZE);
  t.is(payload[4], ListFlags.LINKS);
  // First entry: kind u8 size u64 mtimeMs u64, then link u8 at 7 + 17.
  const badLink = Buffer.from(payload);
  badLink[7 + 17] = 3;
  throwsCode(t, () => decodePayload(FrameType.LIST_OK, badLink), 'FT_ERR_BAD_VALUE');
  t.throws(() =>
    encodeListResult({
      requestId: 1,
      more: false,
      links: true,
      entries: [{ kind: EntryKind.FILE, name: 'x', size: 0, mtimeMs: 0, target: 'y' }],
    }),
  );
  // The same entries without LINKS: the version-1 layout, link fields dropped.
  const v1 = encodeListResult({
    requestId: 1,
    more: false,
    entries: [
      { kind: EntryKind.FILE, name: 'x', size: 0, mtimeMs: 0, link: LinkKind.INSIDE, target: 'y' },
    ],
  });
  t.deepEqual(decodePayload(FrameType.LIST_OK, v1.subarray(FRAME_HEADER_SIZE)), {
    type: FrameType.LIST_OK,
    requestId: 1,
    more: false,
    entries: [{ kind: EntryKind.FILE, name: 'x', size: 0, mtimeMs: 0 }],
  });
});

test('HELLO and WELCOME with a wrong magic are refused', (t) => {
  for (const m of [SAMPLE_REQUESTS[0]!, SAMPLE_RESPONSES[0]!]) {
    const payload = Buffer.from(encode(m)).subarray(FRAME_HEADER_SIZE);
    payload[3] = 0x0d;
    throwsCode(t, () => decodePayload(m.type, payload), 'FT_ERR_BAD_MAGIC');
  }
});

test('unknown frame types, flag bits and enum values are refused', (t) => {
  throwsCode(t, () => decodePayload(0x55, Buffer.alloc(0)), 'FT_ERR_UNKNOWN_FRAME_TYPE');
  const get = Buffer.from(encode(SAMPLE_REQUESTS[2]!)).subarray(FRAME_HEADER_SIZE);
  get[4] = 0x20;
  throwsCode(t, () => decodePayload(FrameType.GET, get), 'FT_ERR_BAD_FLAGS');
  const stat = Buffer.from(encode(SAMPLE_REQUESTS[4]!)).subarray(FRAME_HEADER_SIZE);
  stat[4] = 0x04;
  throwsCode(t, () => decodePayload(FrameType.STAT, stat), 'FT_ERR_BAD_FLAGS');
  const list = Buffer.from(encode(SAMPLE_RESPONSES[8]!)).subarray(FRAME_HEADER_SIZE);
  list[4] = 0x80;
  throwsCode(t, () => decodePayload(FrameType.LIST_OK, list), 'FT_ERR_BAD_FLAGS');
  const listKind = Buffer.from(encode(SAMPLE_RESPONSES[8]!)).subarray(FRAME_HEADER_SIZE);
  listKind[7] = 4;
  throwsCode(t, () => decodePayload(FrameType.LIST_OK, listKind), 'FT_ERR_BAD_VALUE');
  const end = Buffer.from(encode(SAMPLE_RESPONSES[4]!)).subarray(FRAME_HEADER_SIZE);
  end[12] = 2;
  throwsCode(t, () => decodePayload(FrameType.END, end), 'FT_ERR_BAD_VALUE');
  const statOk = Buffer.from(encode(SAMPLE_RESPONSES[6]!)).subarray(FRAME_HEADER_SIZE);
  statOk[4] = 0;
  throwsCode(t, () => decodePayload(FrameType.STAT_OK, statOk), 'FT_ERR_BAD_VALUE');
  const algo = Buffer.from(encode(fileWithDigests)).subarray(FRAME_HEADER_SIZE);
  algo[52] = 2;
  throwsCode(t, () => decodePayload(FrameType.FILE, algo), 'FT_ERR_BAD_VALUE');
  const chunk0 = Buffer.from(encode(fileWithDigests)).subarray(FRAME_HEADER_SIZE);
  chunk0.writeUInt32BE(0, 53);
  throwsCode(t, () => decodePayload(FrameType.FILE, chunk0), 'FT_ERR_BAD_VALUE');
});

test('decoders refuse inconsistent values', (t) => {
  const hello = Buffer.from(encode(SAMPLE_REQUESTS[0]!)).subarray(FRAME_HEADER_SIZE);
  hello.writeUInt16BE(2, 4);
  throwsCode(t, () => decodePayload(FrameType.HELLO, hello), 'FT_ERR_BAD_VALUE');
  const file = Buffer.from(encode(fileNoDigests)).subarray(FRAME_HEADER_SIZE);
  file.writeUInt32BE(6, 24); // length 6 from offset 5 of a 10-byte file
  throwsCode(t, () => decodePayload(FrameType.FILE, file), 'FT_ERR_BAD_VALUE');
  const name = Buffer.from(encode(SAMPLE_REQUESTS[0]!)).subarray(FRAME_HEADER_SIZE);
  name.writeUInt16BE(Limits.MAX_PEER_NAME_BYTES + 1, 8);
  throwsCode(t, () => decodePayload(FrameType.HELLO, name), 'FT_ERR_BAD_LENGTH');
});

test('encoders refuse out-of-range numbers', (t) => {
  const get = { requestId: 1, path: 'p', offset: 0, wantDigests: false };
  for (const bad of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1, Infinity]) {
    throwsCode(t, () => encodeGet({ ...get, offset: bad }), 'FT_ERR_BAD_VALUE');
    throwsCode(t, () => encodeGet({ ...get, length: bad }), 'FT_ERR_BAD_VALUE');
    throwsCode(t, () => encodeEnd({ requestId: 1, bytesSent: bad, status: 0 }), 'FT_ERR_BAD_VALUE');
  }
  throwsCode(t, () => encodeGet({ ...get, requestId: 2 ** 32 }), 'FT_ERR_BAD_VALUE');
  throwsCode(t, () => encodeList({ requestId: -1, path: '' }), 'FT_ERR_BAD_VALUE');
  throwsCode(
    t,
    () => encodeHello({ minVersion: 0x10000, maxVersion: 0x10000, name: '' }),
    'FT_ERR_BAD_VALUE',
  );
  throwsCode(t, () => encodeHello({ minVersion: 2, maxVersion: 1, name: '' }), 'FT_ERR_BAD_VALUE');
  throwsCode(
    t,
    () => encodeWelcome({ version: 1, maxRequestFrame: 2 ** 32, name: '' }),
    'FT_ERR_BAD_VALUE',
  );
  throwsCode(
    t,
    () => encodeError({ requestId: 0, code: 0x10000, retryAfterMs: 0, message: '' }),
    'FT_ERR_BAD_VALUE',
  );
  throwsCode(
    t,
    () => encodeError({ requestId: 0, code: 1, retryAfterMs: -5, message: '' }),
    'FT_ERR_BAD_VALUE',
  );
});

test('encoders refuse wrong-sized byte fields, unknown enums and inconsistent FILE headers', (t) => {
  const get = { requestId: 1, path: 'p', offset: 0, wantDigests: false };
  throwsCode(t, () => encodeGet({ ...get, validator: Buffer.alloc(15) }), 'FT_ERR_BAD_VALUE');
  throwsCode(
    t,
    () => encodeFile({ ...fileNoDigests, validator: Buffer.alloc(17) }),
    'FT_ERR_BAD_VALUE',
  );
  throwsCode(t, () => encodeFile({ ...fileNoDigests, root: Buffer.alloc(31) }), 'FT_ERR_BAD_VALUE');
  throwsCode(
    t,
    () => encodeFile({ ...fileWithDigests, chunkDigests: [Buffer.alloc(33)] }),
    'FT_ERR_BAD_VALUE',
  );
  throwsCode(t, () => encodeFile({ ...fileNoDigests, length: 6 }), 'FT_ERR_BAD_VALUE');
  throwsCode(
    t,
    () =>
      encodeFile({
        ...fileWithDigests,
        chunkDigests: Array.from({ length: Limits.MAX_CHUNKS + 1 }, () => digest(0)),
      }),
    'FT_ERR_BAD_VALUE',
  );
  throwsCode(
    t,
    () => encodeFile({ ...fileWithDigests, algorithm: 9 as DigestAlgorithm }),
    'FT_ERR_BAD_VALUE',
  );
  throwsCode(t, () => encodeFile({ ...fileWithDigests, chunkSize: 0 }), 'FT_ERR_BAD_VALUE');
  throwsCode(
    t,
    () => encodeEnd({ requestId: 1, bytesSent: 0, status: 3 as EndStatus }),
    'FT_ERR_BAD_VALUE',
  );
  const stat = SAMPLE_RESPONSES[6]!;
  throwsCode(t, () => encode({ ...stat, kind: 0 as EntryKind } as Message), 'FT_ERR_BAD_VALUE');
  throwsCode(
    t,
    () =>
      encodeListResult({
        requestId: 1,
        more: false,
        entries: [{ kind: 7 as EntryKind, name: 'x', size: 0, mtimeMs: 0 }],
      }),
    'FT_ERR_BAD_VALUE',
  );
});

test('encoders refuse over-long strings and lists', (t) => {
  const entry = { kind: EntryKind.FILE, name: 'x', size: 0, mtimeMs: 0 };
  throwsCode(
    t,
    () =>
      encodeListResult({
        requestId: 1,
        more: false,
        entries: Array.from({ length: Limits.MAX_LIST_ENTRIES_PER_FRAME + 1 }, () => entry),
      }),
    'FT_ERR_BAD_VALUE',
  );
  throwsCode(
    t,
    () =>
      encodeListResult({
        requestId: 1,
        more: false,
        entries: [{ ...entry, name: 'n'.repeat(Limits.MAX_NAME_BYTES + 1) }],
      }),
    'FT_ERR_BAD_LENGTH',
  );
  throwsCode(
    t,
    () =>
      encodeHello({
        minVersion: 1,
        maxVersion: 1,
        name: 'x'.repeat(Limits.MAX_PEER_NAME_BYTES + 1),
      }),
    'FT_ERR_BAD_LENGTH',
  );
  throwsCode(
    t,
    () =>
      encodeWelcome({
        version: 1,
        maxRequestFrame: 1,
        name: 'x'.repeat(Limits.MAX_PEER_NAME_BYTES + 1),
      }),
    'FT_ERR_BAD_LENGTH',
  );
  const full = Array.from({ length: Limits.MAX_LIST_ENTRIES_PER_FRAME }, (_, i) => ({
    ...entry,
    name: `${i}`.padStart(Limits.MAX_NAME_BYTES, 'n'),
  }));
  const frame = encodeListResult({ requestId: 1, more: true, entries: full });
  t.true(frame.length - FRAME_HEADER_SIZE <= Limits.MAX_RESPONSE_FRAME, 'a full LIST_OK fits');
  t.is((decodeFrame(frame) as { entries: unknown[] }).entries.length, full.length);
});

test('the largest FILE header and request fit in their frame limits', (t) => {
  const file = encodeFile({
    ...fileWithDigests,
    chunkDigests: Array.from({ length: Limits.MAX_CHUNKS }, (_, i) => digest(i & 0xff)),
  });
  t.true(file.length - FRAME_HEADER_SIZE <= Limits.MAX_RESPONSE_FRAME);
  t.is((decodeFrame(file) as { chunkDigests: Buffer[] }).chunkDigests.length, Limits.MAX_CHUNKS);
  const get = encodeGet({
    requestId: 1,
    path: 'p'.repeat(Limits.MAX_PATH_BYTES),
    offset: 0,
    length: 1,
    validator: validatorA,
    wantDigests: true,
  });
  t.true(get.length - FRAME_HEADER_SIZE <= Limits.MAX_REQUEST_FRAME);
});

test('an over-long ERROR message is cut at a character boundary, not refused', (t) => {
  for (const unit of ['a', 'é', '日', '😀']) {
    const message = unit.repeat(5000);
    const frame = encodeError({ requestId: 1, code: 10, retryAfterMs: 0, message });
    const m = decodeFrame(frame) as { message: string };
    const bytes = Buffer.byteLength(m.message);
    t.true(bytes <= Limits.MAX_ERROR_MESSAGE_BYTES);
    t.true(bytes > Limits.MAX_ERROR_MESSAGE_BYTES - 4, `kept ${bytes} bytes`);
    t.true(message.startsWith(m.message));
  }
  // A huge message is cut quickly (a character-at-a-time loop would take minutes here).
  const huge = 'x'.repeat(4_000_000);
  const m = decodeFrame(encodeError({ requestId: 1, code: 1, retryAfterMs: 0, message: huge }));
  t.is((m as { message: string }).message.length, Limits.MAX_ERROR_MESSAGE_BYTES);
});

test('FILE with digests keeps digest order and first chunk', (t) => {
  const m = {
    ...fileWithDigests,
    length: 3_000_000,
    chunkDigests: [digest(1), digest(2), digest(3)],
  };
  const decoded = decodeFrame(encodeFile(m)) as typeof m;
  t.deepEqual(decoded.chunkDigests, [digest(1), digest(2), digest(3)]);
  t.is(decoded.firstChunk, 1);
  t.is(decoded.algorithm, DigestAlgorithm.SHA256_CHUNKS);
});

test('decoded byte fields are copies, not views of the payload', (t) => {
  const payload = Buffer.from(encode(fileWithDigests)).subarray(FRAME_HEADER_SIZE);
  const m = decodePayload(FrameType.FILE, payload) as typeof fileWithDigests;
  payload.fill(0);
  t.deepEqual(m.validator, validatorA);
  t.deepEqual(m.chunkDigests[0], digest(1));
  t.deepEqual(m.root, bytesOf(0xee, 32));
});

test('frameTypeName names known types and shows unknown ones in hex', (t) => {
  t.is(frameTypeName(FrameType.STAT_OK), 'STAT_OK');
  t.is(frameTypeName(0x05), '0x05');
});

test('HELLO carries an optional trailing token: without it the bytes are the old layout', (t) => {
  const plain = encodeHello({ minVersion: 1, maxVersion: 2, name: 'ftget' });
  const withToken = encodeHello({ minVersion: 1, maxVersion: 2, name: 'ftget', token: 'ft_abc' });
  // name str16 ends the plain form; the token form is the same bytes plus str16 "ft_abc".
  t.is(plain.length, FRAME_HEADER_SIZE + 10 + 5);
  t.deepEqual(
    withToken.subarray(FRAME_HEADER_SIZE, plain.length),
    plain.subarray(FRAME_HEADER_SIZE),
  );
  t.deepEqual(
    withToken.subarray(plain.length),
    Buffer.from([0x00, 0x06, ...Buffer.from('ft_abc')]),
  );
  t.deepEqual(decodePayload(FrameType.HELLO, withToken.subarray(FRAME_HEADER_SIZE)), {
    type: FrameType.HELLO,
    minVersion: 1,
    maxVersion: 2,
    name: 'ftget',
    token: 'ft_abc',
  });
  t.deepEqual(decodePayload(FrameType.HELLO, plain.subarray(FRAME_HEADER_SIZE)), {
    type: FrameType.HELLO,
    minVersion: 1,
    maxVersion: 2,
    name: 'ftget',
  });
});

test('HELLO tokens that are empty, too long or truncated are refused', (t) => {
  const base = { minVersion: 1, maxVersion: 2, name: 'n' };
  throwsCode(t, () => encodeHello({ ...base, token: '' }), 'FT_ERR_BAD_VALUE');
  const max = 'x'.repeat(Limits.MAX_TOKEN_BYTES);
  t.is(
    (decodePayload(FrameType.HELLO, encodeHello({ ...base, token: max }).subarray(6)) as Hello)
      .token,
    max,
  );
  throwsCode(t, () => encodeHello({ ...base, token: max + 'x' }), 'FT_ERR_BAD_LENGTH');
  const plain = encodeHello(base).subarray(FRAME_HEADER_SIZE);
  const empty = Buffer.concat([plain, Buffer.from([0, 0])]);
  throwsCode(t, () => decodePayload(FrameType.HELLO, empty), 'FT_ERR_BAD_VALUE');
  const long = Buffer.concat([plain, Buffer.from([0x01, 0x01]), Buffer.alloc(257, 0x61)]);
  throwsCode(t, () => decodePayload(FrameType.HELLO, long), 'FT_ERR_BAD_LENGTH');
  const short = Buffer.concat([plain, Buffer.from([0x00, 0x05, 0x61])]);
  throwsCode(t, () => decodePayload(FrameType.HELLO, short), 'FT_ERR_TRUNCATED');
  const stray = Buffer.concat([plain, Buffer.from([0x00])]);
  throwsCode(t, () => decodePayload(FrameType.HELLO, stray), 'FT_ERR_TRUNCATED');
});
