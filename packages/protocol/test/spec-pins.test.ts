/**
 * Behaviour docs/PROTOCOL.md pins down where a second implementation used to have to guess
 * (issue 14): each test names the section whose rule it holds the codec and engines to.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  CloseReason,
  DatagramType,
  FRAME_HEADER_SIZE,
  FrameType,
  Limits,
  MAX_FIN_SENDS,
  ProtocolError,
  UdpLimits,
  UdpReceiver,
  UdpSender,
  WireError,
  datagramChecksum,
  decodeDatagram,
  decodePayload,
  encodeGet,
  encodeList,
  encodeStat,
  encodeUdpAck,
  encodeUdpClose,
  encodeUdpDigestRequest,
  encodeUdpStatOk,
} from '../src/index.js';

function throwsCode(t: ExecutionContext, fn: () => unknown, code: string): ProtocolError {
  const error = t.throws(fn, { instanceOf: ProtocolError });
  t.is(error?.code, code, error?.message);
  return error!;
}

/** The payload of an encoded frame (what decodePayload takes). */
const payloadOf = (frame: Buffer): Buffer => frame.subarray(FRAME_HEADER_SIZE);

test('§4.3: requestId 0 is refused in GET, STAT and LIST by decoder and encoder', (t) => {
  const frames = [
    encodeGet({ requestId: 7, path: 'x', offset: 0, wantDigests: false }),
    encodeStat({ requestId: 7, path: 'x', wantDigest: false }),
    encodeList({ requestId: 7, path: 'x' }),
  ];
  for (const frame of frames) {
    const zeroed = Buffer.from(payloadOf(frame));
    zeroed.writeUInt32BE(0, 0);
    const error = throwsCode(t, () => decodePayload(frame[0]!, zeroed), 'FT_ERR_BAD_VALUE');
    t.is(error.wireCode, WireError.BAD_REQUEST);
    t.regex(error.message, /requestId 0/);
  }
  throwsCode(
    t,
    () => encodeGet({ requestId: 0, path: 'x', offset: 0, wantDigests: false }),
    'FT_ERR_BAD_VALUE',
  );
  throwsCode(
    t,
    () => encodeStat({ requestId: 0, path: 'x', wantDigest: false }),
    'FT_ERR_BAD_VALUE',
  );
  throwsCode(t, () => encodeList({ requestId: 0, path: 'x' }), 'FT_ERR_BAD_VALUE');
});

test('§4.3: a GET whose offset + length exceeds 2^53-1 is refused, not clipped', (t) => {
  const offset = Number.MAX_SAFE_INTEGER - 10;
  const atLimit = encodeGet({ requestId: 1, path: 'x', offset, length: 10, wantDigests: false });
  t.like(decodePayload(FrameType.GET, payloadOf(atLimit)), { offset, length: 10 });
  const over = Buffer.from(payloadOf(atLimit));
  over.writeUInt32BE(11, 13 + 4); // length's low word: 10 -> 11
  throwsCode(t, () => decodePayload(FrameType.GET, over), 'FT_ERR_BAD_VALUE');
  throwsCode(
    t,
    () => encodeGet({ requestId: 1, path: 'x', offset, length: 11, wantDigests: false }),
    'FT_ERR_BAD_VALUE',
  );
  // Without HAS_LENGTH the length field is ignored, whatever it holds.
  const noLength = Buffer.from(payloadOf(atLimit));
  noLength[4] = 0;
  noLength.writeUInt32BE(0x1f_ffff, 13);
  t.like(decodePayload(FrameType.GET, noLength), { offset, length: undefined });
});

test('§3: MAX_REQUEST_FRAME bounds: 4135 is the largest valid GET, 1048570 fills 1 MiB', (t) => {
  const largest = encodeGet({
    requestId: 0xffff_ffff,
    path: 'p'.repeat(Limits.MAX_PATH_BYTES),
    offset: 0,
    length: 1,
    validator: Buffer.alloc(16),
    wantDigests: true,
  });
  t.is(largest.length - FRAME_HEADER_SIZE, 4135);
  t.is(1048570 + FRAME_HEADER_SIZE, 1024 * 1024);
  t.is(Limits.MAX_REQUEST_FRAME, 8192, 'the default lies in the range');
});

