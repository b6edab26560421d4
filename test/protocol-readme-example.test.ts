/**
 * The decoding example of packages/protocol/README.md, run for real against a tiny ft server
 * built from the @ft/protocol encoders on 127.0.0.1, port 0. The code between the markers below
 * must be the README's example verbatim (a test checks that), so the README cannot rot.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import test from 'ava';
import {
  DigestAlgorithm,
  FrameDecoder as ServerDecoder,
  FrameType as T,
  ProtocolError,
  WireError,
  encodeEnd,
  encodeError,
  encodeFile,
  encodeWelcome,
  negotiateVersion,
} from '@ft/protocol';

// README example start
import { connect } from 'node:net';
import { FrameDecoder, FrameType, RemoteError, encodeGet, encodeHello } from '@ft/protocol';

/** Downloads a whole file from an ft server. */
export function fetchFile(host: string, port: number, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const decoder = new FrameDecoder({ accept: 'responses' });
    const body: Buffer[] = [];
    const socket = connect({ host, port });
    // Pipelining is allowed: HELLO and the request go out together.
    socket.write(encodeHello({ minVersion: 1, maxVersion: 1, name: 'example/1.0' }));
    socket.write(encodeGet({ requestId: 1, path, offset: 0, wantDigests: false }));
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const event of decoder.push(chunk)) {
          // Body bytes are views into the socket's chunk: keep a copy.
          if (event.kind === 'data') body.push(Buffer.from(event.chunk));
          else if (event.message.type === FrameType.ERROR) {
            const { code, message, requestId, retryAfterMs } = event.message;
            throw new RemoteError(code, message, requestId, retryAfterMs);
          } else if (event.message.type === FrameType.END) {
            socket.end();
            resolve(Buffer.concat(body));
          }
        }
      } catch (error) {
        socket.destroy(error as Error); // ProtocolError or RemoteError: both have a .code
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error('connection closed before END')));
  });
}
// README example end

const FILES = new Map<string, Buffer>([
  ['hello.txt', Buffer.from('hello world\n')],
  ['empty', Buffer.alloc(0)],
  ['big.bin', Buffer.alloc(3 * 1024 * 1024, 0x61)],
]);

/** Answers one connection: WELCOME, then FILE/body/END or ERROR NOT_FOUND per GET. */
function serve(socket: Socket): void {
  const decoder = new ServerDecoder({ accept: 'requests' });
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    let events;
    try {
      events = decoder.push(chunk);
    } catch (error) {
      const code = error instanceof ProtocolError ? (error.wireCode ?? 1) : WireError.INTERNAL;
      socket.end(encodeError({ requestId: 0, code, retryAfterMs: 0, message: String(error) }));
      return;
    }
    for (const event of events) {
      if (event.kind !== 'message') continue;
      const m = event.message;
      if (m.type === T.HELLO) {
        const version = negotiateVersion(m.minVersion, m.maxVersion);
        if (version === undefined) {
          socket.end(
            encodeError({
              requestId: 0,
              code: WireError.UNSUPPORTED_VERSION,
              retryAfterMs: 0,
              message: 'v1 only',
            }),
          );
          return;
        }
        socket.write(encodeWelcome({ version, maxRequestFrame: 8192, name: 'test-server' }));
      } else if (m.type === T.GET) {
        const data = FILES.get(m.path);
        if (data === undefined) {
          socket.write(
            encodeError({
              requestId: m.requestId,
              code: WireError.NOT_FOUND,
              retryAfterMs: 0,
              message: `${m.path}: not found`,
            }),
          );
          continue;
        }
        const length = data.length - m.offset;
        socket.write(
          encodeFile({
            requestId: m.requestId,
            size: data.length,
            offset: m.offset,
            length,
            mtimeMs: 0,
            validator: Buffer.alloc(16, 1),
            algorithm: DigestAlgorithm.NONE,
            chunkSize: 0,
            root: Buffer.alloc(32),
            firstChunk: 0,
            chunkDigests: [],
          }),
        );
        socket.write(data.subarray(m.offset));
        socket.write(encodeEnd({ requestId: m.requestId, bytesSent: length, status: 0 }));
      }
    }
  });
}

async function listen(
  handler: (socket: Socket) => void,
): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return { server, port: (server.address() as AddressInfo).port };
}

function withServer(t: import('ava').ExecutionContext, handler: (socket: Socket) => void) {
  return listen(handler).then((s) => {
    t.teardown(() => new Promise<void>((resolve) => s.server.close(() => resolve())));
    // Connections the tests leave open must not keep the server from closing.
    s.server.on('connection', (socket) => t.teardown(() => socket.destroy()));
    return s.port;
  });
}

test('the README example code is the code tested here', (t) => {
  const here = readFileSync(new URL('../protocol-readme-example.test.ts', import.meta.url), 'utf8');
  const readme = readFileSync(
    new URL('../../packages/protocol/README.md', import.meta.url),
    'utf8',
  );
  const example = /\/\/ README example start\n([\s\S]*?)\/\/ README example end\n/.exec(here)?.[1];
  t.truthy(example);
  t.true(readme.includes('```ts\n' + example + '```'), 'README shows the example verbatim');
});

test('the README example downloads a file', async (t) => {
  const port = await withServer(t, serve);
  t.deepEqual(await fetchFile('127.0.0.1', port, 'hello.txt'), FILES.get('hello.txt'));
  t.deepEqual(await fetchFile('127.0.0.1', port, 'empty'), Buffer.alloc(0));
  // Buffer.equals: ava's deepEqual is slow on megabytes.
  const big = await fetchFile('127.0.0.1', port, 'big.bin');
  t.is(big.length, FILES.get('big.bin')!.length);
  t.true(big.equals(FILES.get('big.bin')!));
});

test('the README example rejects with a RemoteError for an ERROR frame', async (t) => {
  const port = await withServer(t, serve);
  const error = await t.throwsAsync(fetchFile('127.0.0.1', port, 'missing'), {
    instanceOf: RemoteError,
  });
  t.is(error?.code, 'FT_NOT_FOUND');
  t.is(error?.requestId, 1);
  t.regex(error?.message ?? '', /missing: not found/);
});

test('the README example rejects with a ProtocolError when the server sends garbage', async (t) => {
  const port = await withServer(t, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
  });
  const error = await t.throwsAsync(fetchFile('127.0.0.1', port, 'hello.txt'), {
    instanceOf: ProtocolError,
  });
  t.is(error?.code, 'FT_ERR_UNKNOWN_FRAME_TYPE');
});

test('the README example rejects when the connection closes before END', async (t) => {
  const port = await withServer(t, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.end(encodeWelcome({ version: 1, maxRequestFrame: 8192, name: 'quitter' }));
  });
  await t.throwsAsync(fetchFile('127.0.0.1', port, 'hello.txt'), {
    message: 'connection closed before END',
  });
});

test('the README example rejects when nothing listens', async (t) => {
  const { server, port } = await listen(() => undefined);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const error = await t.throwsAsync(fetchFile('127.0.0.1', port, 'hello.txt'));
  t.is((error as NodeJS.ErrnoException | undefined)?.code, 'ECONNREFUSED');
});
