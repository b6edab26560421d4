/**
 * Version 3's streamed digests (PROTOCOL.md §4.13, §5.3): the CHUNK_DIGEST codec, the streamed
 * FILE header's rules, and the decoder cutting a streamed body at the chunk boundaries.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  DigestAlgorithm,
  FRAME_HEADER_SIZE,
  FrameType,
  GetFlags,
  ProtocolError,
  STREAM_DIGESTS_MIN_VERSION,
  decodePayload,
  encodeChunkDigest,
  encodeEnd,
  encodeFile,
  encodeGet,
  encodeWelcome,
} from '../src/index.js';
import type { FileHeader, Message } from '../src/index.js';
import { FrameDecoder } from '../src/index.js';
import { decodeParts, digest, splitAt, validatorA } from './helpers/samples.js';
import type { FlatEvent } from './helpers/samples.js';

const welcome = encodeWelcome({ version: 3, maxRequestFrame: 8192, name: 's' });
const welcomeMsg = decodePayload(FrameType.WELCOME, welcome.subarray(FRAME_HEADER_SIZE));

/** A streamed FILE of a 10-byte file in chunks of 4, for the range [offset, offset + length). */
function streamedFile(offset: number, length: number, requestId = 1): FileHeader {
  return {
    type: FrameType.FILE,
    requestId,
    size: 10,
    offset,
    length,
    mtimeMs: 0,
    validator: validatorA,
    algorithm: DigestAlgorithm.SHA256_CHUNKS_STREAMED,
    chunkSize: 4,
    root: Buffer.alloc(32),
    firstChunk: Math.floor(offset / 4),
    chunkDigests: [],
  };
}

const body = Buffer.from('0123456789');

/** The wire events of a correct streamed answer: pieces cut at multiples of 4, a digest after each. */
function streamedEvents(offset: number, length: number, withRoot: boolean): FlatEvent[] {
  const h = streamedFile(offset, length);
  const events: FlatEvent[] = [{ kind: 'message', message: h }];
  const end = offset + length;
  for (let i = Math.floor(offset / 4); length > 0 && i <= Math.floor((end - 1) / 4); i++) {
    const from = Math.max(offset, i * 4);
    const to = Math.min(end, (i + 1) * 4);
    events.push({ kind: 'data', bytes: body.subarray(from, to) });
    const last = to === end;
    const m: Message = { type: FrameType.CHUNK_DIGEST, requestId: 1, index: i, digest: digest(i) };
    if (last && withRoot) m.root = digest(0xee);
    events.push({ kind: 'message', message: m });
  }
  events.push({
    kind: 'message',
    message: { type: FrameType.END, requestId: 1, bytesSent: length, status: 0 },
  });
  return events;
}

function wire(events: readonly FlatEvent[]): Buffer {
  return Buffer.concat([
    welcome,
    ...events.map((e) => {
      if (e.kind === 'data') return e.bytes;
      const m = e.message;
      if (m.type === FrameType.FILE) return encodeFile(m);
      if (m.type === FrameType.CHUNK_DIGEST) return encodeChunkDigest(m);
      if (m.type === FrameType.END) return encodeEnd(m);
      throw new Error('unexpected');
    }),
  ]);
}

function throwsCode(t: ExecutionContext, fn: () => unknown, code: string): void {
  const error = t.throws(fn, { instanceOf: ProtocolError });
  t.is(error?.code, code, error?.message);
}

test('GET carries STREAM_DIGESTS as bit 0x10 (version 3)', (t) => {
  t.is(STREAM_DIGESTS_MIN_VERSION, 3);
  const frame = encodeGet({
    requestId: 1,
    path: 'a',
    offset: 0,
    wantDigests: true,
    streamDigests: true,
  });
  t.is(frame[FRAME_HEADER_SIZE + 4], GetFlags.WANT_DIGESTS | GetFlags.STREAM_DIGESTS);
  const m = decodePayload(FrameType.GET, frame.subarray(FRAME_HEADER_SIZE));
  t.true(m.type === FrameType.GET && m.streamDigests === true);
});

test('CHUNK_DIGEST is 41 bytes, or 73 with the root, and round-trips', (t) => {
  const plain = encodeChunkDigest({ requestId: 9, index: 3, digest: digest(3) });
  t.is(plain.length, FRAME_HEADER_SIZE + 41);
  t.is(plain[0], 0x25);
  t.deepEqual(decodePayload(FrameType.CHUNK_DIGEST, plain.subarray(FRAME_HEADER_SIZE)), {
    type: FrameType.CHUNK_DIGEST,
    requestId: 9,
    index: 3,
    digest: digest(3),
  });
  const rooted = encodeChunkDigest({ requestId: 9, index: 3, digest: digest(3), root: digest(4) });
  t.is(rooted.length, FRAME_HEADER_SIZE + 73);
  t.is(rooted[FRAME_HEADER_SIZE + 4], 0x01, 'HAS_ROOT');
  const bad = Buffer.from(plain.subarray(FRAME_HEADER_SIZE));
  bad[4] = 0x02;
  throwsCode(t, () => decodePayload(FrameType.CHUNK_DIGEST, bad), 'FT_ERR_BAD_FLAGS');
  throwsCode(
    t,
    () =>
      decodePayload(
        FrameType.CHUNK_DIGEST,
        rooted.subarray(FRAME_HEADER_SIZE, -32).subarray(0, 40),
      ),
    'FT_ERR_TRUNCATED',
  );
});

