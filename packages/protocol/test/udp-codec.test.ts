import test from 'ava';
import {
  CloseReason,
  DatagramType,
  DigestAlgorithm,
  EndStatus,
  EntryKind,
  FtError,
  UdpChecksumError,
  UdpDataFlags,
  UdpRequestFlags,
  UdpVersionError,
  WireError,
  datagramChecksum,
  decodeDatagram,
  encodeUdpAccept,
  encodeUdpAck,
  encodeUdpClose,
  encodeUdpDataHeader,
  encodeUdpDigestRequest,
  encodeUdpDigests,
  encodeUdpError,
  encodeUdpFin,
  encodeUdpRequest,
  encodeUdpRetry,
  encodeUdpStat,
  encodeUdpStatOk,
} from '@ft/protocol';

const v16 = Buffer.alloc(16, 7);
const d32 = Buffer.alloc(32, 9);

/** One valid datagram of every type, with the message it must decode to (minus `type`). */
const samples: [string, Buffer, Record<string, unknown>][] = [
  [
    'REQUEST',
    encodeUdpRequest({
      nonce: 5,
      path: 'dir/ä.bin',
      offset: 2 ** 40,
      length: 10,
      validator: v16,
      wantDigests: true,
      maxPayload: 1200,
      window: 1 << 20,
      token: Buffer.alloc(24, 1),
    }),
    {
      nonce: 5,
      path: 'dir/ä.bin',
      offset: 2 ** 40,
      length: 10,
      wantDigests: true,
      window: 1 << 20,
    },
  ],
  [
    'STAT',
    encodeUdpStat({ nonce: 1, path: 'x', wantDigest: false, token: Buffer.alloc(0) }),
    { path: 'x' },
  ],
  [
    'ACK',
    encodeUdpAck({
      transferId: 3,
      cumulative: 100,
      windowEnd: 900,
      tsEcho: 77,
      ranges: [
        { start: 200, end: 300 },
        { start: 400, end: 500 },
      ],
    }),
    { transferId: 3, cumulative: 100, windowEnd: 900, tsEcho: 77 },
  ],
  [
    'DIGEST_REQUEST',
    encodeUdpDigestRequest({ transferId: 3, firstChunk: 4, count: 5 }),
    { count: 5 },
  ],
  [
    'CLOSE',
    encodeUdpClose({ transferId: 3, reason: CloseReason.CANCEL }),
    { reason: CloseReason.CANCEL },
  ],
  ['RETRY', encodeUdpRetry({ nonce: 9, token: Buffer.alloc(24, 2) }), { nonce: 9 }],
  [
    'ACCEPT',
    encodeUdpAccept({
      nonce: 9,
      transferId: 3,
      size: 3 << 20,
      offset: 1 << 20,
      length: 2 << 20,
      mtimeMs: 1_700_000_000_000,
      validator: v16,
      algorithm: DigestAlgorithm.SHA256_CHUNKS,
      chunkSize: 1 << 20,
      root: d32,
      firstChunk: 1,
      chunkCount: 2,
      payloadSize: 1200,
      window: 1 << 22,
      livenessMs: 10_000,
    }),
    { size: 3 << 20, firstChunk: 1, chunkCount: 2, livenessMs: 10_000 },
  ],
  [
    'DIGESTS',
    encodeUdpDigests({ transferId: 3, firstChunk: 2, digests: [d32, d32] }),
    { firstChunk: 2 },
  ],
  [
    'FIN',
    encodeUdpFin({ transferId: 3, status: EndStatus.CHANGED, end: 12 }),
    { status: EndStatus.CHANGED, end: 12 },
  ],
  [
    'STAT_OK',
    encodeUdpStatOk({
      nonce: 2,
      kind: EntryKind.FILE,
      size: 5,
      mtimeMs: 6,
      validator: v16,
      algorithm: DigestAlgorithm.NONE,
      chunkSize: 0,
      root: Buffer.alloc(32),
    }),
    { kind: EntryKind.FILE, size: 5 },
  ],
  [
    'ERROR',
    encodeUdpError({
      nonce: 2,
      transferId: 0,
      code: WireError.BUSY,
      retryAfterMs: 500,
      message: 'busy',
    }),
    { code: WireError.BUSY, retryAfterMs: 500, message: 'busy' },
  ],
];

