/**
 * The validator and the digests it keys (issue 16, item 5): a same-size rewrite in place that
 * restores the mtime (`cp -p`, `rsync --inplace -t`, `tar x`) must not leave the server serving
 * the old digests with the new bytes, in memory or in a --digest-cache that outlives a restart;
 * and digests that are stale under an unchanged validator are dropped when a client reports a
 * mismatch (GET RECHECK, PROTOCOL.md §4.3).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { chunkSizeFor, rootDigest, sha256 } from '@ft/protocol';
import { runFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

const MiB = 1024 * 1024;
const SIZE = 3 * MiB + 777;
/** A whole second, so utimes() restores it exactly (no sub-microsecond rounding). */
const MTIME = 1_700_000_000;

async function setup(t: ExecutionContext) {
  const dir = await mkdtemp(join(tmpdir(), 'ft-validator-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'srv');
  const dl = join(dir, 'dl');
  const cache = join(dir, 'digests');
  await mkdir(root);
  await mkdir(dl);
  const file = join(root, 'f.bin');
  const data = randomBytes(SIZE);
  await writeFile(file, data);
  await utimes(file, MTIME, MTIME);
  return { dir, root, dl, cache, file, data };
}

/** Overwrites the file in place with new bytes of the same size and puts the mtime back. */
async function rewriteKeepingMtime(file: string): Promise<Buffer> {
  const fresh = randomBytes(SIZE);
  const handle = await open(file, 'r+');
  try {
    await handle.write(fresh, 0, fresh.length, 0);
  } finally {
    await handle.close();
  }
  await utimes(file, MTIME, MTIME);
  return fresh;
}

async function serve(t: ExecutionContext, root: string, ...args: string[]): Promise<Ftserve> {
  const server = await startFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--no-udp',
    '--log-format',
    'json',
    ...args,
  ]);
  t.teardown(() => server.stop('SIGKILL'));
  return server;
}

/** Whether the server answered a RECHECK by dropping stale digests (transfer log result). */
function staleRefusals(server: Ftserve): boolean {
  return server
    .stderr()
    .split('\n')
    .some((l) => l.includes('"event":"transfer"') && l.includes('"result":"FT_STALE_DIGESTS"'));
}

function get(server: { port: number }, dl: string, ...args: string[]) {
  return runFtget(['get', 'f.bin', '--host', '127.0.0.1', '--port', String(server.port), ...args], {
    cwd: dl,
  });
}

test('a same-size rewrite that restores the mtime is served with fresh digests (memory cache)', async (t) => {
  const env = await setup(t);
  const server = await serve(t, env.root, '--workers', '1');
  const first = await get(server, env.dl);
  t.is(first.code, 0, first.stderr);
  t.true((await readFile(join(env.dl, 'f.bin'))).equals(env.data));
  const fresh = await rewriteKeepingMtime(env.file);
  const again = await get(server, env.dl, '--force');
  t.is(again.code, 0, again.stderr);
  t.true((await readFile(join(env.dl, 'f.bin'))).equals(fresh), 'the new bytes, verified');
  t.false(staleRefusals(server), 'a new validator, not a RECHECK, gave the fresh digests');
});

test('with --digest-cache the rewrite is noticed across a restart', async (t) => {
  const env = await setup(t);
  const before = await serve(t, env.root, '--digest-cache', env.cache);
  const first = await get(before, env.dl);
  t.is(first.code, 0, first.stderr);
  await before.stop();
  const fresh = await rewriteKeepingMtime(env.file);
  const after = await serve(t, env.root, '--digest-cache', env.cache);
  const again = await get(after, env.dl, '--force');
  t.is(again.code, 0, again.stderr);
  t.true((await readFile(join(env.dl, 'f.bin'))).equals(fresh), 'the new bytes, verified');
  t.false(staleRefusals(after), 'a new validator, not a RECHECK, gave the fresh digests');
});

test('--resume of a partial of the old version starts over on the rewritten file', async (t) => {
  const env = await setup(t);
  const server = await serve(t, env.root, '--digest-cache', env.cache);
  const proxy = await startTcpProxy({
    target: { host: '127.0.0.1', port: server.port },
    fault: (n) => (n === 0 ? { cutAfter: 2 * MiB + 100 } : undefined),
  });
  t.teardown(() => proxy.close());
  const cut = await get(proxy, env.dl, '--retries', '0');
  t.is(cut.code, 3, cut.stderr);
  t.true(existsSync(join(env.dl, 'f.bin.part.json')));
  const fresh = await rewriteKeepingMtime(env.file);
  const resumed = await get(server, env.dl, '--resume');
  t.is(resumed.code, 0, resumed.stderr);
  t.regex(resumed.stderr, /changed on the server; starting over/);
  t.true((await readFile(join(env.dl, 'f.bin'))).equals(fresh), 'the new bytes, verified');
});

test('digests stale under an unchanged validator are dropped when a client finds a mismatch', async (t) => {
  const env = await setup(t);
  // One download stores the digests under the file's validator; then the entry is replaced by
  // a sound one (right layout, consistent root) that describes other bytes: what a change
  // invisible to stat() leaves behind.
  const seed = await serve(t, env.root, '--digest-cache', env.cache);
  t.is((await get(seed, env.dl)).code, 0);
  await seed.stop();
  const { readdir } = await import('node:fs/promises');
  const [name] = await readdir(env.cache);
  const entryPath = join(env.cache, name!);
  const entry = await readFile(entryPath);
  const good = Buffer.from(entry);
  const other = randomBytes(SIZE);
  const chunkSize = chunkSizeFor(SIZE);
  const staleDigests: Buffer[] = [];
  for (let at = 0; at < SIZE; at += chunkSize)
    staleDigests.push(sha256(other.subarray(at, at + chunkSize)));
  // Layout (digest-store.ts): magic, chunk size, size, root at 16, then the whole-file SHA-256,
  // and the chunk digests at the end.
  const digestsAt = entry.length - 32 * staleDigests.length;
  rootDigest(staleDigests).copy(entry, 16);
  sha256(other).copy(entry, digestsAt - 32);
  staleDigests.forEach((d, i) => d.copy(entry, digestsAt + 32 * i));
  await writeFile(entryPath, entry);

  const server = await serve(t, env.root, '--digest-cache', env.cache);
  const res = await get(server, env.dl, '--force');
  t.is(res.code, 0, res.stderr);
  t.true((await readFile(join(env.dl, 'f.bin'))).equals(env.data), 'the real bytes, verified');
  t.regex(res.stderr, /changed on the server; starting over/);
  t.true(staleRefusals(server), 'the server logged that it dropped the stale digests');
  // The root and the chunk digests are the right ones again. The whole-file SHA-256 beside them
  // is either right or, after a streamed pass (which leaves it to the first STAT that asks; the
  // seeding download above is one), the 32 zero bytes that mean "not computed yet".
  const now = await readFile(entryPath);
  const sha256At = digestsAt - 32;
  t.is(now.length, good.length);
  t.true(now.subarray(0, sha256At).equals(good.subarray(0, sha256At)), 'header and root');
  t.true(now.subarray(digestsAt).equals(good.subarray(digestsAt)), 'chunk digests');
  const wholeNow = now.subarray(sha256At, digestsAt);
  t.true(
    wholeNow.equals(sha256(env.data)) || wholeNow.equals(Buffer.alloc(32)),
    'the whole-file SHA-256 is right or not computed yet',
  );
});
