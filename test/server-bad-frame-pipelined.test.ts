/**
 * PROTOCOL.md §5.4 against the real ftserve: requests received before a bad frame are answered
 * first, in order, then the connection-level ERROR — also when they arrive in the same TCP read
 * as the bad frame (one write from the client), HELLO included.
 */
import test from 'ava';
import {
  FrameType,
  PROTOCOL_VERSION,
  WireError,
  encodeGet,
  encodeHello,
  encodeStat,
} from '@ft/protocol';
import type { Response } from '@ft/protocol';
import { servedFile } from './helpers/fixtures.js';
import { startFtserve } from './helpers/ftserve.js';
import { RawClient } from './helpers/raw-client.js';
import type { ClientEvent } from './helpers/raw-client.js';

/** A frame header of an unknown type: refused from its first byte. */
const BAD_FRAME = Buffer.from([0x5a, 0, 0, 0, 0, 0]);
const HELLO = encodeHello({
  minVersion: PROTOCOL_VERSION,
  maxVersion: PROTOCOL_VERSION,
  name: 'pipelined',
});

function types(events: readonly ClientEvent[]): (number | string)[] {
  return events.map((e) => (e.kind === 'message' ? e.message.type : e.kind));
}

function lastMessage(events: readonly ClientEvent[]): Response | undefined {
  const last = events.at(-1);
  return last?.kind === 'message' ? last.message : undefined;
}

test('a HELLO in the same write as a bad frame gets WELCOME, then ERROR(0)', async (t) => {
  const { root } = await servedFile(t, 'ft-badpipe-', 10);
  const server = await startFtserve(['--root', root, '--port', '0', '--no-udp']);
  t.teardown(() => server.stop());
  const c = await RawClient.connect(server.port, { hello: false });
  t.teardown(() => c.destroy());
  c.send(Buffer.concat([HELLO, BAD_FRAME]));
  const events = await c.untilClosed();
  t.deepEqual(types(events), [FrameType.WELCOME, FrameType.ERROR]);
  t.like(lastMessage(events), { requestId: 0, code: WireError.BAD_REQUEST });
});

test('requests in the same write as a bad frame are answered in order before the ERROR', async (t) => {
  const { root, data } = await servedFile(t, 'ft-badpipe-', 100_000);
  const server = await startFtserve(['--root', root, '--port', '0', '--no-udp']);
  t.teardown(() => server.stop());
  const c = await RawClient.connect(server.port, { hello: false });
  t.teardown(() => c.destroy());
  c.send(
    Buffer.concat([
      HELLO,
      encodeStat({ requestId: 1, path: 'f.bin', wantDigest: false }),
      encodeGet({ requestId: 2, path: 'f.bin', offset: 0, wantDigests: false }),
      encodeStat({ requestId: 3, path: 'missing', wantDigest: false }),
      BAD_FRAME,
    ]),
  );
  const events = await c.untilClosed();
  const frames = events.filter((e) => e.kind === 'message');
  t.deepEqual(types(frames), [
    FrameType.WELCOME,
    FrameType.STAT_OK,
    FrameType.FILE,
    FrameType.END,
    FrameType.ERROR,
    FrameType.ERROR,
  ]);
  const ids = frames.map((e) =>
    e.kind === 'message' && 'requestId' in e.message ? e.message.requestId : -1,
  );
  t.deepEqual(ids.slice(1), [1, 2, 2, 3, 0]);
  const body = Buffer.concat(events.flatMap((e) => (e.kind === 'data' ? [e.chunk] : [])));
  t.true(body.equals(data), 'the whole file before the ERROR');
  t.like(lastMessage(events), { requestId: 0, code: WireError.BAD_REQUEST });
});

test('the same requests with the bad frame in a later write get the same answers', async (t) => {
  const { root } = await servedFile(t, 'ft-badpipe-', 10);
  const server = await startFtserve(['--root', root, '--port', '0', '--no-udp']);
  t.teardown(() => server.stop());
  const c = await RawClient.connect(server.port);
  t.teardown(() => c.destroy());
  c.send(encodeStat({ requestId: 1, path: 'f.bin', wantDigest: false }));
  t.like(await c.nextMessage(), { type: FrameType.STAT_OK, requestId: 1 });
  c.send(BAD_FRAME);
  const events = await c.untilClosed();
  t.deepEqual(types(events), [FrameType.ERROR]);
  t.like(lastMessage(events), { requestId: 0, code: WireError.BAD_REQUEST });
});
