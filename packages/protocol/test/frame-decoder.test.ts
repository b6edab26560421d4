import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  EndStatus,
  FRAME_HEADER_SIZE,
  FrameDecoder,
  FrameType,
  Limits,
  ProtocolError,
  WireError,
  encodeEnd,
  encodeError,
  encodeFile,
  encodeGet,
  encodeHello,
  encodeStat,
} from '../src/index.js';
import type { DecoderEvent, Message } from '../src/index.js';
import {
  SAMPLE_REQUESTS,
  SAMPLE_RESPONSES,
  decodeParts,
  encode,
  fileNoDigests,
  flatten,
  fileWithDigests,
  hello,
  splitAt,
  welcome,
} from './helpers/samples.js';
import type { FlatEvent } from './helpers/samples.js';

const body5 = Buffer.from('hello');
const body12 = Buffer.from('0123456789ab');

/** A conversation in each direction, as bytes and as the events it must decode to. */
const REQUEST_STREAM: Message[] = [
  hello,
  ...SAMPLE_REQUESTS.filter((m) => m.type !== FrameType.HELLO),
];
const RESPONSE_STREAM: FlatEvent[] = [
  { kind: 'message', message: welcome },
  { kind: 'message', message: fileNoDigests },
  { kind: 'data', bytes: body5 },
  { kind: 'message', message: { type: FrameType.END, requestId: 1, bytesSent: 5, status: 0 } },
  { kind: 'message', message: { ...fileNoDigests, requestId: 2, offset: 10, length: 0 } },
  { kind: 'message', message: { type: FrameType.END, requestId: 2, bytesSent: 0, status: 0 } },
  { kind: 'message', message: fileWithDigests },
  { kind: 'data', bytes: body12 },
  {
    kind: 'message',
    message: { type: FrameType.END, requestId: 9, bytesSent: 12, status: EndStatus.CHANGED },
  },
  ...SAMPLE_RESPONSES.filter(
    (m) =>
      m.type === FrameType.STAT_OK || m.type === FrameType.LIST_OK || m.type === FrameType.ERROR,
  ).map((message) => ({ kind: 'message' as const, message })),
];

function streamBytes(events: readonly FlatEvent[]): Buffer {
  return Buffer.concat(events.map((e) => (e.kind === 'data' ? e.bytes : encode(e.message))));
}
const requestBytes = Buffer.concat(REQUEST_STREAM.map(encode));
const requestEvents: FlatEvent[] = REQUEST_STREAM.map((message) => ({ kind: 'message', message }));
const responseBytes = streamBytes(RESPONSE_STREAM);

function throwsCode(t: ExecutionContext, fn: () => unknown, code: string): ProtocolError {
  const error = t.throws(fn, { instanceOf: ProtocolError });
  t.is(error?.code, code, error?.message);
  return error!;
}

test('a request stream decodes whole and split at every byte boundary', (t) => {
  t.deepEqual(decodeParts('requests', [requestBytes]), requestEvents);
  for (let cut = 0; cut <= requestBytes.length; cut++) {
    t.deepEqual(decodeParts('requests', splitAt(requestBytes, [cut])), requestEvents, `cut ${cut}`);
  }
});

test('a response stream with FILE bodies decodes whole and split at every byte boundary', (t) => {
  t.deepEqual(decodeParts('responses', [responseBytes]), RESPONSE_STREAM);
  for (let cut = 0; cut <= responseBytes.length; cut++) {
    t.deepEqual(
      decodeParts('responses', splitAt(responseBytes, [cut])),
      RESPONSE_STREAM,
      `cut ${cut}`,
    );
  }
});

test('both streams decode when fed one byte at a time', (t) => {
  const oneByOne = (b: Buffer) => Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1));
  t.deepEqual(decodeParts('requests', oneByOne(requestBytes)), requestEvents);
  t.deepEqual(decodeParts('responses', oneByOne(responseBytes)), RESPONSE_STREAM);
});

