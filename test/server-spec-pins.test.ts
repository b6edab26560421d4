/**
 * What docs/PROTOCOL.md now states about ftserve's TCP behaviour where a second implementation
 * used to have to guess (issue 14), checked against the real server with a raw client: reserved
 * request id 0, ranges past 2^53-1, path forms, control characters, special files, directory
 * STAT, a client's half-close, and the bounds of --max-request-size (MAX_REQUEST_FRAME).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  DigestAlgorithm,
  EntryKind,
  FRAME_HEADER_SIZE,
  FrameType,
  PROTOCOL_VERSION,
  WireError,
  encodeGet,
  encodeHello,
  encodeStat,
} from '@ft/protocol';
import type { Response } from '@ft/protocol';
import { runFtserve, startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { RawClient } from './helpers/raw-client.js';
import type { ClientEvent } from './helpers/raw-client.js';

const HELLO = encodeHello({
  minVersion: PROTOCOL_VERSION,
  maxVersion: PROTOCOL_VERSION,
  name: 'spec-pins',
});
const HELLO_CONTENT = Buffer.from('hello world\n');
const A_CONTENT = Buffer.from('contents of a\n');

/** A root with hello.txt, sub/a.txt, a FIFO, and a file whose name holds U+0085. */
async function serve(t: ExecutionContext, extra: string[] = []): Promise<Ftserve> {
  const root = await mkdtemp(join(tmpdir(), 'ft-pins-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await writeFile(join(root, 'hello.txt'), HELLO_CONTENT);
  await mkdir(join(root, 'sub'));
  await writeFile(join(root, 'sub', 'a.txt'), A_CONTENT);
  await writeFile(join(root, 'nel\u0085name'), 'x');
  execFileSync('mkfifo', [join(root, 'pipe')]);
  const server = await startFtserve(['--root', root, '--port', '0', '--no-udp', ...extra]);
  t.teardown(() => server.stop());
  return server;
}

async function client(t: ExecutionContext, server: Ftserve): Promise<RawClient> {
  const c = await RawClient.connect(server.port);
  t.teardown(() => c.destroy());
  return c;
}

const messages = (events: readonly ClientEvent[]): Response[] =>
  events.flatMap((e) => (e.kind === 'message' ? [e.message] : []));

test('§4.3: a request with requestId 0 is a protocol error, after the requests before it', async (t) => {
  const server = await serve(t);
  const c = await client(t, server);
  c.send(
    Buffer.concat([
      encodeStat({ requestId: 1, path: 'hello.txt', wantDigest: false }),
      Buffer.from(encodeStat({ requestId: 2, path: 'hello.txt', wantDigest: false })).fill(
        0,
        FRAME_HEADER_SIZE,
        FRAME_HEADER_SIZE + 4,
      ),
    ]),
  );
  const got = messages(await c.untilClosed());
  t.like(got, [
    { type: FrameType.STAT_OK, requestId: 1 },
    { type: FrameType.ERROR, requestId: 0, code: WireError.BAD_REQUEST },
  ]);
  t.is(got.length, 2);
  t.regex((got[1] as { message: string }).message, /requestId 0/);
});

test('§4.3: a GET whose offset + length passes 2^53-1 is refused, not clipped', async (t) => {
  const server = await serve(t);
  const c = await client(t, server);
  const offset = Number.MAX_SAFE_INTEGER - 10;
  const get = encodeGet({
    requestId: 1,
    path: 'hello.txt',
    offset,
    length: 10,
    wantDigests: false,
  });
  // length 10 -> 11: one past the largest addressable byte.
  get.writeUInt32BE(11, FRAME_HEADER_SIZE + 13 + 4);
  c.send(get);
  t.like(messages(await c.untilClosed()), [
    { type: FrameType.ERROR, requestId: 0, code: WireError.BAD_REQUEST },
  ]);
  // At the limit exactly it is an ordinary GET: past the end of a 12-byte file.
  const ok = await client(t, server);
  t.like(await ok.get({ path: 'hello.txt', offset, length: 10 }), {
    ok: false,
    error: { requestId: 1, code: WireError.OFFSET_BEYOND_EOF },
  });
});

test('§5.5: empty and "." components are ignored, so these path forms name the same thing', async (t) => {
  const server = await serve(t);
  const c = await client(t, server);
  for (const path of ['hello.txt/', './hello.txt', 'hello.txt/.', './/hello.txt//']) {
    const r = await c.get({ path, offset: 0 });
    t.true(r.ok && r.body.equals(HELLO_CONTENT), path);
  }
  for (const path of ['sub//a.txt', 'sub/./a.txt', 'sub/a.txt/.', './sub/a.txt/']) {
    const r = await c.get({ path, offset: 0 });
    t.true(r.ok && r.body.equals(A_CONTENT), path);
  }
  const canonical = await c.list('sub');
  for (const path of ['sub/', './sub', 'sub/.', 'sub//'])
    t.deepEqual(await c.list(path), canonical);
  t.deepEqual(await c.list('.'), await c.list(''));
  t.deepEqual(await c.list('./'), await c.list(''));
});

test('§5.5: control characters are Unicode Cc (C0, DEL, C1): refused even if the file exists', async (t) => {
  const server = await serve(t);
  const c = await client(t, server);
  for (const path of ['nel\u0085name', 'a\u0000b', 'a\u001fb', 'a\u007fb', 'a\u009fb']) {
    t.like(await c.stat(path), { type: FrameType.ERROR, code: WireError.ACCESS_DENIED }, path);
  }
  // The file is there, only its name is refused: LIST leaves it out rather than offering it.
  const entries = await c.list('');
  t.true(Array.isArray(entries));
  if (Array.isArray(entries)) t.false(entries.some((e) => e.name.includes('\u0085')));
  // U+00A0 (no-break space) is not a control character.
  t.like(await c.stat('a\u00a0b'), { type: FrameType.ERROR, code: WireError.NOT_FOUND });
});

test('§5.5: a special file (FIFO) is STAT_OK kind OTHER, listed as OTHER, and GET is ACCESS_DENIED', async (t) => {
  const server = await serve(t);
  const c = await client(t, server);
  t.like(await c.stat('pipe', true), {
    type: FrameType.STAT_OK,
    kind: EntryKind.OTHER,
    size: 0,
    algorithm: DigestAlgorithm.NONE,
    chunkSize: 0,
  });
  const entries = await c.list('');
  t.like(Array.isArray(entries) ? entries.find((e) => e.name === 'pipe') : undefined, {
    kind: EntryKind.OTHER,
    size: 0,
  });
  t.like(await c.get({ path: 'pipe', offset: 0 }), {
    ok: false,
    error: { code: WireError.ACCESS_DENIED },
  });
});

test('§4.8: a directory STAT_OK carries the size the file system reports, a validator, no digest', async (t) => {
  const server = await serve(t);
  const c = await client(t, server);
  const r = await c.stat('sub', true);
  t.is(r.type, FrameType.STAT_OK);
  if (r.type !== FrameType.STAT_OK) return;
  t.is(r.kind, EntryKind.DIRECTORY);
  t.is(r.size, (await stat(join(server.root, 'sub'))).size);
  t.is(r.algorithm, DigestAlgorithm.NONE, 'WANT_DIGEST is ignored for a directory');
  t.true(r.root.equals(Buffer.alloc(32)));
  t.is(r.validator.length, 16);
  t.false(r.validator.equals(Buffer.alloc(16)));
  // The listing's size for a directory is 0, as for anything but a regular file.
  const entries = await c.list('');
  t.like(Array.isArray(entries) ? entries.find((e) => e.name === 'sub') : undefined, {
    kind: EntryKind.DIRECTORY,
    size: 0,
  });
});

test('§5.4: after a clean half-close the server answers everything outstanding, then closes', async (t) => {
  const server = await serve(t);
  const c = await RawClient.connect(server.port, { hello: false });
  t.teardown(() => c.destroy());
  c.socket.end(
    Buffer.concat([
      HELLO,
      encodeStat({ requestId: 1, path: 'hello.txt', wantDigest: false }),
      encodeGet({ requestId: 2, path: 'sub/a.txt', offset: 0, wantDigests: false }),
    ]),
  );
  const events = await c.untilClosed();
  t.deepEqual(
    messages(events).map((m) => m.type),
    [FrameType.WELCOME, FrameType.STAT_OK, FrameType.FILE, FrameType.END],
    'no ERROR: a half-close is not a protocol error',
  );
  const body = Buffer.concat(events.flatMap((e) => (e.kind === 'data' ? [e.chunk] : [])));
  t.true(body.equals(A_CONTENT));

  // A half-close inside a frame is: the complete requests are answered, then ERROR(0).
  const cut = await RawClient.connect(server.port);
  t.teardown(() => cut.destroy());
  const stat2 = encodeStat({ requestId: 2, path: 'hello.txt', wantDigest: false });
  cut.socket.end(
    Buffer.concat([
      encodeStat({ requestId: 1, path: 'hello.txt', wantDigest: false }),
      stat2.subarray(0, 8),
    ]),
  );
  t.like(messages(await cut.untilClosed()), [
    { type: FrameType.STAT_OK, requestId: 1 },
    { type: FrameType.ERROR, requestId: 0, code: WireError.BAD_REQUEST },
  ]);
});

test('§3: --max-request-size (MAX_REQUEST_FRAME in WELCOME) takes 4135..1048570', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'ft-pins-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  for (const bad of ['4134', '1048571']) {
    const r = await runFtserve(['--root', root, '--port', '0', '--max-request-size', bad]);
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, /--max-request-size must be in 4135\.\.1048570/);
  }
  const server = await startFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--no-udp',
    '--max-request-size',
    '4135',
  ]);
  t.teardown(() => server.stop());
  const c = await RawClient.connect(server.port, { hello: false });
  t.teardown(() => c.destroy());
  c.send(HELLO);
  t.like(await c.nextMessage(), { type: FrameType.WELCOME, maxRequestFrame: 4135 });
  // The largest valid request still fits: a GET with a 4096-byte path is answered, not refused.
  const path = Array.from({ length: 20 }, () => 'p'.repeat(200)).join('/') + '/' + 'q'.repeat(76);
  t.is(Buffer.byteLength(path), 4096);
  t.like(
    await c.get({ path, offset: 0, length: 1, validator: Buffer.alloc(16), wantDigests: true }),
    {
      ok: false,
      error: { requestId: 1, code: WireError.NOT_FOUND },
    },
  );
});