function dataDatagram(): Buffer {
  const payload = Buffer.from('hello, datagram');
  return Buffer.concat([encodeUdpDataHeader(8, 2 ** 33, 1234, payload), payload]);
}

/** Rewrites a datagram's checksum after tampering, so only the tampered field is wrong. */
function reseal(b: Buffer): Buffer {
  if (b.length >= 8) b.writeUInt32BE(datagramChecksum(b), 4);
  return b;
}

for (const [name, datagram, expected] of samples) {
  test(`${name} round-trips through encode and decode`, (t) => {
    const m = decodeDatagram(datagram);
    t.is(m.type as number, DatagramType[name as keyof typeof DatagramType]);
    t.like(m, expected);
  });

  test(`${name}: every flipped byte and every truncation is refused with an FtError`, (t) => {
    for (let i = 0; i < datagram.length; i++) {
      const bad = Buffer.from(datagram);
      bad[i] = bad[i]! ^ 0x20;
      t.throws(() => decodeDatagram(bad), { instanceOf: FtError }, `byte ${i}`);
    }
    for (let n = 0; n < datagram.length; n++) {
      t.throws(
        () => decodeDatagram(reseal(Buffer.from(datagram.subarray(0, n)))),
        { instanceOf: FtError },
        `length ${n}`,
      );
    }
  });
}

test('DATA decodes with its payload as a view of the datagram, not a copy', (t) => {
  const d = dataDatagram();
  const m = decodeDatagram(d);
  if (m.type !== DatagramType.DATA) return t.fail();
  t.is(m.offset, 2 ** 33);
  t.is(m.tsval, 1234);
  t.is(m.payload.toString(), 'hello, datagram');
  t.is(m.payload.buffer, d.buffer);
});

test('a corrupted DATA payload fails the checksum', (t) => {
  const d = dataDatagram();
  d[d.length - 1] = d[d.length - 1]! ^ 1;
  t.throws(() => decodeDatagram(d), { instanceOf: UdpChecksumError });
});

test('HEADER_CRC DATA: the CRC covers the 24-byte header only, so only the header is checked', (t) => {
  const payload = Buffer.from('hello, datagram');
  const head = encodeUdpDataHeader(0x0102_0304, 65_000, 99, payload, 'header');
  t.is(head[3], UdpDataFlags.HEADER_CRC);
  t.is(head.readUInt32BE(4), datagramChecksum(head));
  const d = Buffer.concat([head, payload]);
  const m = decodeDatagram(d);
  if (m.type !== DatagramType.DATA) return t.fail();
  t.true(m.headerCrc);
  t.is(m.payload.toString(), 'hello, datagram');
  // The payload is left to the chunk digests; a flipped header byte still fails the CRC.
  const body = Buffer.from(d);
  body[body.length - 1] = body[body.length - 1]! ^ 1;
  t.notThrows(() => decodeDatagram(body));
  const header = Buffer.from(d);
  header[13] = header[13]! ^ 1;
  t.throws(() => decodeDatagram(header), { instanceOf: UdpChecksumError });
  // Whole-datagram DATA says so too.
  const full = decodeDatagram(dataDatagram());
  t.false(full.type === DatagramType.DATA && full.headerCrc);
});

test('REQUEST carries HEADER_CRC as flag 0x10; without it the field is absent', (t) => {
  const base = {
    nonce: 5,
    path: 'a',
    offset: 0,
    wantDigests: true,
    maxPayload: 65_000,
    window: 1 << 20,
    token: Buffer.alloc(0),
  };
  const asked = encodeUdpRequest({ ...base, headerCrc: true });
  t.is(asked[3]! & UdpRequestFlags.HEADER_CRC, 0x10);
  const m = decodeDatagram(asked);
  t.true(m.type === DatagramType.REQUEST && m.headerCrc === true);
  const plain = decodeDatagram(encodeUdpRequest(base));
  t.true(plain.type === DatagramType.REQUEST && plain.headerCrc === undefined);
});

test('another datagram version is refused with UNSUPPORTED_VERSION', (t) => {
  const d = Buffer.from(samples[0]![1]);
  d[1] = 2;
  const e = t.throws(() => decodeDatagram(reseal(d)), { instanceOf: UdpVersionError });
  t.is(e?.wireCode, WireError.UNSUPPORTED_VERSION);
});

