/**
 * Property-based tests: random valid messages round-trip in any chunking; random and mutated
 * bytes either decode to messages that round-trip or fail with a typed ProtocolError, and the
 * decoder's buffer stays bounded throughout.
 */
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import fc from 'fast-check';
import {
  DecodeError,
  FRAME_HEADER_SIZE,
  FrameDecoder,
  FrameType,
  ProtocolError,
  decodePayload,
  encodeEnd,
} from '../src/index.js';
import type { DecoderEvent, Message } from '../src/index.js';
import * as arb from './helpers/arbitraries.js';
import { decodeParts, encode, flatten, splitAt } from './helpers/samples.js';
import type { FlatEvent } from './helpers/samples.js';

const RUNS = { numRuns: 300 };

/** Asserts that a property holds; fast-check's report (with the shrunk counterexample) is the failure message. */
function holds<Ts extends unknown[]>(
  t: ExecutionContext,
  property: fc.IRawProperty<Ts>,
  params: fc.Parameters<Ts>,
): void {
  t.notThrows(() => fc.assert(property, params));
}

/** Sorted, distinct cut points within a buffer of length n. */
const cutsFor = (n: number) =>
  fc
    .uniqueArray(fc.integer({ min: 0, max: n }), { maxLength: 12 })
    .map((c) => c.sort((a, b) => a - b));

function roundTrip(m: Message): Message {
  const frame = encode(m);
  return decodePayload(frame[0]!, frame.subarray(FRAME_HEADER_SIZE));
}

test('every valid message round-trips through encode and decode', (t) => {
  holds(
    t,
    fc.property(fc.oneof(arb.request, arb.response), (m) => {
      assert.deepEqual(roundTrip(m), m);
    }),
    { numRuns: 2000 },
  );
});

test('a random request stream decodes the same in any chunking', (t) => {
  const stream = fc.tuple(
    arb.hello,
    fc.array(fc.oneof(arb.get, arb.stat, arb.list), { maxLength: 8 }),
  );
  holds(
    t,
    fc.property(
      stream.chain(([h, rest]) => {
        const bytes = Buffer.concat([h, ...rest].map(encode));
        return fc.tuple(fc.constant([h, ...rest]), fc.constant(bytes), cutsFor(bytes.length));
      }),
      ([messages, bytes, cuts]) => {
        const expected = messages.map((message) => ({ kind: 'message', message }));
        assert.deepEqual(decodeParts('requests', splitAt(bytes, cuts)), expected);
      },
    ),
    RUNS,
  );
});

/** A random response stream: WELCOME, then responses, every FILE followed by its body and END. */
const responseStream: fc.Arbitrary<FlatEvent[]> = fc
  .tuple(
    arb.welcome,
    fc.array(fc.oneof(arb.smallFile, arb.statResult, arb.listResult, arb.errorFrame), {
      maxLength: 6,
    }),
    fc.integer({ min: 0, max: 255 }),
  )
  .map(([w, responses, fill]) => {
    const events: FlatEvent[] = [{ kind: 'message', message: w }];
    for (const m of responses) {
      events.push({ kind: 'message', message: m });
      if (m.type !== FrameType.FILE) continue;
      if (m.length > 0) events.push({ kind: 'data', bytes: Buffer.alloc(m.length, fill) });
      events.push({
        kind: 'message',
        message: { type: FrameType.END, requestId: m.requestId, bytesSent: m.length, status: 0 },
      });
    }
    return events;
  });

function streamBytes(events: readonly FlatEvent[]): Buffer {
  return Buffer.concat(events.map((e) => (e.kind === 'data' ? e.bytes : encode(e.message))));
}

test('a random response stream with FILE bodies decodes the same in any chunking', (t) => {
  holds(
    t,
    fc.property(
      responseStream.chain((events) => {
        const bytes = streamBytes(events);
        return fc.tuple(fc.constant(events), fc.constant(bytes), cutsFor(bytes.length));
      }),
      ([events, bytes, cuts]) => {
        assert.deepEqual(decodeParts('responses', splitAt(bytes, cuts)), events);
      },
    ),
    RUNS,
  );
});

const DECODE_CODES = new Set(Object.keys(DecodeError));

/**
 * Feeds `parts` to a decoder and checks the invariants that hold for any input whatsoever:
 * each push returns events or throws a ProtocolError with a catalogued code; the buffer stays
 * within one frame; every decoded message re-encodes to itself. Returns how far it got.
 */
function feedAnything(
  accept: 'requests' | 'responses',
  parts: readonly Buffer[],
  maxFrameSize: number | undefined,
): { messages: number; error: ProtocolError | undefined } {
  const decoder = new FrameDecoder(
    maxFrameSize === undefined ? { accept } : { accept, maxFrameSize },
  );
  const limit = FRAME_HEADER_SIZE + (maxFrameSize ?? (accept === 'requests' ? 8192 : 1024 * 1024));
  let messages = 0;
  const typed = (error: unknown): ProtocolError => {
    if (!(error instanceof ProtocolError)) throw error;
    if (!DECODE_CODES.has(error.code)) throw new Error(`uncatalogued code ${error.code}`);
    return error;
  };
  for (const p of parts) {
    let events: DecoderEvent[];
    try {
      events = decoder.push(p);
    } catch (error) {
      if (decoder.buffered !== 0) throw new Error('a failed decoder keeps no buffer');
      return { messages, error: typed(error) };
    }
    if (decoder.buffered > limit) throw new Error(`buffered ${decoder.buffered} > ${limit}`);
    for (const e of flatten(events)) {
      if (e.kind !== 'message') continue;
      messages++;
      if (!isDeepStrictEqual(roundTrip(e.message), e.message)) {
        throw new Error(`decoded message does not round-trip: ${fc.stringify(e.message)}`);
      }
    }
  }
  try {
    decoder.end();
  } catch (error) {
    return { messages, error: typed(error) };
  }
  return { messages, error: undefined };
}

