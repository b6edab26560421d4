import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { rootDigest } from '@ft/protocol';
import { runFtserve, startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { waitFor } from './helpers/procfs.js';
import { RawClient } from './helpers/raw-client.js';

const MiB = 1024 * 1024;
// A few chunks (the smallest chunk is 1 MiB) and a short last one.
const SIZE = 3 * MiB + 12_345;
const dir = mkdtempSync(join(tmpdir(), 'ft-dcache-'));
const root = join(dir, 'root');
const data = randomBytes(SIZE);

test.before(() => {
  mkdirSync(root);
  writeFileSync(join(root, 'f.bin'), data);
});
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** Chunk digests of `data` computed here, independently of the server. */
function expectedDigests(chunkSize: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += chunkSize)
    out.push(
      createHash('sha256')
        .update(data.subarray(at, at + chunkSize))
        .digest(),
    );
  return out;
}

async function start(t: ExecutionContext, args: string[], env?: NodeJS.ProcessEnv) {
  const server = await startFtserve(
    [
      '--root',
      root,
      '--port',
      '0',
      '--no-udp',
      '--fork-per-connection',
      '--log-format',
      'json',
      ...args,
    ],
    env === undefined ? {} : { env },
  );
  t.teardown(() => server.stop());
  return server;
}

function transferLines(server: Ftserve): Record<string, unknown>[] {
  return server
    .stderr()
    .split('\n')
    .filter((l) => l.includes('"event":"transfer"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Downloads f.bin with digests; returns the digests, the validator, and the transfer's `digest` log field. */
async function download(t: ExecutionContext, server: Ftserve) {
  const before = transferLines(server).length;
  const c = await RawClient.connect(server.port);
  let r;
  try {
    r = await c.get({ path: 'f.bin', offset: 0, wantDigests: true }, 60_000);
  } finally {
    c.destroy();
  }
  if (!r.ok) throw new Error(`download refused: ${JSON.stringify(r.error)}`);
  t.true(r.body.equals(data));
  t.true(await waitFor(() => transferLines(server).length > before, 30_000), 'transfer logged');
  const line = transferLines(server)[before]!;
  t.is(line['result'], 'OK');
  const expected = expectedDigests(r.header.chunkSize);
  t.deepEqual(r.header.chunkDigests, expected, 'chunk digests are those of the file');
  t.true(r.header.root.equals(rootDigest(expected)), 'root digest is that of the file');
  return { header: r.header, source: line['digest'] };
}

test('fork-per-connection: the second child takes the digests from the shared store; the private store goes at exit', async (t) => {
  // The private store lives under os.tmpdir(), which TMPDIR moves to where the test can look.
  const tmp = join(dir, 'tmp-default');
  mkdirSync(tmp);
  const server = await start(t, [], { ...process.env, TMPDIR: tmp });
  const first = await download(t, server);
  const second = await download(t, server);
  t.is(first.source, 'computed');
  t.is(second.source, 'cached');
  t.true(first.header.root.equals(second.header.root));
  t.deepEqual(first.header.chunkDigests, second.header.chunkDigests);
  const stores = readdirSync(tmp).filter((n) => n.startsWith('ftserve-digests-'));
  t.is(stores.length, 1);
  const store = join(tmp, stores[0]!);
  t.is(statSync(store).mode & 0o777, 0o700);
  t.deepEqual(readdirSync(store), [first.header.validator.toString('hex')]);
  t.is((await server.stop()).signal, 'SIGTERM');
  t.false(existsSync(store), 'the private store is removed at exit');
  t.deepEqual(readdirSync(root), ['f.bin'], 'nothing written under the root');
});

test('--digest-cache: a corrupt entry is ignored, recomputed and rewritten; entries outlive a restart', async (t) => {
  const cache = join(dir, 'cache', 'nested');
  const server = await start(t, ['--digest-cache', cache]);
  const first = await download(t, server);
  t.is(first.source, 'computed');
  t.is(statSync(cache).mode & 0o777, 0o700);
  const entry = join(cache, first.header.validator.toString('hex'));
  const good = readFileSync(entry);
  t.is(statSync(entry).mode & 0o777, 0o600);

  // One flipped bit in a chunk digest: same size, wrong content.
  const flipped = Buffer.from(good);
  flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 1;
  writeFileSync(entry, flipped);
  const afterFlip = await download(t, server);
  t.is(afterFlip.source, 'computed');
  t.true(readFileSync(entry).equals(good), 'the corrupt entry was rewritten');

  // A truncated entry, and garbage of the right length, are not trusted either.
  for (const bad of [good.subarray(0, good.length - 7), randomBytes(good.length)]) {
    writeFileSync(entry, bad);
    t.is((await download(t, server)).source, 'computed');
    t.true(readFileSync(entry).equals(good));
  }
  t.is((await download(t, server)).source, 'cached');
  t.is((await server.stop()).signal, 'SIGTERM');
  t.true(existsSync(entry), 'a --digest-cache directory is kept at exit');

  const again = await start(t, ['--digest-cache', cache]);
  const restarted = await download(t, again);
  t.is(restarted.source, 'cached');
  t.true(restarted.header.root.equals(first.header.root));
  t.deepEqual(readdirSync(root), ['f.bin'], 'nothing written under the root');
});

test('--digest-cache inside --root is refused with a usage error', async (t) => {
  for (const inside of [root, join(root, 'cache'), join(root, 'a', 'b')]) {
    const r = await runFtserve(['--root', root, '--port', '0', '--digest-cache', inside]);
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, /^ftserve: --digest-cache .* must not be inside the root .*\n$/);
  }
  t.deepEqual(readdirSync(root), ['f.bin']);
});