test('every sample message decodes alone split at every byte boundary', (t) => {
  for (const m of SAMPLE_REQUESTS.filter((r) => r.type !== FrameType.HELLO)) {
    const bytes = Buffer.concat([encode(hello), encode(m)]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      t.deepEqual(decodeParts('requests', splitAt(bytes, [cut])), [
        { kind: 'message', message: hello },
        { kind: 'message', message: m },
      ]);
    }
  }
  for (const m of SAMPLE_RESPONSES.filter((r) => r.type !== FrameType.WELCOME)) {
    const events: FlatEvent[] = [
      { kind: 'message', message: welcome },
      { kind: 'message', message: m },
    ];
    if (m.type === FrameType.FILE) {
      if (m.length > 0) events.push({ kind: 'data', bytes: Buffer.alloc(m.length, 0x5a) });
      events.push({
        kind: 'message',
        message: { type: FrameType.END, requestId: m.requestId, bytesSent: m.length, status: 0 },
      });
    }
    if (m.type === FrameType.END) continue; // covered by the FILE cases
    if (m.type === FrameType.CHUNK_DIGEST) continue; // streamed-digests.test.ts: inside a body only
    const bytes = streamBytes(events);
    for (let cut = 0; cut <= bytes.length; cut++) {
      t.deepEqual(decodeParts('responses', splitAt(bytes, [cut])), events);
    }
  }
});

/** Feeds `parts` with a sink list, as a server does: the events before a throw survive it. */
function decodeUntilError(
  accept: 'requests' | 'responses',
  parts: readonly Buffer[],
): { events: FlatEvent[]; code: string | undefined } {
  const decoder = new FrameDecoder({ accept });
  const events: DecoderEvent[] = [];
  // Data events are views of the pushed chunk: copy them before the next push.
  const keep = (sink: DecoderEvent[]) =>
    events.push(
      ...sink.map((e) => (e.kind === 'data' ? { ...e, chunk: Buffer.from(e.chunk) } : e)),
    );
  for (const p of parts) {
    const sink: DecoderEvent[] = [];
    try {
      decoder.push(p, sink);
    } catch (error) {
      keep(sink);
      return { events: flatten(events), code: (error as ProtocolError).code };
    }
    keep(sink);
  }
  return { events: flatten(events), code: undefined };
}

/** Bad frames of each kind: refused from the header, by the state machine, or in the payload. */
function badFrames(accept: 'requests' | 'responses'): { bytes: Buffer; code: string }[] {
  const unsafe = Buffer.from(encodeGet({ requestId: 1, path: 'x', offset: 0, wantDigests: false }));
  unsafe.writeUInt32BE(0xffff_ffff, FRAME_HEADER_SIZE + 5);
  const tooLarge = Buffer.alloc(FRAME_HEADER_SIZE);
  tooLarge[0] = accept === 'requests' ? FrameType.STAT : FrameType.STAT_OK;
  tooLarge.writeUInt32BE(0xffff_ffff, 2);
  return [
    { bytes: Buffer.from([0x5a, 0, 0, 0, 0, 0]), code: 'FT_ERR_UNKNOWN_FRAME_TYPE' },
    { bytes: tooLarge, code: 'FT_ERR_FRAME_TOO_LARGE' },
    accept === 'requests'
      ? { bytes: encode(hello), code: 'FT_ERR_UNEXPECTED_FRAME' }
      : { bytes: encode(welcome), code: 'FT_ERR_UNEXPECTED_FRAME' },
    ...(accept === 'requests' ? [{ bytes: unsafe, code: 'FT_ERR_UNSAFE_INTEGER' }] : []),
  ];
}

test('every complete frame before a bad one is delivered, split at every byte boundary', (t) => {
  const streams = [
    { accept: 'requests' as const, bytes: requestBytes, events: requestEvents },
    { accept: 'responses' as const, bytes: responseBytes, events: RESPONSE_STREAM },
  ];
  for (const { accept, bytes: good, events: expected } of streams) {
    for (const bad of badFrames(accept)) {
      const bytes = Buffer.concat([good, bad.bytes]);
      for (let cut = 0; cut <= bytes.length; cut++) {
        const got = decodeUntilError(accept, splitAt(bytes, [cut]));
        t.is(got.code, bad.code, `${accept} cut ${cut}`);
        t.deepEqual(got.events, expected, `${accept} ${bad.code} cut ${cut}`);
      }
    }
  }
  // The case: a HELLO in the same write as a bad frame is itself delivered.
  const alone = decodeUntilError('requests', [
    Buffer.concat([encode(hello), Buffer.from([0x5a, 0, 0, 0, 0, 0])]),
  ]);
  t.deepEqual(alone, {
    events: [{ kind: 'message', message: hello }],
    code: 'FT_ERR_UNKNOWN_FRAME_TYPE',
  });
});

