/**
 * Connections that carry one GET (the requests/s bench's pattern, issue 9): the server closes
 * such a connection at once when its client has ended and the answer is in the kernel, and it
 * names a file's version from a validator cached per path. Neither may change what a client
 * gets: the whole answer before the server's FIN (whether the client closes after END or
 * half-closes right after its GET), descriptors back at their baseline, and a new validator
 * for every change that validatorOf sees.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  EndStatus,
  FrameDecoder,
  FrameType,
  MAX_PROTOCOL_VERSION,
  MIN_PROTOCOL_VERSION,
  encodeGet,
  encodeHello,
  validatorOf,
} from '@ft/protocol';
import { FileService } from '@ft/server';
import { serveRoot } from './helpers/ftserve.js';
import { childrenOf, fdCount, waitFor } from './helpers/procfs.js';

const SIZE = 4096;
const MTIME = 1_700_000_000;

async function tree(t: ExecutionContext): Promise<{ root: string; data: Buffer }> {
  const dir = await mkdtemp(join(tmpdir(), 'ft-one-request-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'srv');
  await mkdir(join(root, 'small'), { recursive: true });
  const data = randomBytes(SIZE);
  await writeFile(join(root, 'small', 'f.bin'), data);
  return { root, data };
}

interface Answer {
  welcome: boolean;
  length: number;
  body: Buffer;
  endStatus: number | undefined;
  /** The stream ended with the server's FIN (not a reset, not our own close). */
  ended: boolean;
  error: string | undefined;
}

/** One connection: HELLO + GET in one write (then a half-close if asked), read to the server's close. */
function oneGet(port: number, path: string, halfClose: boolean): Promise<Answer> {
  return new Promise((resolve) => {
    const answer: Answer = {
      welcome: false,
      length: -1,
      body: Buffer.alloc(0),
      endStatus: undefined,
      ended: false,
      error: undefined,
    };
    const decoder = new FrameDecoder({ accept: 'responses' });
    const parts: Buffer[] = [];
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => {
      const bytes = Buffer.concat([
        encodeHello({
          minVersion: MIN_PROTOCOL_VERSION,
          maxVersion: MAX_PROTOCOL_VERSION,
          name: 'one-request-test',
        }),
        encodeGet({ requestId: 1, path, offset: 0, wantDigests: false }),
      ]);
      if (halfClose) socket.end(bytes);
      else socket.write(bytes);
    });
    socket.setTimeout(20_000, () => socket.destroy(new Error('timeout')));
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const e of decoder.push(chunk)) {
          if (e.kind === 'data') parts.push(Buffer.from(e.chunk));
          else if (e.message.type === FrameType.WELCOME) answer.welcome = true;
          else if (e.message.type === FrameType.FILE) answer.length = e.message.length;
          else if (e.message.type === FrameType.END) {
            answer.endStatus = e.message.status;
            // As the load generator does: close once END is in (the server then sees our FIN).
            if (!halfClose) socket.end();
          }
        }
      } catch (error) {
        answer.error = String(error);
        socket.destroy();
      }
    });
    socket.on('end', () => {
      answer.ended = true;
      socket.end();
    });
    socket.on('error', (error) => (answer.error = String(error)));
    socket.on('close', () => {
      answer.body = Buffer.concat(parts);
      resolve(answer);
    });
  });
}

for (const halfClose of [false, true]) {
  const how = halfClose ? 'half-closes right after its GET' : 'closes after END';
  test(`a one-GET client that ${how} gets the whole answer and the server's FIN, and descriptors return to baseline`, async (t) => {
    const { root, data } = await tree(t);
    const server = await serveRoot(t, root, ['--no-udp', '--workers', '2', '--host', '127.0.0.1']);
    t.true(await waitFor(() => childrenOf(server.pid).length === 2), 'two workers');
    const pids = [server.pid, ...childrenOf(server.pid)];
    // A first request warms each worker up (modules loaded lazily open files of their own).
    for (let i = 0; i < 4; i++) await oneGet(server.port, 'small/f.bin', halfClose);
    const baseline = pids.map(fdCount).join(' ');
    for (let i = 0; i < 100; i++) {
      const a = await oneGet(server.port, 'small/f.bin', halfClose);
      if (a.error !== undefined || !a.ended || !a.body.equals(data)) {
        t.fail(`request ${i}: ${JSON.stringify({ ...a, body: a.body.length })}`);
        return;
      }
      t.is(a.length, SIZE);
      t.is(a.endStatus, EndStatus.OK);
      t.true(a.welcome);
    }
    t.true(
      await waitFor(() => pids.map(fdCount).join(' ') === baseline, 10_000),
      `descriptors ${pids.map(fdCount).join(' ')} vs baseline ${baseline}`,
    );
    // Every connection was logged as closed normally.
    t.true(
      await waitFor(
        () => (server.stderr().match(/ connection .*result=closed/g) ?? []).length >= 104,
      ),
    );
    t.notRegex(server.stderr(), / connection .*result=(?!closed)/);
  });
}

