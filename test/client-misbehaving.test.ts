import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { startFakeServer } from './helpers/fake-server.js';
import type { Behaviour } from './helpers/fake-server.js';
import { runFtget } from './helpers/ftget.js';

const MiB = 1024 * 1024;
const SIZE = 4 * MiB + 321;

async function withFake(t: ExecutionContext, behaviour: Behaviour | ((n: number) => Behaviour)) {
  const data = randomBytes(SIZE);
  const server = await startFakeServer({ files: { 'f.bin': data }, behaviour });
  t.teardown(() => server.close());
  const dl = await mkdtemp(join(tmpdir(), 'ftget-fake-'));
  t.teardown(() => rm(dl, { recursive: true, force: true }));
  const get = (...args: string[]) =>
    runFtget(
      [
        'get',
        'f.bin',
        '--host',
        '127.0.0.1',
        '--port',
        String(server.port),
        '--retry-max-wait',
        '0.05',
        ...args,
      ],
      {
        cwd: dl,
      },
    );
  return { data, server, dl, get, out: join(dl, 'f.bin'), part: join(dl, 'f.bin.part') };
}

/** Connection 0 is cut after 2.5 MiB of body (leaving partial + state); later ones behave as `later`. */
async function afterPartial(t: ExecutionContext, later: Behaviour) {
  const env = await withFake(t, (n) => (n === 0 ? { closeAfterBytes: 2.5 * MiB } : later));
  const first = await env.get('--retries', '0');
  t.is(first.code, 3, first.stderr);
  const partSize = (await stat(env.part)).size;
  t.true(partSize > 0);
  return { ...env, partSize };
}

function cleanError(t: ExecutionContext, stderr: string): void {
  t.regex(stderr, /^ftget: error: /m);
  t.notRegex(stderr, /\n\s+at /, 'no stack trace');
}

test('a server that ignores the offset: protocol error (exit 8), nothing appended', async (t) => {
  const env = await afterPartial(t, { ignoreOffset: true });
  const res = await env.get('-c');
  t.is(res.code, 8, res.stderr);
  t.regex(res.stderr, /offset 0, but offset \d+ was asked/);
  cleanError(t, res.stderr);
  t.is((await stat(env.part)).size, env.partSize, 'the partial did not grow');
  t.false(existsSync(env.out));
});

test('a server that lies about the offset: chunk digests catch it, integrity failure (exit 6), no output', async (t) => {
  const env = await afterPartial(t, { lieAboutOffset: true });
  const res = await env.get('-c');
  t.is(res.code, 6, res.stderr);
  t.regex(res.stderr, /failed verification/);
  cleanError(t, res.stderr);
  t.false(existsSync(env.out));
  t.true(existsSync(env.part), 'the partial is kept');
});

test('a server announcing fewer bytes than the range holds: protocol error (exit 8)', async (t) => {
  const env = await withFake(t, { announceFewer: 10 });
  const res = await env.get();
  t.is(res.code, 8, res.stderr);
  t.regex(res.stderr, /announced \d+ bytes, \d+ were expected/);
  t.false(existsSync(env.out));
});

test('short bodies (connection closed mid-body) are retried from the current offset and complete', async (t) => {
  const env = await withFake(t, (n) => (n < 3 ? { closeAfterBytes: 600_000 + n * 1000 } : {}));
  const res = await env.get('--json');
  t.is(res.code, 0, res.stderr);
  t.true((await readFile(env.out)).equals(env.data));
  t.is((JSON.parse(res.stdout.toString()) as { attempts: number }).attempts, 4);
  t.true(
    env.server.gets.slice(1).every((g) => g.offset > 0),
    'retries resume, they do not start over',
  );
});

test('a server that always cuts the body: exit 3 after the retries, partial kept', async (t) => {
  const env = await withFake(t, { closeAfterBytes: 0 });
  const res = await env.get('--retries', '2');
  t.is(res.code, 3, res.stderr);
  t.regex(res.stderr, /gave up after 3 attempts/);
  t.is(env.server.connections, 3);
  t.false(existsSync(env.out));
});

test('a stalled transfer is abandoned after --stall-timeout and resumed', async (t) => {
  // The stall is keyed to the first GET, not to the first connection: on a loaded machine the
  // 0.5 s stall timeout can drop a connection before its GET (while WELCOME is still on its
  // way), and the next connection, not the first, must then be the one that stalls.
  const env = await withFake(t, () =>
    env.server.gets.length === 0 ? { stallAfterBytes: 1.5 * MiB } : {},
  );
  const res = await env.get('--stall-timeout', '0.5', '--json');
  t.is(res.code, 0, res.stderr);
  t.true((await readFile(env.out)).equals(env.data));
  t.is(env.server.gets[1]?.offset, 1.5 * MiB);
});

test('a server that always stalls: exit 3 with a stall message', async (t) => {
  // Stalling right after the header: no attempt makes progress, so the retry budget runs out.
  const env = await withFake(t, { stallAfterBytes: 0 });
  const res = await env.get('--stall-timeout', '0.3', '--retries', '1');
  t.is(res.code, 3, res.stderr);
  t.regex(res.stderr, /no data from 127\.0\.0\.1:\d+ for 0\.3 s/);
  cleanError(t, res.stderr);
});

test('an answer for another validator than the one sent: protocol error (exit 8)', async (t) => {
  const env = await afterPartial(t, { wrongValidator: true });
  const res = await env.get('-c');
  t.is(res.code, 8, res.stderr);
  t.regex(res.stderr, /different file version/);
  t.is((await stat(env.part)).size, env.partSize);
});