test('push returns the sink it was given, and without one a bad frame still just throws', (t) => {
  const sink: DecoderEvent[] = [];
  t.is(new FrameDecoder({ accept: 'requests' }).push(encode(hello), sink), sink);
  t.is(sink.length, 1);
  const decoder = new FrameDecoder({ accept: 'requests' });
  throwsCode(
    t,
    () => decoder.push(Buffer.concat([encode(hello), Buffer.from([0x5a, 0, 0, 0, 0, 0])])),
    'FT_ERR_UNKNOWN_FRAME_TYPE',
  );
});

test('body bytes are handed through as views of the input, not copies', (t) => {
  const decoder = new FrameDecoder({ accept: 'responses' });
  decoder.push(Buffer.concat([encode(welcome), encode(fileNoDigests)]));
  const input = Buffer.concat([body5, encodeEnd({ requestId: 1, bytesSent: 5, status: 0 })]);
  const events = decoder.push(input);
  const data = events[0];
  t.is(data?.kind, 'data');
  if (data?.kind !== 'data') return;
  t.is(data.chunk.buffer, input.buffer, 'same memory');
  t.is(data.chunk.byteOffset, input.byteOffset);
  t.deepEqual(Buffer.from(data.chunk), body5);
  t.like(events[1], { kind: 'message', message: { type: FrameType.END } });
});

test('a large body streams through without being buffered', (t) => {
  const decoder = new FrameDecoder({ accept: 'responses' });
  const length = 8 * Limits.MAX_RESPONSE_FRAME;
  decoder.push(
    Buffer.concat([encode(welcome), encode({ ...fileNoDigests, size: length, offset: 0, length })]),
  );
  const piece = Buffer.alloc(64 * 1024, 1);
  let received = 0;
  for (let i = 0; i < length / piece.length; i++) {
    for (const e of decoder.push(piece)) if (e.kind === 'data') received += e.chunk.length;
    t.is(decoder.buffered, 0);
  }
  t.is(received, length);
  t.false(decoder.idle, 'END still expected');
  decoder.push(encodeEnd({ requestId: 1, bytesSent: length, status: 0 }));
  t.true(decoder.idle);
  t.notThrows(() => decoder.end());
});

test('a frame too large is refused from its header alone, before the payload arrives', (t) => {
  const header = Buffer.alloc(FRAME_HEADER_SIZE);
  header[0] = FrameType.HELLO;
  header.writeUInt32BE(Limits.MAX_REQUEST_FRAME + 1, 2);
  const server = new FrameDecoder({ accept: 'requests' });
  const error = throwsCode(t, () => server.push(header), 'FT_ERR_FRAME_TOO_LARGE');
  t.is(error.wireCode, WireError.TOO_LARGE);
  t.is(server.buffered, 0);

  const client = new FrameDecoder({ accept: 'responses' });
  client.push(encode(welcome));
  header[0] = FrameType.FILE;
  header.writeUInt32BE(Limits.MAX_RESPONSE_FRAME + 1, 2);
  throwsCode(t, () => client.push(header), 'FT_ERR_FRAME_TOO_LARGE');

  // The largest allowed request frame header is accepted and waits for its payload.
  const ok = new FrameDecoder({ accept: 'requests' });
  header[0] = FrameType.HELLO;
  header.writeUInt32BE(Limits.MAX_REQUEST_FRAME, 2);
  t.deepEqual(ok.push(header), []);
  t.false(ok.idle);
});

test('maxFrameSize overrides the default limit', (t) => {
  const small = new FrameDecoder({ accept: 'requests', maxFrameSize: 24 });
  small.push(encode(hello));
  throwsCode(
    t,
    () => small.push(encodeGet({ requestId: 1, path: 'x', offset: 0, wantDigests: false })),
    'FT_ERR_FRAME_TOO_LARGE',
  );
});

test('a header with a huge length and no payload leaves nothing buffered', (t) => {
  const decoder = new FrameDecoder({ accept: 'responses' });
  const header = Buffer.from([FrameType.WELCOME, 0, 0xff, 0xff, 0xff, 0xff]);
  throwsCode(t, () => decoder.push(header), 'FT_ERR_FRAME_TOO_LARGE');
  t.is(decoder.buffered, 0);
});