test('UDP §Datagram header: the CRC is zlib CRC-32 (check value 0xCBF43926) over bytes 0..3 and 8..', (t) => {
  // A "datagram" whose bytes outside the checksum field spell the standard check input.
  const d = Buffer.concat([Buffer.from('1234'), Buffer.alloc(4, 0xee), Buffer.from('56789')]);
  t.is(datagramChecksum(d), 0xcbf43926);
  // And a real one: CLOSE(transfer 0x01020304, DONE).
  const close = encodeUdpClose({ transferId: 0x01020304, reason: CloseReason.DONE });
  t.is(close.toString('hex'), 'f70105007b4f0fa20102030400');
  t.is(close.readUInt32BE(4), datagramChecksum(close));
});

/** An ACK with the two given ranges, encoded as ranges [a, b] even if they are out of order. */
function ackWithRanges(
  a: { start: number; end: number },
  b: { start: number; end: number },
): Buffer {
  const ordered = encodeUdpAck({
    transferId: 9,
    cumulative: 0,
    windowEnd: 10_000,
    tsEcho: 0,
    ranges: [
      { start: 100, end: 200 },
      { start: 300, end: 400 },
    ],
  });
  const d = Buffer.from(ordered);
  for (const [i, r] of [a, b].entries()) {
    d.writeUInt32BE(0, 33 + 16 * i);
    d.writeUInt32BE(r.start, 33 + 16 * i + 4);
    d.writeUInt32BE(0, 33 + 16 * i + 8);
    d.writeUInt32BE(r.end, 33 + 16 * i + 12);
  }
  d.writeUInt32BE(datagramChecksum(d), 4);
  return d;
}

test('UDP ACK: SACK ranges are sorted ascending on the wire; a descending list is refused', (t) => {
  const up = decodeDatagram(ackWithRanges({ start: 100, end: 200 }, { start: 300, end: 400 }));
  t.like(up, { type: DatagramType.ACK, ranges: [{ start: 100 }, { start: 300 }] });
  const down = ackWithRanges({ start: 300, end: 400 }, { start: 100, end: 200 });
  throwsCode(t, () => decodeDatagram(down), 'FT_ERR_BAD_VALUE');
  throwsCode(
    t,
    () =>
      encodeUdpAck({
        transferId: 9,
        cumulative: 0,
        windowEnd: 10_000,
        tsEcho: 0,
        ranges: [
          { start: 300, end: 400 },
          { start: 100, end: 200 },
        ],
      }),
    'FT_ERR_BAD_VALUE',
  );
});

test('UDP ACK: with more than 32 ranges the receiver keeps the latest arrival, then the lowest, sorted', (t) => {
  const P = 1000;
  const r = new UdpReceiver({ start: 0, end: 200 * P, payloadSize: P, window: 200 * P });
  // Every odd segment from 1 to 79: 40 separate ranges above the hole at 0.
  for (let seg = 1; seg < 80; seg += 2) r.onData(seg * P, Buffer.alloc(P), 1);
  // The latest arrival is a high one, far above the lowest 31.
  r.onData(121 * P, Buffer.alloc(P), 2);
  const ack = r.makeAck();
  t.is(ack.ranges.length, UdpLimits.MAX_ACK_RANGES);
  const starts = ack.ranges.map((x) => x.start);
  t.deepEqual(
    starts,
    [...starts].sort((a, b) => a - b),
    'ascending',
  );
  t.is(starts.at(-1), 121 * P, 'the range holding the latest arrival is included');
  t.deepEqual(
    starts.slice(0, 31),
    Array.from({ length: 31 }, (_, i) => (2 * i + 1) * P),
    'then the lowest ones',
  );
  t.notThrows(() => encodeUdpAck({ transferId: 1, ...ack }), 'and the encoder accepts it');
});