test('HELLO and more pipelined GETs than the first read takes (over 16 KiB in one write) are all answered, in order', async (t) => {
  const { root } = await tree(t);
  const server = await serveRoot(t, root, ['--no-udp', '--workers', '1', '--host', '127.0.0.1']);
  const COUNT = 400;
  const bytes = Buffer.concat([
    encodeHello({ minVersion: MIN_PROTOCOL_VERSION, maxVersion: MAX_PROTOCOL_VERSION, name: 't' }),
    ...Array.from({ length: COUNT }, (_, i) =>
      encodeGet({ requestId: i + 1, path: 'small/./f.bin', offset: i, wantDigests: false }),
    ),
  ]);
  t.true(bytes.length > 16 * 1024);
  const ends: number[] = [];
  const files: { id: number; offset: number; length: number }[] = [];
  let body = 0;
  let bad: string | undefined;
  await new Promise<void>((resolve) => {
    const decoder = new FrameDecoder({ accept: 'responses' });
    const socket = connect({ host: '127.0.0.1', port: server.port }, () => socket.end(bytes));
    socket.setTimeout(20_000, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const e of decoder.push(chunk)) {
          if (e.kind === 'data') body += e.chunk.length;
          else if (e.message.type === FrameType.FILE)
            files.push({
              id: e.message.requestId,
              offset: e.message.offset,
              length: e.message.length,
            });
          else if (e.message.type === FrameType.END) ends.push(e.message.requestId);
          else if (e.message.type !== FrameType.WELCOME) bad = `frame ${e.message.type}`;
        }
      } catch (error) {
        bad = String(error);
      }
    });
    socket.on('error', (error) => (bad = String(error)));
    socket.on('close', () => resolve());
  });
  t.is(bad, undefined);
  t.deepEqual(
    ends,
    Array.from({ length: COUNT }, (_, i) => i + 1),
  );
  t.deepEqual(
    files,
    Array.from({ length: COUNT }, (_, i) => ({ id: i + 1, offset: i, length: SIZE - i })),
  );
  t.is(
    body,
    files.reduce((n, f) => n + f.length, 0),
  );
});

test('the validator cached per path is the one validatorOf gives, and changes with any change it sees', async (t) => {
  const { root } = await tree(t);
  const file = join(root, 'small', 'f.bin');
  const files = new FileService({ root, dotfiles: false });
  const validatorNow = async (): Promise<Buffer> => {
    const opened = await files.openForRead('small/f.bin');
    try {
      return Buffer.from(opened.validator);
    } finally {
      await opened.close();
    }
  };
  const first = await validatorNow();
  t.deepEqual(first, validatorOf(statSync(file, { bigint: true })));
  t.deepEqual(await validatorNow(), first, 'unchanged file: same validator');

  // Same size, the mtime put back: only the ctime moves, and the validator with it.
  await utimes(file, MTIME, MTIME);
  const mtimeSet = await validatorNow();
  t.deepEqual(mtimeSet, validatorOf(statSync(file, { bigint: true })));
  const handle = await open(file, 'r+');
  await handle.write(randomBytes(SIZE), 0, SIZE, 0);
  await handle.close();
  await utimes(file, MTIME, MTIME);
  const rewritten = await validatorNow();
  t.notDeepEqual(rewritten, mtimeSet);
  t.deepEqual(rewritten, validatorOf(statSync(file, { bigint: true })));

  // Another file renamed over it (a new inode).
  const other = join(root, 'small', 'g.bin');
  await writeFile(other, randomBytes(SIZE));
  await utimes(other, MTIME, MTIME);
  await rename(other, file);
  const replaced = await validatorNow();
  t.notDeepEqual(replaced, rewritten);
  t.deepEqual(replaced, validatorOf(statSync(file, { bigint: true })));

  // Longer: a size change.
  await writeFile(file, randomBytes(SIZE + 1));
  const grown = await validatorNow();
  t.deepEqual(grown, validatorOf(statSync(file, { bigint: true })));
  t.notDeepEqual(grown, replaced);
});