test('a wrong magic, unknown type, frame from the other direction or non-zero flags is refused', (t) => {
  const badMagic = Buffer.from(encode(hello));
  badMagic[FRAME_HEADER_SIZE] = 0x49;
  throwsCode(t, () => new FrameDecoder({ accept: 'requests' }).push(badMagic), 'FT_ERR_BAD_MAGIC');

  // Plain text, as from someone typing at the port, is not mistaken for a frame.
  throwsCode(
    t,
    () => new FrameDecoder({ accept: 'requests' }).push(Buffer.from('GET / HTTP/1.1\r\n\r\n')),
    'FT_ERR_UNKNOWN_FRAME_TYPE',
  );
  throwsCode(
    t,
    () => new FrameDecoder({ accept: 'requests' }).push(Buffer.from([0x00, 0, 0, 0, 0, 0])),
    'FT_ERR_UNKNOWN_FRAME_TYPE',
  );
  throwsCode(
    t,
    () => new FrameDecoder({ accept: 'requests' }).push(encode(welcome)),
    'FT_ERR_UNEXPECTED_FRAME',
  );
  throwsCode(
    t,
    () => new FrameDecoder({ accept: 'responses' }).push(encode(hello)),
    'FT_ERR_UNEXPECTED_FRAME',
  );
  const server = new FrameDecoder({ accept: 'requests' });
  server.push(encode(hello));
  throwsCode(t, () => server.push(encode(fileNoDigests)), 'FT_ERR_UNEXPECTED_FRAME');

  const flagged = Buffer.from(encode(hello));
  flagged[1] = 0x01;
  throwsCode(t, () => new FrameDecoder({ accept: 'requests' }).push(flagged), 'FT_ERR_BAD_FLAGS');
});

test('payload errors surface through the decoder with their codes', (t) => {
  const server = new FrameDecoder({ accept: 'requests' });
  server.push(encode(hello));
  const get = Buffer.from(encodeGet({ requestId: 1, path: 'x', offset: 0, wantDigests: false }));
  get.writeUInt32BE(0xffff_ffff, FRAME_HEADER_SIZE + 5);
  const error = throwsCode(t, () => server.push(get), 'FT_ERR_UNSAFE_INTEGER');
  t.is(error.wireCode, WireError.BAD_REQUEST);
});

test('a request before HELLO is refused', (t) => {
  for (const m of SAMPLE_REQUESTS.filter((r) => r.type !== FrameType.HELLO)) {
    throwsCode(
      t,
      () => new FrameDecoder({ accept: 'requests' }).push(encode(m)),
      'FT_ERR_UNEXPECTED_FRAME',
    );
  }
});

test('HELLO twice and WELCOME twice are refused', (t) => {
  const server = new FrameDecoder({ accept: 'requests' });
  server.push(encode(hello));
  throwsCode(t, () => server.push(encode(hello)), 'FT_ERR_UNEXPECTED_FRAME');
  const client = new FrameDecoder({ accept: 'responses' });
  client.push(encode(welcome));
  throwsCode(t, () => client.push(encode(welcome)), 'FT_ERR_UNEXPECTED_FRAME');
});

test('a response before WELCOME is refused, except a connection-level ERROR', (t) => {
  throwsCode(
    t,
    () => new FrameDecoder({ accept: 'responses' }).push(encode(fileNoDigests)),
    'FT_ERR_UNEXPECTED_FRAME',
  );
  const busy = encodeError({
    requestId: 0,
    code: WireError.BUSY,
    retryAfterMs: 500,
    message: 'too many connections',
  });
  const events = new FrameDecoder({ accept: 'responses' }).push(busy);
  t.like(events[0], { kind: 'message', message: { type: FrameType.ERROR, retryAfterMs: 500 } });
});

test('END without a FILE body is refused', (t) => {
  const client = new FrameDecoder({ accept: 'responses' });
  client.push(encode(welcome));
  throwsCode(
    t,
    () => client.push(encodeEnd({ requestId: 1, bytesSent: 0, status: 0 })),
    'FT_ERR_UNEXPECTED_FRAME',
  );
});

