/**
 * serveGet's END status when the file changes after it was opened (issue 16, item 11): for the
 * small-range path (read whole, then checked) and the streamed path alike. The change is made
 * by a FileService whose digest lookup rewrites the file, i.e. between the open and the read, as
 * a concurrent writer would; the handler runs against a real loopback socket.
 */
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { EndStatus, FrameDecoder, FrameType, encodeWelcome } from '@ft/protocol';
import type { End, FileHeader } from '@ft/protocol';
import { BufferPool, SMALL_RANGE } from '../src/files/file-sender.js';
import { FileService } from '../src/files/file-service.js';
import type { DigestLookup, OpenedFile } from '../src/files/file-service.js';
import { Logger } from '../src/logger.js';
import { serveGet } from '../src/tcp/get-handler.js';
import type { RequestContext } from '../src/tcp/request-context.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'ft-get-handler-')));
test.after.always(() => rmSync(root, { recursive: true, force: true }));

/** A FileService that calls `after` once the digests are known, before any byte is read. */
class RewritingFiles extends FileService {
  constructor(private readonly after: () => void) {
    super({ root, dotfiles: false });
  }
  override async lookupDigests(
    opened: OpenedFile,
    recheck?: { offset: number; length?: number | undefined },
  ): Promise<DigestLookup> {
    const lookup = await super.lookupDigests(opened, recheck);
    this.after();
    return lookup;
  }
}

/** Runs one GET of `name` through serveGet and returns what the client received. */
async function serve(
  t: ExecutionContext,
  name: string,
  after: () => void,
): Promise<{ header: FileHeader; body: Buffer; end: End }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const socket = await accepted;
  t.teardown(() => {
    client.destroy();
    socket.destroy();
  });
  const decoder = new FrameDecoder({ accept: 'responses' });
  decoder.push(encodeWelcome({ version: 1, maxRequestFrame: 8192, name: 'test' }));
  const received = new Promise<{ header: FileHeader; body: Buffer; end: End }>(
    (resolve, reject) => {
      let header: FileHeader | undefined;
      const body: Buffer[] = [];
      client.on('data', (chunk: Buffer) => {
        for (const e of decoder.push(chunk)) {
          if (e.kind === 'data') body.push(Buffer.from(e.chunk));
          else if (e.kind === 'message' && e.message.type === FrameType.FILE) header = e.message;
          else if (e.kind === 'message' && e.message.type === FrameType.END && header)
            resolve({ header, body: Buffer.concat(body), end: e.message });
        }
      });
      client.on('close', () => reject(new Error('closed before END')));
    },
  );
  const ctx: RequestContext = {
    socket,
    files: new RewritingFiles(after),
    logger: new Logger({ format: 'json', file: undefined, silent: true }),
    peer: 'test',
    address: '127.0.0.1',
    buffers: new BufferPool(),
    result: 'closed',
    countSent: () => {},
    destroy: () => socket.destroy(),
    pauseIdleTimer: () => {},
    resumeIdleTimer: () => {},
    noteProgress: () => {},
  };
  await serveGet(ctx, {
    type: FrameType.GET,
    requestId: 1,
    path: name,
    offset: 0,
    wantDigests: true,
  });
  return received;
}

for (const [path, size] of [
  ['small', 5000],
  ['large', SMALL_RANGE * 4 + 17],
] as const) {
  test(`${path} range: a file rewritten after the open ends with END CHANGED, else OK`, async (t) => {
    const file = join(root, `${path}.bin`);
    writeFileSync(file, randomBytes(size));
    const steady = await serve(t, `${path}.bin`, () => {});
    t.is(steady.end.status, EndStatus.OK);
    t.is(steady.body.length, size);

    const changing = await serve(t, `${path}.bin`, () => writeFileSync(file, randomBytes(size)));
    t.is(changing.body.length, size, 'the announced bytes are all sent');
    t.is(changing.end.status, EndStatus.CHANGED);
  });
}
