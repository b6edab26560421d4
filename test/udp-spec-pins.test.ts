/**
 * What docs/PROTOCOL.md now states about ftserve's UDP answers where a second implementation
 * used to have to guess (issue 14): malformed requests (nonce 0, payload size or window out of
 * range) are dropped without an answer, a version mismatch is answered with nonce 0, and a
 * DIGEST_REQUEST is clipped to the transfer's chunks or dropped when it lies past them. A REQUEST
 * is refused with the wire codes and messages a TCP GET gets (the same check, files/get-range.ts).
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  DatagramType,
  WireError,
  datagramChecksum,
  decodeDatagram,
  encodeUdpDigestRequest,
  encodeUdpRequest,
  sha256,
} from '@ft/protocol';
import type { UdpMessage, UdpRequest } from '@ft/protocol';
import { servedFile } from './helpers/fixtures.js';
import { startFtserve } from './helpers/ftserve.js';

interface Peer {
  send(d: Buffer): void;
  /** The next decodable datagram matching `want`, within `ms`. */
  next(want: (m: UdpMessage) => boolean, ms?: number): Promise<UdpMessage>;
}

async function peer(t: ExecutionContext, port: number): Promise<Peer> {
  const socket: Socket = createSocket('udp4');
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  await new Promise<void>((resolve) => socket.connect(port, '127.0.0.1', () => resolve()));
  const seen: UdpMessage[] = [];
  let wake: (() => void) | undefined;
  socket.on('message', (msg: Buffer) => {
    try {
      seen.push(decodeDatagram(msg));
    } catch {
      seen.push({ type: -1 } as unknown as UdpMessage); // undecodable: kept, so order shows
    }
    wake?.();
  });
  return {
    send: (d) => socket.send(d),
    async next(want, ms = 10_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const i = seen.findIndex(want);
        if (i >= 0) return seen.splice(0, i + 1).at(-1)!;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('no matching datagram in time');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    },
  };
}

const request = (m: Partial<Omit<UdpRequest, 'type'>> = {}): Buffer =>
  encodeUdpRequest({
    nonce: 1,
    path: 'f.bin',
    offset: 0,
    wantDigests: false,
    maxPayload: 1200,
    window: 64 * 1024,
    token: Buffer.alloc(0),
    ...m,
  });

/** `d` with bytes at `at` replaced and the CRC recomputed: well formed except for that field. */
function patched(d: Buffer, at: number, bytes: number[]): Buffer {
  const out = Buffer.from(d);
  Buffer.from(bytes).copy(out, at);
  out.writeUInt32BE(datagramChecksum(out), 4);
  return out;
}

const anything = (): boolean => true;

async function serve(t: ExecutionContext, size = 10) {
  const f = await servedFile(t, 'ft-udp-pins-', size);
  const server = await startFtserve(['--root', f.root, '--port', '0']);
  t.teardown(() => server.stop());
  return { f, server };
}

test('a REQUEST with nonce 0, or payload size or window out of range, is dropped unanswered', async (t) => {
  const { server } = await serve(t);
  const p = await peer(t, server.port);
  const malformed = [
    patched(request({ nonce: 7 }), 8, [0, 0, 0, 0]), // nonce 0
    patched(request({ nonce: 7 }), 44, [0x01, 0xff]), // maxPayload 511
    patched(request({ nonce: 7 }), 44, [0xfd, 0xe9]), // maxPayload 65001
    patched(request({ nonce: 7 }), 46, [0, 0, 0x03, 0xff]), // window 1023
    patched(request({ nonce: 7 }), 46, [0x04, 0, 0, 1]), // window 64 MiB + 1
  ];
  for (const [i, bad] of malformed.entries()) {
    p.send(bad);
    // A valid REQUEST right behind it: its RETRY must be the first answer of all.
    p.send(request({ nonce: 100 + i }));
    const first = await p.next(anything);
    t.like(first, { type: DatagramType.RETRY, nonce: 100 + i }, `malformed #${i}`);
  }
});

test('a datagram of another protocol version gets ERROR(UNSUPPORTED_VERSION) with nonce 0', async (t) => {
  const { server } = await serve(t);
  const p = await peer(t, server.port);
  const future = Buffer.from(request({ nonce: 55 }));
  future[1] = 2;
  p.send(future);
  t.like(await p.next(anything), {
    type: DatagramType.ERROR,
    nonce: 0,
    transferId: 0,
    code: WireError.UNSUPPORTED_VERSION,
  });
});

test('a DIGEST_REQUEST is clipped to the transfer chunks, and dropped when it lies past them', async (t) => {
  const { f, server } = await serve(t);
  const p = await peer(t, server.port);
  p.send(request({ nonce: 9, wantDigests: true }));
  const retry = await p.next((m) => m.type === DatagramType.RETRY);
  if (retry.type !== DatagramType.RETRY) return;
  p.send(request({ nonce: 9, wantDigests: true, token: retry.token }));
  const accept = await p.next((m) => m.type === DatagramType.ACCEPT);
  if (accept.type !== DatagramType.ACCEPT) return;
  t.like(accept, { firstChunk: 0, chunkCount: 1 });
  const transferId = accept.transferId;
  p.send(encodeUdpDigestRequest({ transferId, firstChunk: 1, count: 5 })); // past the end
  p.send(encodeUdpDigestRequest({ transferId, firstChunk: 0, count: 10 })); // overlaps
  const digests = await p.next((m) => m.type === DatagramType.DIGESTS);
  t.like(digests, { type: DatagramType.DIGESTS, firstChunk: 0 });
  if (digests.type !== DatagramType.DIGESTS) return;
  t.is(digests.digests.length, 1, 'clipped to the one chunk there is');
  t.true(digests.digests[0]!.equals(sha256(f.data)));
});

test('a REQUEST for another version is PRECONDITION_FAILED, one past EOF OFFSET_BEYOND_EOF, as over TCP', async (t) => {
  const { server } = await serve(t);
  const p = await peer(t, server.port);
  /** The answer to a REQUEST, after the token round. */
  const answer = async (nonce: number, fields: Partial<UdpRequest>): Promise<UdpMessage> => {
    p.send(request({ nonce, ...fields }));
    const retry = await p.next((m) => m.type === DatagramType.RETRY && m.nonce === nonce);
    if (retry.type !== DatagramType.RETRY) throw new Error('no RETRY');
    p.send(request({ nonce, ...fields, token: retry.token }));
    return p.next((m) => m.type !== DatagramType.RETRY && 'nonce' in m && m.nonce === nonce);
  };
  t.like(await answer(21, { validator: Buffer.alloc(16, 0xee) }), {
    type: DatagramType.ERROR,
    code: WireError.PRECONDITION_FAILED,
    message: 'the file has changed',
  });
  t.like(await answer(22, { offset: 11 }), {
    type: DatagramType.ERROR,
    code: WireError.OFFSET_BEYOND_EOF,
    message: 'offset 11 is beyond the size 10',
  });
  t.like(await answer(23, { offset: 10 }), { type: DatagramType.ACCEPT, length: 0 });
});