test('a streamed FILE header carries no digest, a zero root and the first chunk of its range', (t) => {
  t.notThrows(() => encodeFile(streamedFile(5, 5)));
  throwsCode(
    t,
    () => encodeFile({ ...streamedFile(5, 5), chunkDigests: [digest(1)] }),
    'FT_ERR_BAD_VALUE',
  );
  throwsCode(t, () => encodeFile({ ...streamedFile(5, 5), root: digest(1) }), 'FT_ERR_BAD_VALUE');
  const payload = Buffer.from(encodeFile(streamedFile(5, 5)).subarray(FRAME_HEADER_SIZE));
  payload.writeUInt32BE(0, 89); // firstChunk 0, but offset 5 lies in chunk 1
  throwsCode(t, () => decodePayload(FrameType.FILE, payload), 'FT_ERR_BAD_VALUE');
  // STAT_OK has no streamed form.
  const stat = Buffer.alloc(74);
  stat[4] = 1;
  stat[37] = DigestAlgorithm.SHA256_CHUNKS_STREAMED;
  stat.writeUInt32BE(4, 38);
  throwsCode(t, () => decodePayload(FrameType.STAT_OK, stat), 'FT_ERR_BAD_VALUE');
});

for (const [offset, length, root] of [
  [0, 10, true],
  [0, 10, false],
  [5, 5, false],
  [4, 4, false],
  [1, 2, false],
  [3, 6, false],
  [10, 0, false],
] as const) {
  test(`a streamed body [${offset}, +${length})${root ? ' with its root' : ''} decodes split at every byte boundary`, (t) => {
    const events = streamedEvents(offset, length, root);
    const bytes = wire(events);
    const expected: FlatEvent[] = [{ kind: 'message', message: welcomeMsg }, ...events];
    for (let cut = 0; cut <= bytes.length; cut++)
      t.deepEqual(decodeParts('responses', splitAt(bytes, [cut])), expected);
    t.deepEqual(
      decodeParts(
        'responses',
        [...bytes].map((b) => Buffer.from([b])),
      ),
      expected,
    );
  });
}

function decodeAll(bytes: Buffer): void {
  const d = new FrameDecoder({ accept: 'responses' });
  d.push(bytes);
  d.end();
}

test('a streamed body refuses a missing, misplaced, misnumbered or wrongly rooted CHUNK_DIGEST', (t) => {
  const good = streamedEvents(0, 10, true);
  // END where chunk 0's digest is due.
  const noDigest = [good[0]!, good[1]!, good.at(-1)!];
  throwsCode(t, () => decodeAll(wire(noDigest)), 'FT_ERR_UNEXPECTED_FRAME');
  // Another chunk's index.
  const misnumbered = good.map((e) =>
    e.kind === 'message' && e.message.type === FrameType.CHUNK_DIGEST && e.message.index === 1
      ? { ...e, message: { ...e.message, index: 2 } }
      : e,
  );
  throwsCode(t, () => decodeAll(wire(misnumbered)), 'FT_ERR_BAD_VALUE');
  // A root on a digest that is not the last.
  const earlyRoot = good.map((e) =>
    e.kind === 'message' && e.message.type === FrameType.CHUNK_DIGEST && e.message.index === 0
      ? { ...e, message: { ...e.message, root: digest(1) } }
      : e,
  );
  throwsCode(t, () => decodeAll(wire(earlyRoot)), 'FT_ERR_BAD_VALUE');
  // A root when the body did not cover every chunk.
  const partial = streamedEvents(5, 5, false);
  const last = partial.at(-2)!;
  if (last.kind === 'message' && last.message.type === FrameType.CHUNK_DIGEST)
    last.message.root = digest(1);
  throwsCode(t, () => decodeAll(wire(partial)), 'FT_ERR_BAD_VALUE');
  // Another request's id.
  const otherId = good.map((e) =>
    e.kind === 'message' && e.message.type === FrameType.CHUNK_DIGEST
      ? { ...e, message: { ...e.message, requestId: 2 } }
      : e,
  );
  throwsCode(t, () => decodeAll(wire(otherId)), 'FT_ERR_BAD_VALUE');
  // A CHUNK_DIGEST after a FILE whose digests were not streamed.
  const plain: FileHeader = {
    ...streamedFile(0, 10),
    algorithm: DigestAlgorithm.NONE,
    chunkSize: 0,
    firstChunk: 0,
  };
  const outside = Buffer.concat([
    welcome,
    encodeFile(plain),
    body,
    encodeChunkDigest({ requestId: 1, index: 0, digest: digest(0) }),
  ]);
  throwsCode(t, () => decodeAll(outside), 'FT_ERR_UNEXPECTED_FRAME');
});

test('a stream that ends before a due CHUNK_DIGEST or END is truncated', (t) => {
  const bytes = wire(streamedEvents(0, 10, true));
  const afterFirstPiece = bytes.length - (13 + 6) - (73 + 6) - 2 - (41 + 6) - 4 - (41 + 6);
  for (const cut of [afterFirstPiece, bytes.length - 19, bytes.length - 1]) {
    throwsCode(t, () => decodeAll(bytes.subarray(0, cut)), 'FT_ERR_TRUNCATED');
  }
  t.notThrows(() => decodeAll(bytes));
});