test('a 64-bit offset above 2^53-1 is refused, not rounded', (t) => {
  const d = Buffer.from(samples[0]![1]);
  d.writeUInt32BE(0x0020_0000, 12); // offset high word: 2^53
  t.throws(() => decodeDatagram(reseal(d)), { code: 'FT_ERR_UNSAFE_INTEGER' });
});

test('unknown types and unknown flag bits are refused', (t) => {
  const unknown = Buffer.from(samples[4]![1]);
  unknown[2] = 0x33;
  t.throws(() => decodeDatagram(reseal(unknown)), { code: 'FT_ERR_UNKNOWN_FRAME_TYPE' });
  const flags = Buffer.from(samples[2]![1]);
  flags[3] = 0x80;
  t.throws(() => decodeDatagram(reseal(flags)), { code: 'FT_ERR_BAD_FLAGS' });
});

test('ACK ranges must be sorted, disjoint and above the cumulative offset', (t) => {
  const base = { transferId: 1, cumulative: 100, windowEnd: 1000, tsEcho: 0 };
  for (const ranges of [
    [{ start: 50, end: 150 }],
    [{ start: 300, end: 200 }],
    [
      { start: 200, end: 300 },
      { start: 300, end: 400 },
    ],
    [
      { start: 400, end: 500 },
      { start: 200, end: 300 },
    ],
  ]) {
    t.throws(() => encodeUdpAck({ ...base, ranges }), { instanceOf: FtError });
  }
  t.throws(() =>
    encodeUdpAck({
      ...base,
      ranges: Array.from({ length: 33 }, (_, i) => ({ start: 200 + 10 * i, end: 205 + 10 * i })),
    }),
  );
});

test('ACCEPT must announce exactly the chunks that overlap its range', (t) => {
  const d = Buffer.from(samples[6]![1]);
  // chunkCount is at body offset 4+4+8*4+16+1+4+32+4 = 97, datagram offset 105.
  d.writeUInt32BE(3, 105);
  t.throws(() => decodeDatagram(reseal(d)), { code: 'FT_ERR_BAD_VALUE' });
});

test('REQUEST and STAT carry an optional access token behind HAS_CREDENTIAL, after the path', (t) => {
  const base = {
    nonce: 5,
    path: 'docs/a.txt',
    offset: 0,
    wantDigests: false,
    maxPayload: 1200,
    window: 1 << 20,
    token: Buffer.alloc(24, 1),
  };
  const plain = encodeUdpRequest(base);
  const withToken = encodeUdpRequest({ ...base, credential: 'ft_secret' });
  t.is(plain[3]! & 0x08, 0);
  t.is(withToken[3]! & 0x08, 0x08);
  t.is(withToken.length, plain.length + 2 + 9);
  t.is(withToken.subarray(-9).toString(), 'ft_secret');
  t.like(decodeDatagram(withToken), { type: DatagramType.REQUEST, credential: 'ft_secret' });
  t.false('credential' in decodeDatagram(plain));
  const stat = encodeUdpStat({
    nonce: 1,
    path: 'x',
    wantDigest: true,
    token: Buffer.alloc(0),
    credential: 'ft_s',
  });
  t.is(stat[3], 0x03);
  t.like(decodeDatagram(stat), { type: DatagramType.STAT, wantDigest: true, credential: 'ft_s' });
  // An empty or over-long token is refused by the encoder and the decoder alike.
  t.throws(() => encodeUdpRequest({ ...base, credential: '' }), { instanceOf: FtError });
  t.throws(() => encodeUdpStat({ ...base, wantDigest: false, credential: 'x'.repeat(257) }), {
    instanceOf: FtError,
  });
  const empty = Buffer.concat([plain, Buffer.from([0, 0])]);
  empty[3] = empty[3]! | 0x08;
  empty.writeUInt32BE(datagramChecksum(empty), 4);
  t.throws(() => decodeDatagram(empty), { instanceOf: FtError, message: /empty credential/ });
  // The flag without the field: truncated.
  const missing = Buffer.from(plain);
  missing[3] = missing[3]! | 0x08;
  missing.writeUInt32BE(datagramChecksum(missing), 4);
  t.throws(() => decodeDatagram(missing), { instanceOf: FtError });
});