test('UDP FIN: sent at most 6 times in all, then the sender stops waiting for CLOSE', (t) => {
  const s = new UdpSender(
    { start: 0, end: 1000, payloadSize: 1000, window: 10_000, livenessMs: 60_000, pacing: false },
    0,
  );
  t.like(s.nextAction(0), { kind: 'accept' });
  s.onAck({ cumulative: 0, windowEnd: 1000, tsEcho: 0, ranges: [] }, 10);
  t.like(s.nextAction(10), { kind: 'data', offset: 0 });
  s.onAck({ cumulative: 1000, windowEnd: 1000, tsEcho: 0, ranges: [] }, 20);
  let fins = 0;
  let now = 20;
  for (let step = 0; step < 100 && s.phase === 'fin'; step++) {
    for (let a = s.nextAction(now); a !== undefined; a = s.nextAction(now)) {
      t.is(a.kind, 'fin');
      fins++;
    }
    now = Math.max(now + 1, Math.min(s.nextDeadline(now), now + 10_000));
  }
  t.is(fins, MAX_FIN_SENDS);
  t.is(MAX_FIN_SENDS, 6);
  t.is(s.phase, 'done');
});

test('UDP: ACK, DIGEST_REQUEST and CLOSE have flags 0; a set bit is refused', (t) => {
  const datagrams = [
    encodeUdpAck({ transferId: 1, cumulative: 0, windowEnd: 0, tsEcho: 0, ranges: [] }),
    encodeUdpDigestRequest({ transferId: 1, firstChunk: 0, count: 1 }),
    encodeUdpClose({ transferId: 1, reason: CloseReason.CANCEL }),
  ];
  for (const d of datagrams) {
    t.notThrows(() => decodeDatagram(d));
    for (const bit of [0x01, 0x80]) {
      const flagged = Buffer.from(d);
      flagged[3] = bit;
      flagged.writeUInt32BE(datagramChecksum(flagged), 4);
      throwsCode(t, () => decodeDatagram(flagged), 'FT_ERR_BAD_FLAGS');
    }
  }
});

test('UDP STAT_OK: the documented offsets are where the encoder puts each field', (t) => {
  const doc = readFileSync(new URL('../../../../docs/PROTOCOL.md', import.meta.url), 'utf8');
  const at = doc.indexOf('**STAT_OK** (82 bytes');
  t.true(at > 0, 'the UDP STAT_OK table');
  const rows = doc
    .slice(at)
    .split('\n')
    .slice(1)
    .filter((l) => /^\| \d/.test(l))
    .slice(0, 8)
    .map((l) => l.split('|').map((c) => c.trim()));
  const offsets = rows.map((r) => [Number(r[1]), Number(r[2])]);
  const root = Buffer.alloc(32, 0xab);
  const validator = Buffer.alloc(16, 0xcd);
  const d = encodeUdpStatOk({
    nonce: 0x11223344,
    kind: 2,
    size: 0x0102_0304_0506,
    mtimeMs: 0x0a0b_0c0d_0e0f,
    validator,
    algorithm: 1,
    chunkSize: 0x0010_0000,
    root,
  });
  t.is(d.length, 82);
  const field = (i: number) => {
    const [offset, size] = offsets[i]!;
    return d.subarray(offset, offset! + size!);
  };
  t.is(field(0).readUInt32BE(0), 0x11223344, 'nonce');
  t.is(field(1)[0], 2, 'kind');
  t.is(Number(field(2).readBigUInt64BE(0)), 0x0102_0304_0506, 'size');
  t.is(Number(field(3).readBigUInt64BE(0)), 0x0a0b_0c0d_0e0f, 'mtimeMs');
  t.true(field(4).equals(validator), 'validator');
  t.is(field(5)[0], 1, 'algorithm');
  t.is(field(6).readUInt32BE(0), 0x0010_0000, 'chunk size');
  t.true(field(7).equals(root), 'root');
  t.is(offsets.at(-1)![0]! + offsets.at(-1)![1]!, 82, 'the table covers the whole datagram');
});
