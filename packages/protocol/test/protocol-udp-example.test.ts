/**
 * The UDP worked example of docs/PROTOCOL.md ("UDP datagrams" → "Worked example") holds the
 * exact bytes of one download; this test encodes the exchange it describes with @ft/protocol
 * and compares, then decodes every documented datagram (CRC included) back to its fields.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import {
  CloseReason,
  DatagramType,
  DigestAlgorithm,
  EndStatus,
  decodeDatagram,
  encodeUdpAccept,
  encodeUdpAck,
  encodeUdpClose,
  encodeUdpDataHeader,
  encodeUdpFin,
  encodeUdpRequest,
  encodeUdpRetry,
} from '../src/index.js';

const doc = readFileSync(new URL('../../../../docs/PROTOCOL.md', import.meta.url), 'utf8');

/** The ```hex blocks under "## UDP datagrams" → "### Worked example", as bytes, in order. */
function udpExampleBlocks(): Buffer[] {
  const udp = doc.slice(doc.indexOf('\n## UDP datagrams\n'));
  const start = udp.indexOf('\n### Worked example\n');
  if (start < 0) throw new Error('no UDP worked example');
  const rest = udp.slice(start + 1);
  const end = rest.indexOf('\n### ', 1);
  const text = end < 0 ? rest : rest.slice(0, end);
  return [...text.matchAll(/```hex\n([\s\S]*?)```/g)].map(([, body]) =>
    Buffer.from(
      body!
        .split('\n')
        .map((l) => l.split('#')[0]!.replace(/\s+/g, ''))
        .join(''),
      'hex',
    ),
  );
}

const content = Buffer.from('hello world\n');
const transferId = 0x1234abcd;
const nonce = 0x2a000001;
const token = Buffer.from('0000018bcfe568005f0c2e1d9a7b3c48e6f1a2b4c8d0e3f7', 'hex');
// The validator is opaque (its derivation is the server's business); the one of the TCP example.
const validator = Buffer.from('bcda518c0a1b1062c6226938fb1386b8', 'hex');
const request = (t: Buffer): Buffer =>
  encodeUdpRequest({
    nonce,
    path: 'hello.txt',
    offset: 0,
    wantDigests: false,
    maxPayload: 1200,
    window: 4 * 1024 * 1024,
    token: t,
  });

/** The exchange the example describes, in its order. */
const EXCHANGE: { name: string; bytes: Buffer }[] = [
  { name: 'REQUEST', bytes: request(Buffer.alloc(0)) },
  { name: 'RETRY', bytes: encodeUdpRetry({ nonce, token }) },
  { name: 'REQUEST with token', bytes: request(token) },
  {
    name: 'ACCEPT',
    bytes: encodeUdpAccept({
      nonce,
      transferId,
      size: 12,
      offset: 0,
      length: 12,
      mtimeMs: 1_700_000_000_000,
      validator,
      algorithm: DigestAlgorithm.NONE,
      chunkSize: 0,
      root: Buffer.alloc(32),
      firstChunk: 0,
      chunkCount: 0,
      payloadSize: 1200,
      window: 4 * 1024 * 1024,
      livenessMs: 10_000,
    }),
  },
  {
    name: 'first ACK',
    bytes: encodeUdpAck({ transferId, cumulative: 0, windowEnd: 12, tsEcho: 0, ranges: [] }),
  },
  {
    name: 'DATA',
    bytes: Buffer.concat([encodeUdpDataHeader(transferId, 0, 123_456_789, content), content]),
  },
  {
    name: 'ACK',
    bytes: encodeUdpAck({
      transferId,
      cumulative: 12,
      windowEnd: 12,
      tsEcho: 123_456_789,
      ranges: [],
    }),
  },
  { name: 'FIN', bytes: encodeUdpFin({ transferId, status: EndStatus.OK, end: 12 }) },
  { name: 'CLOSE', bytes: encodeUdpClose({ transferId, reason: CloseReason.DONE }) },
];

test('the UDP worked example is exactly what the encoders produce', (t) => {
  const blocks = udpExampleBlocks();
  t.is(blocks.length, EXCHANGE.length);
  for (const [i, { name, bytes }] of EXCHANGE.entries()) {
    t.is(blocks[i]?.toString('hex'), bytes.toString('hex'), name);
  }
});

test('every datagram of the UDP worked example decodes (CRC valid) to the fields it describes', (t) => {
  const [req, retry, req2, accept, ack1, data, ack2, fin, close] = udpExampleBlocks().map((b) =>
    decodeDatagram(b),
  );
  t.like(req, { type: DatagramType.REQUEST, nonce, path: 'hello.txt', length: undefined });
  t.is(req?.type === DatagramType.REQUEST && req.token.length, 0);
  t.like(retry, { type: DatagramType.RETRY, nonce });
  t.true(retry?.type === DatagramType.RETRY && retry.token.equals(token));
  t.true(req2?.type === DatagramType.REQUEST && req2.token.equals(token));
  t.like(accept, { type: DatagramType.ACCEPT, nonce, transferId, size: 12, length: 12 });
  t.like(ack1, { type: DatagramType.ACK, cumulative: 0, windowEnd: 12, tsEcho: 0 });
  t.true(data?.type === DatagramType.DATA && data.payload.equals(content));
  t.like(ack2, { type: DatagramType.ACK, cumulative: 12, tsEcho: 123_456_789 });
  t.like(fin, { type: DatagramType.FIN, status: EndStatus.OK, end: 12 });
  t.like(close, { type: DatagramType.CLOSE, reason: CloseReason.DONE });
  // The RETRY is the stateless answer to an unvalidated REQUEST: at most 3x its size.
  t.true(EXCHANGE[1]!.bytes.length <= 3 * EXCHANGE[0]!.bytes.length);
});
