import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { runFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

const MiB = 1024 * 1024;
const SIZE = 5 * MiB + 4321;

let server: Ftserve;
let root: string;
let base: string;
let counter = 0;

test.before(async () => {
  base = await mkdtemp(join(tmpdir(), 'ftget-resume-'));
  root = join(base, 'srv');
  await mkdir(root);
  server = await startFtserve(['--root', root, '--port', '0']);
});
test.after.always(async () => {
  await server?.stop('SIGKILL');
  await rm(base, { recursive: true, force: true });
});

/** A fresh remote file and download directory for one test, on the shared server. */
async function setup(_t: ExecutionContext) {
  const name = `f${counter++}.bin`;
  const dl = join(base, `dl-${name}`);
  await mkdir(dl);
  const data = randomBytes(SIZE);
  await writeFile(join(root, name), data);
  const get = (...args: string[]) =>
    runFtget(
      ['get', name, '-o', 'f.bin', '--host', '127.0.0.1', '--port', String(server.port), ...args],
      {
        cwd: dl,
      },
    );
  return { root, dl, data, server, get, name };
}

for (const [name, present] of [
  ['0 bytes', 0],
  ['1 byte', 1],
  ['a chunk boundary', 2 * MiB],
  ['size-1 bytes', SIZE - 1],
  ['size bytes', SIZE],
] as const) {
  test(`--resume completes from a partial of ${name} (no state file)`, async (t) => {
    const { dl, data, get } = await setup(t);
    await writeFile(join(dl, 'f.bin.part'), data.subarray(0, present));
    const res = await get('--resume', '--json');
    t.is(res.code, 0, res.stderr);
    t.true((await readFile(join(dl, 'f.bin'))).equals(data), 'the output is byte-identical');
    t.false(existsSync(join(dl, 'f.bin.part')));
    t.false(existsSync(join(dl, 'f.bin.part.json')));
    const line = JSON.parse(res.stdout.toString()) as {
      bytes: number;
      resumedFrom: number;
      digest: string;
    };
    t.is(line.bytes, SIZE);
    t.is(line.resumedFrom, present);
    t.regex(line.digest, /^[0-9a-f]{64}$/);
  });
}

test('--resume refuses a partial larger than the remote file (exit 9)', async (t) => {
  const { dl, data, get } = await setup(t);
  await writeFile(join(dl, 'f.bin.part'), Buffer.concat([data, Buffer.from('extra')]));
  const res = await get('--resume');
  t.is(res.code, 9, res.stderr);
  t.regex(res.stderr, /larger than the remote file/);
  t.regex(res.stderr, /--force/);
  t.false(existsSync(join(dl, 'f.bin')));
  t.is((await stat(join(dl, 'f.bin.part'))).size, SIZE + 5);
});

test('a partial whose prefix is corrupt and has no state is repaired through the root digest', async (t) => {
  const { dl, data, get } = await setup(t);
  const partial = Buffer.from(data.subarray(0, 3 * MiB));
  partial[MiB + 17] = partial[MiB + 17]! ^ 0x01;
  await writeFile(join(dl, 'f.bin.part'), partial);
  const res = await get('--resume');
  t.is(res.code, 0, res.stderr);
  t.true((await readFile(join(dl, 'f.bin'))).equals(data), 'the output is byte-identical');
});

/** Runs ftget through a proxy that cuts the first connection after `bytes`, with no retries: leaves a partial + state. */
async function interruptedPartial(
  t: ExecutionContext,
  env: Awaited<ReturnType<typeof setup>>,
  bytes: number,
): Promise<void> {
  const proxy = await startTcpProxy({
    target: { host: '127.0.0.1', port: env.server.port },
    fault: (n) => (n === 0 ? { cutAfter: bytes } : undefined),
  });
  t.teardown(() => proxy.close());
  const res = await runFtget(
    [
      'get',
      env.name,
      '-o',
      'f.bin',
      '--host',
      '127.0.0.1',
      '--port',
      String(proxy.port),
      '--retries',
      '0',
    ],
    { cwd: env.dl },
  );
  t.is(res.code, 3, res.stderr);
  t.regex(res.stderr, /lost/);
  t.false(existsSync(join(env.dl, 'f.bin')));
  t.true(existsSync(join(env.dl, 'f.bin.part.json')));
}

test('an interrupted download leaves partial + state, and --resume continues it', async (t) => {
  const env = await setup(t);
  await interruptedPartial(t, env, 3 * MiB + 1000);
  const partSize = (await stat(join(env.dl, 'f.bin.part'))).size;
  t.true(partSize > 0);
  const res = await env.get('--json');
  t.is(res.code, 9, 'without --resume the partial is not touched');
  t.regex(res.stderr, /--resume/);
  t.is((await stat(join(env.dl, 'f.bin.part'))).size, partSize);
  const resumed = await env.get('-c', '--json');
  t.is(resumed.code, 0, resumed.stderr);
  t.true((await readFile(join(env.dl, 'f.bin'))).equals(env.data), 'the output is byte-identical');
  t.is((JSON.parse(resumed.stdout.toString()) as { resumedFrom: number }).resumedFrom, partSize);
});

test('a byte flipped in the partial is detected and repaired before the file is put in place', async (t) => {
  const env = await setup(t);
  await interruptedPartial(t, env, 4 * MiB + 1000);
  const part = join(env.dl, 'f.bin.part');
  const handle = await open(part, 'r+');
  const one = Buffer.alloc(1);
  await handle.read(one, 0, 1, MiB + 12345);
  one[0] = one[0]! ^ 0x40;
  await handle.write(one, 0, 1, MiB + 12345);
  await handle.close();
  const res = await env.get('--resume');
  t.is(res.code, 0, res.stderr);
  t.true((await readFile(join(env.dl, 'f.bin'))).equals(env.data), 'the output is byte-identical');
});

test('--resume on a complete output says so and exits 0; a different output is a conflict', async (t) => {
  const env = await setup(t);
  t.is((await env.get()).code, 0);
  const again = await env.get('--resume');
  t.is(again.code, 0, again.stderr);
  t.regex(again.stderr, /already complete/);
  const out = join(env.dl, 'f.bin');
  await writeFile(out, Buffer.from('something else'));
  const conflict = await env.get('--resume');
  t.is(conflict.code, 9);
  t.regex(conflict.stderr, /differs/);
  t.deepEqual(await readFile(out), Buffer.from('something else'));
  const forced = await env.get('--force');
  t.is(forced.code, 0, forced.stderr);
  t.true((await readFile(out)).equals(env.data), 'the output is byte-identical');
});
