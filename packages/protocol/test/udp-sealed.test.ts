/** Encrypted UDP sessions: SealedChannel's construction, checked against node:crypto by hand, and the replay window. */
import { createDecipheriv, randomBytes } from 'node:crypto';
import test from 'ava';
import {
  DatagramType,
  REPLAY_WINDOW,
  ReplayWindow,
  SEALED_HEADER_SIZE,
  SealedChannel,
  UDP_KEY_MATERIAL_SIZE,
  decodeDatagram,
  encodeUdpClose,
  encodeUdpDataHeader,
  sealedSessionId,
} from '@ft/protocol';

const material = randomBytes(UDP_KEY_MATERIAL_SIZE);
const sid = randomBytes(8);
const pair = () => ({
  client: new SealedChannel(sid, material, 'client'),
  server: new SealedChannel(sid, material, 'server'),
});
const join = (parts: Buffer[]): Buffer => Buffer.concat(parts);

test('the layout, AAD and nonce are those of PROTOCOL.md (decrypted here with node:crypto)', (t) => {
  const { server } = pair();
  const payload = randomBytes(3000);
  const header = encodeUdpDataHeader(7, 0, 99, payload);
  server.seal(encodeUdpClose({ transferId: 1, reason: 0 })); // pn 0
  const sealed = join(server.seal([header, payload])); // pn 1
  t.is(sealed[0], 0xf7);
  t.is(sealed[1], 1);
  t.is(sealed[2], DatagramType.SEALED_TO_CLIENT);
  t.is(sealed[3], 0);
  t.true(sealed.subarray(4, 12).equals(sid));
  t.is(sealed.readUInt32BE(12), 0);
  t.is(sealed.readUInt32BE(16), 1);
  t.is(sealed.length, SEALED_HEADER_SIZE + header.length + payload.length + 16);
  // server → client: key material[32..64), iv material[76..88) XOR pn in its last 8 bytes.
  const nonce = Buffer.from(material.subarray(76, 88));
  nonce[11] = nonce[11]! ^ 1;
  const d = createDecipheriv('aes-256-gcm', material.subarray(32, 64), nonce);
  d.setAAD(sealed.subarray(0, 20));
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  const inner = Buffer.concat([d.update(sealed.subarray(20, sealed.length - 16)), d.final()]);
  t.true(inner.equals(Buffer.concat([header, payload])));
  t.like(decodeDatagram(inner), { type: DatagramType.DATA, transferId: 7 });
});

test('each end opens what the other sealed, once; its own direction does not open', (t) => {
  const { client, server } = pair();
  const close = encodeUdpClose({ transferId: 5, reason: 1 });
  const up = join(client.seal(close));
  t.true(sealedSessionId(up, 'client')?.equals(sid));
  t.is(sealedSessionId(up, 'server'), undefined);
  const opened = server.open(up);
  t.true(Buffer.isBuffer(opened) && opened.equals(close));
  t.is(server.open(up), 'replayed');
  t.is(server.stats.replayed, 1);
  // A client cannot open its own datagram (other key), nor a server its own.
  t.is(client.open(up), 'forged');
  const other = pair().server;
  t.is(other.open(join(other.seal(close))), 'forged');
});

test('a flipped bit anywhere (header, ciphertext, tag) is forged and does not move the window', (t) => {
  const { client, server } = pair();
  const sealed = join(client.seal(encodeUdpClose({ transferId: 5, reason: 0 })));
  for (let i = 4; i < sealed.length; i++) {
    const bad = Buffer.from(sealed);
    bad[i] = bad[i]! ^ 0x01;
    const r = server.open(bad);
    t.true(r === 'forged' || r === 'malformed', `byte ${i}: ${String(r)}`);
  }
  // The genuine one still opens: forgeries marked nothing.
  t.true(Buffer.isBuffer(server.open(sealed)));
});

test('out of order within the window is accepted, below it too old', (t) => {
  const { client, server } = pair();
  const sent = Array.from({ length: REPLAY_WINDOW + 10 }, (_, i) =>
    join(client.seal(encodeUdpClose({ transferId: i + 1, reason: 0 }))),
  );
  t.true(Buffer.isBuffer(server.open(sent[5]!)));
  t.true(Buffer.isBuffer(server.open(sent[2]!)));
  t.is(server.open(sent[2]!), 'replayed');
  t.true(Buffer.isBuffer(server.open(sent.at(-1)!)));
  t.is(server.open(sent[3]!), 'too-old');
  t.true(Buffer.isBuffer(server.open(sent.at(-5)!)));
  t.is(server.stats.tooOld, 1);
});

test('ReplayWindow: fresh, replayed, too old; long jumps clear the bitmap', (t) => {
  const w = new ReplayWindow();
  t.is(w.check(0), 'fresh');
  w.mark(0);
  t.is(w.check(0), 'replayed');
  w.mark(10);
  t.is(w.check(5), 'fresh');
  w.mark(5);
  t.is(w.check(5), 'replayed');
  w.mark(10 + 3 * REPLAY_WINDOW);
  t.is(w.check(10 + 2 * REPLAY_WINDOW), 'too-old');
  t.is(w.check(10 + 2 * REPLAY_WINDOW + 1), 'fresh');
  // Same slot as 5 (mod the window), marked before the jump: the jump cleared it.
  t.is(w.check(5 + 3 * REPLAY_WINDOW), 'fresh');
  t.is(w.check(10 + 3 * REPLAY_WINDOW), 'replayed');
});