test('anything but END after a FILE body is refused', (t) => {
  for (const next of [
    encode(fileNoDigests),
    encode(SAMPLE_RESPONSES[6]!),
    encodeError({ requestId: 1, code: 10, retryAfterMs: 0, message: '' }),
  ]) {
    const client = new FrameDecoder({ accept: 'responses' });
    client.push(Buffer.concat([encode(welcome), encode(fileNoDigests), body5]));
    throwsCode(t, () => client.push(next), 'FT_ERR_UNEXPECTED_FRAME');
  }
  const empty = new FrameDecoder({ accept: 'responses' });
  empty.push(Buffer.concat([encode(welcome), encode({ ...fileNoDigests, length: 0 })]));
  throwsCode(t, () => empty.push(encode(SAMPLE_RESPONSES[6]!)), 'FT_ERR_UNEXPECTED_FRAME');
});

test('end() reports a stream cut inside a frame, a body, or before END', (t) => {
  const cases: Buffer[] = [
    encode(welcome).subarray(0, 3),
    encode(welcome).subarray(0, FRAME_HEADER_SIZE),
    encode(welcome).subarray(0, 10),
    Buffer.concat([encode(welcome), encode(fileNoDigests), body5.subarray(0, 2)]),
    Buffer.concat([encode(welcome), encode(fileNoDigests), body5]),
    Buffer.concat([encode(welcome), encode({ ...fileNoDigests, length: 0 })]),
  ];
  for (const bytes of cases) {
    const decoder = new FrameDecoder({ accept: 'responses' });
    decoder.push(bytes);
    t.false(decoder.idle);
    throwsCode(t, () => decoder.end(), 'FT_ERR_TRUNCATED');
  }
  const clean = new FrameDecoder({ accept: 'responses' });
  clean.push(responseBytes);
  t.true(clean.idle);
  t.notThrows(() => clean.end());
  t.notThrows(() => new FrameDecoder({ accept: 'requests' }).end(), 'an empty stream is fine');
});

test('after a violation the decoder stays failed with the same error', (t) => {
  const server = new FrameDecoder({ accept: 'requests' });
  const first = throwsCode(
    t,
    () => server.push(encodeStat({ requestId: 1, path: 'x', wantDigest: false })),
    'FT_ERR_UNEXPECTED_FRAME',
  );
  t.is(server.buffered, 0);
  t.is(
    t.throws(() => server.push(encodeHello({ minVersion: 1, maxVersion: 1, name: '' }))),
    first,
  );
  t.is(
    t.throws(() => server.end()),
    first,
  );
});

test('buffered counts a partial frame and never exceeds header + limit', (t) => {
  const decoder = new FrameDecoder({ accept: 'responses' });
  decoder.push(encode(welcome));
  const file = encodeFile({
    ...fileWithDigests,
    chunkDigests: Array.from({ length: Limits.MAX_CHUNKS }, () => Buffer.alloc(32, 3)),
  });
  let fed = 0;
  for (const step of [5, 1000, 100_000, 150_000]) {
    decoder.push(file.subarray(fed, fed + step));
    fed += step;
    t.is(decoder.buffered, fed - FRAME_HEADER_SIZE * (fed >= FRAME_HEADER_SIZE ? 1 : 0));
    t.true(decoder.buffered <= FRAME_HEADER_SIZE + Limits.MAX_RESPONSE_FRAME);
  }
  const events = decoder.push(file.subarray(fed));
  t.is(decoder.buffered, 0);
  t.like(events[0], { kind: 'message', message: { type: FrameType.FILE } });
});

test('the largest response frame fed one byte at a time decodes, holding one copy of it', (t) => {
  const decoder = new FrameDecoder({ accept: 'responses' });
  decoder.push(encode(welcome));
  const digests = Array.from({ length: Limits.MAX_CHUNKS }, (_, i) => Buffer.alloc(32, i & 0xff));
  const file = encodeFile({ ...fileWithDigests, chunkDigests: digests });
  const events = [];
  for (let i = 0; i < file.length; i++) {
    events.push(...decoder.push(file.subarray(i, i + 1)));
    const n = i + 1;
    const expected = n < FRAME_HEADER_SIZE ? n : n < file.length ? n - FRAME_HEADER_SIZE : 0;
    if (decoder.buffered !== expected) {
      t.fail(`buffered ${decoder.buffered} after ${i + 1} bytes`);
      return;
    }
  }
  t.is(events.length, 1);
  const m = events[0]?.kind === 'message' ? events[0].message : undefined;
  t.is(m?.type, FrameType.FILE);
  t.true(
    m?.type === FrameType.FILE && m.chunkDigests.every((d, i) => d.equals(digests[i]!)),
    'all digests intact',
  );
});
