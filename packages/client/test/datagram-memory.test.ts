import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { FileWriter } from '../src/file-writer.js';
import { ChunkDigester } from '../src/hashing/chunk-digester.js';
import { canFreeEarly, deliverThenFree, ownsItsMemory } from '../src/udp/datagram-memory.js';

/** One datagram as Node delivers it: its own ArrayBuffer, the payload after a 24-byte header. */
function datagram(payload: Buffer): Buffer {
  const whole = Buffer.from(new ArrayBuffer(24 + payload.length));
  payload.copy(whole, 24);
  return whole.subarray(24);
}

test('this Node can free datagram memory early', (t) => {
  t.true(canFreeEarly());
});

test('only a payload that ends a buffer of its own counts as owning its memory', (t) => {
  t.true(ownsItsMemory(datagram(Buffer.alloc(100))));
  const shared = Buffer.from(new SharedArrayBuffer(200));
  t.false(ownsItsMemory(shared.subarray(24)));
  const big = Buffer.from(new ArrayBuffer(1000));
  t.false(ownsItsMemory(big.subarray(24, 124)), 'more bytes follow in the buffer');
  t.false(ownsItsMemory(big.subarray(500)), 'too much before it');
  // Small Buffers come from Node's shared pool: never detached.
  t.false(ownsItsMemory(Buffer.from('pooled bytes')));
});

test('the memory is freed when the sink returns without pinning', (t) => {
  const payload = datagram(Buffer.from('abcdef'));
  let seen = '';
  deliverThenFree(payload, (chunk) => {
    seen = chunk.toString();
  });
  t.is(seen, 'abcdef');
  t.is(payload.length, 0);
  t.is(payload.buffer.byteLength, 0);
});

test('the memory stays until every pin is released, in any order, each once', (t) => {
  const payload = datagram(randomBytes(1000));
  const copy = Buffer.from(payload);
  const releases: (() => void)[] = [];
  deliverThenFree(payload, (_chunk, pin) => {
    releases.push(pin(), pin());
  });
  t.true(payload.equals(copy), 'pinned: intact after the sink returned');
  releases[1]!();
  releases[1]!();
  t.true(
    payload.equals(copy),
    'one pin is still held (a second release of the same pin counts once)',
  );
  releases[0]!();
  t.is(payload.length, 0);
});

test('a sink that throws still frees what it did not pin, and the error goes up', (t) => {
  const payload = datagram(Buffer.from('xyz'));
  t.throws(
    () =>
      deliverThenFree(payload, () => {
        throw new Error('sink failed');
      }),
    { message: 'sink failed' },
  );
  t.is(payload.length, 0);
});

test('real datagrams through a writer and a digester: file and digests intact, memory freed after the write', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ft-dgram-mem-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const handle = await open(join(dir, 'out.bin'), 'w+');
  t.teardown(() => handle.close());
  const writer = new FileWriter(handle);
  const chunkSize = 256 * 1024;
  const data = randomBytes(4 * chunkSize + 12_345);
  const digests: Buffer[] = [];
  const digester = new ChunkDigester(chunkSize, 0, (i, d) => (digests[i] = d), { inline: true });
  const rx = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  const tx = createSocket('udp4');
  t.teardown(() => {
    rx.close();
    tx.close();
  });
  rx.bind(0, '127.0.0.1');
  await once(rx, 'listening');
  const size = 60_000;
  const payloads: Buffer[] = [];
  let position = 0;
  let arrived: () => void = () => {};
  rx.on('message', (msg: Buffer) => {
    const payload = msg.subarray(24);
    t.true(ownsItsMemory(payload));
    payloads.push(payload);
    deliverThenFree(payload, (chunk, pin) => {
      digester.updateShared(chunk, pin());
      writer.write(chunk, position, pin());
      position += chunk.length;
    });
    arrived();
  });
  const port = (rx.address() as AddressInfo).port;
  // One at a time, each once the previous one arrived: in order, and no receive buffer overflows.
  for (let at = 0; at < data.length; at += size) {
    const next = new Promise<void>((resolve) => (arrived = resolve));
    tx.send([Buffer.alloc(24), data.subarray(at, at + size)], port, '127.0.0.1');
    await next;
  }
  t.is(position, data.length);
  digester.finish();
  await digester.flushed();
  await writer.drain();
  t.true(
    payloads.every((p) => p.length === 0),
    'every datagram was freed once written',
  );
  t.true((await readFile(join(dir, 'out.bin'))).equals(data));
  for (let i = 0; i * chunkSize < data.length; i++) {
    const expected = createHash('sha256')
      .update(data.subarray(i * chunkSize, (i + 1) * chunkSize))
      .digest();
    t.true(digests[i]!.equals(expected), `chunk ${i}`);
  }
});