test('corrupt data in one chunk is detected and only that chunk is fetched again', async (t) => {
  const env = await withFake(t, (n) => (n === 0 ? { corruptAt: MiB + 5, corruptOnce: true } : {}));
  const res = await env.get();
  t.is(res.code, 0, res.stderr);
  t.true((await readFile(env.out)).equals(env.data));
  t.is(env.server.gets.length, 2);
  t.like(env.server.gets[1], { offset: MiB, length: MiB });
});

test('chunk digests that do not add up to the root: protocol error (exit 8)', async (t) => {
  const env = await withFake(t, { corruptDigests: true });
  const res = await env.get();
  t.is(res.code, 8, res.stderr);
  t.regex(res.stderr, /do not add up to the root/);
});

test('END with a wrong byte count: protocol error (exit 8)', async (t) => {
  const env = await withFake(t, { wrongBytesSent: true });
  const res = await env.get();
  t.is(res.code, 8, res.stderr);
  t.false(existsSync(env.out));
});

test('BUSY with retry-after is retried and honoured', async (t) => {
  const env = await withFake(t, (n) => (n < 2 ? { busyRetryAfterMs: 150 } : {}));
  const res = await env.get('--json');
  t.is(res.code, 0, res.stderr);
  t.is((JSON.parse(res.stdout.toString()) as { attempts: number }).attempts, 3);
  t.true((await readFile(env.out)).equals(env.data));
});

test('BUSY on every attempt: exit 3 with a hint', async (t) => {
  const env = await withFake(t, { busyRetryAfterMs: 10 });
  const res = await env.get('--retries', '1');
  t.is(res.code, 3, res.stderr);
  t.regex(res.stderr, /busy/);
  t.regex(res.stderr, /hint: .*at its limit/);
});

test('-o - writes only verified chunks and exits 6 on a corrupt chunk', async (t) => {
  const env = await withFake(t, { corruptAt: 2 * MiB + 100 });
  const res = await env.get('-o', '-');
  t.is(res.code, 6, res.stderr);
  t.is(res.stdout.length, 2 * MiB);
  t.true(res.stdout.equals(env.data.subarray(0, 2 * MiB)));
});

test('-o -: the file replaced mid-stream after a chunk went out is "remote changed" (exit 5), not an integrity failure', async (t) => {
  const replacement = randomBytes(SIZE);
  const env = await withFake(t, (n) =>
    n === 0 ? { replaceAfterBytes: 1.5 * MiB, replacement } : {},
  );
  const res = await env.get('-o', '-');
  t.is(res.code, 5, res.stderr);
  t.regex(res.stderr, /changed on the server after 1048576 bytes were written to stdout/);
  cleanError(t, res.stderr);
  t.true(res.stdout.equals(env.data.subarray(0, MiB)), 'only the verified first chunk went out');
});

test('-o -: the file replaced mid-stream before anything went out is streamed again, new version only', async (t) => {
  const replacement = randomBytes(SIZE);
  const env = await withFake(t, (n) =>
    n === 0 ? { replaceAfterBytes: 0.5 * MiB, replacement } : {},
  );
  const res = await env.get('-o', '-');
  t.is(res.code, 0, res.stderr);
  t.true(res.stdout.equals(replacement));
  t.is(env.server.gets.length, 2);
});

test('-o - resumes after a cut from the last emitted chunk, output byte-identical', async (t) => {
  const env = await withFake(t, (n) => (n === 0 ? { closeAfterBytes: 1.7 * MiB } : {}));
  const res = await env.get('-o', '-');
  t.is(res.code, 0, res.stderr);
  t.true(res.stdout.equals(env.data));
  t.is(env.server.gets[1]?.offset, MiB);
});

test('a flipped byte in a partial with state: only the damaged chunk is fetched again', async (t) => {
  const env = await afterPartial(t, {});
  const handle = await open(env.part, 'r+');
  const one = Buffer.alloc(1);
  await handle.read(one, 0, 1, 5);
  one[0] = one[0]! ^ 1;
  await handle.write(one, 0, 1, 5);
  await handle.close();
  const before = env.server.gets.length;
  const res = await env.get('-c');
  t.is(res.code, 0, res.stderr);
  t.true((await readFile(env.out)).equals(env.data));
  const later = env.server.gets.slice(before);
  t.is(later[0]?.offset, env.partSize, 'the rest is fetched from where the partial stops');
  t.like(later[1], { offset: 0, length: MiB });
  t.is(later.length, 2);
});

test('right chunk digests under a wrong root: the final gate keeps the output from appearing (exit 6)', async (t) => {
  // A partial without state: its first chunks are checked only through the root, and the
  // chunks fetched after it have digests that match. Every chunk ends up verified one by one,
  // so only the final check of the root, before the rename, can refuse.
  const env = await withFake(t, { wrongRoot: true });
  await writeFile(env.part, env.data.subarray(0, 2 * MiB));
  const res = await env.get('--resume');
  t.is(res.code, 6, res.stderr);
  t.regex(res.stderr, /does not match the server's root digest/);
  cleanError(t, res.stderr);
  t.false(existsSync(env.out), 'nothing appears at the output name');
  t.true(existsSync(env.part), 'the partial is kept');
  t.true(
    env.server.gets.some((g) => g.offset === 0 && g.length === 2 * MiB),
    'the unverified prefix was fetched again with its digests',
  );
});