const accept = fc.constantFrom('requests' as const, 'responses' as const);
const maxFrame = fc.option(fc.integer({ min: 0, max: 300 }), { nil: undefined });

test('random bytes never crash the decoder: typed errors only, bounded buffer', (t) => {
  holds(
    t,
    fc.property(
      accept,
      maxFrame,
      fc
        .uint8Array({ maxLength: 600 })
        .chain((a) => fc.tuple(fc.constant(Buffer.from(a)), cutsFor(a.length))),
      (side, max, [bytes, cuts]) => {
        feedAnything(side, splitAt(bytes, cuts), max);
      },
    ),
    { numRuns: 1000 },
  );
  t.is(
    feedAnything('requests', [Buffer.from('\u0000garbage')], undefined).error?.code,
    'FT_ERR_UNKNOWN_FRAME_TYPE',
  );
});

/** A frame with a well-formed header of a known type around a random payload. */
const randomFrame = fc
  .tuple(fc.constantFrom(...Object.values(FrameType)), fc.uint8Array({ maxLength: 200 }))
  .map(([type, payload]) => {
    const header = Buffer.alloc(FRAME_HEADER_SIZE);
    header[0] = type;
    header.writeUInt32BE(payload.length, 2);
    return Buffer.concat([header, payload]);
  });

test('random payloads of every frame type decode to messages that round-trip, or fail typed', (t) => {
  holds(
    t,
    fc.property(randomFrame, (frame) => {
      let m: Message;
      try {
        m = decodePayload(frame[0]!, frame.subarray(FRAME_HEADER_SIZE));
      } catch (error) {
        assert.ok(error instanceof ProtocolError, `not a ProtocolError: ${String(error)}`);
        assert.ok(DECODE_CODES.has(error.code), error.code);
        return;
      }
      assert.deepEqual(roundTrip(m), m);
    }),
    { numRuns: 3000 },
  );
});

/** A mutation of a valid byte string: overwrite, insert, delete or truncate. */
const mutation = fc.oneof(
  fc.record({
    op: fc.constant('set' as const),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), value: fc.constant(0) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat(), value: fc.constant(0) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(bytes: Buffer, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(bytes);
  for (const { op, at: rawAt, value } of mutations) {
    if (b.length === 0) break;
    const at = rawAt % b.length;
    if (op === 'set') b[at] = value;
    else if (op === 'insert')
      b = Buffer.concat([b.subarray(0, at), Buffer.from([value]), b.subarray(at)]);
    else if (op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
    else b = b.subarray(0, at);
  }
  return b;
}

test('mutated request streams decode to round-tripping messages or fail typed', (t) => {
  const stream = fc
    .tuple(arb.hello, fc.array(fc.oneof(arb.get, arb.stat, arb.list), { maxLength: 4 }))
    .map(([h, rest]) => Buffer.concat([h, ...rest].map(encode)));
  let failed = 0;
  holds(
    t,
    fc.property(
      stream,
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      maxFrame,
      (bytes, mutations, rawCuts, max) => {
        const mutated = mutate(bytes, mutations);
        const cuts = [...new Set(rawCuts.map((c) => c % (mutated.length + 1)))].sort(
          (a, b) => a - b,
        );
        if (feedAnything('requests', splitAt(mutated, cuts), max).error) failed++;
      },
    ),
    { numRuns: 1000 },
  );
  t.true(failed > 0, 'mutations were caught');
});

test('mutated response streams decode to round-tripping messages or fail typed', (t) => {
  let failed = 0;
  holds(
    t,
    fc.property(
      responseStream.map(streamBytes),
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      maxFrame,
      (bytes, mutations, rawCuts, max) => {
        const mutated = mutate(bytes, mutations);
        const cuts = [...new Set(rawCuts.map((c) => c % (mutated.length + 1)))].sort(
          (a, b) => a - b,
        );
        if (feedAnything('responses', splitAt(mutated, cuts), max).error) failed++;
      },
    ),
    { numRuns: 1000 },
  );
  t.true(failed > 0, 'mutations were caught');
});

test('a valid stream fed to feedAnything decodes every message without error', (t) => {
  const bytes = Buffer.concat([
    encode({ type: FrameType.WELCOME, version: 1, maxRequestFrame: 8192, name: '' }),
    encodeEnd({ requestId: 1, bytesSent: 0, status: 0 }),
  ]);
  // END without FILE is a violation; WELCOME alone is fine.
  t.is(feedAnything('responses', [bytes], undefined).error?.code, 'FT_ERR_UNEXPECTED_FRAME');
  t.deepEqual(feedAnything('responses', [bytes.subarray(0, bytes.length - 19)], undefined), {
    messages: 1,
    error: undefined,
  });
});
