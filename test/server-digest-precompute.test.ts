/**
 * `ftserve digest DIR --digest-cache STORE` fills the digest store ahead of time: a server
 * started afterwards with that store answers a STAT with digests without hashing the file (its
 * request log says digest=cached; a server with a fresh store says computed). Bounds and usage
 * errors have their documented exit codes.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { FrameType, rootDigest, validatorOf } from '@ft/protocol';
import { runFtserve, startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { waitFor } from './helpers/procfs.js';
import { RawClient } from './helpers/raw-client.js';

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'ft-dprecompute-'));
const root = join(dir, 'root');
const a = randomBytes(3 * MiB + 777);
const b = randomBytes(4096);

test.before(() => {
  mkdirSync(join(root, 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(root, 'a.bin'), a);
  writeFileSync(join(root, 'sub', 'deeper', 'b.bin'), b);
  // Not served, so not hashed: a dotfile, and a symlink (its target is hashed where it is).
  writeFileSync(join(root, '.hidden'), 'x');
  symlinkSync('a.bin', join(root, 'link.bin'));
});
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** Root digest of `data` for the chunk size the server announces, computed here. */
function expectedRoot(data: Buffer, chunkSize: number): Buffer {
  const chunks: Buffer[] = [];
  for (let at = 0; at < data.length; at += chunkSize)
    chunks.push(
      createHash('sha256')
        .update(data.subarray(at, at + chunkSize))
        .digest(),
    );
  return rootDigest(chunks);
}

async function serve(t: ExecutionContext, store: string): Promise<Ftserve> {
  const server = await startFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--no-udp',
    '--workers',
    '1',
    '--log-format',
    'json',
    '--digest-cache',
    store,
  ]);
  t.teardown(() => server.stop());
  return server;
}

/** STATs `path` with its digest; returns the root and the `digest` field of its request log line. */
async function statDigest(server: Ftserve, path: string) {
  const c = await RawClient.connect(server.port);
  let m;
  try {
    m = await c.stat(path, true);
  } finally {
    c.destroy();
  }
  if (m.type !== FrameType.STAT_OK || m.root === undefined)
    throw new Error(`STAT failed: ${JSON.stringify(m)}`);
  const logged = (): Record<string, unknown> | undefined =>
    server
      .stderr()
      .split('\n')
      .filter((l) => l.includes('"op":"STAT"') && l.includes(`"path":"${path}"`))
      .map((l) => JSON.parse(l) as Record<string, unknown>)[0];
  await waitFor(() => logged() !== undefined, 10_000);
  return { stat: m, source: logged()?.['digest'] };
}

test('after ftserve digest, a server with that store answers STAT digests from it, without hashing', async (t) => {
  const store = join(dir, 'store-1');
  const r = await runFtserve(['digest', root, '--digest-cache', store]);
  t.is(r.code, 0, r.stderr);
  t.regex(
    r.stderr,
    /ftserve digest: 2 files, 3\.0 MiB: 2 hashed, 0 already stored, 0 failed; store /,
  );
  t.is(r.stdout, '');
  // One entry per file version, named by the server's validator of it.
  const validators = ['a.bin', 'sub/deeper/b.bin'].map((p) =>
    validatorOf(statSync(join(root, p), { bigint: true })).toString('hex'),
  );
  t.deepEqual(readdirSync(store).sort(), [...validators].sort());

  const server = await serve(t, store);
  for (const [path, data] of [
    ['a.bin', a],
    ['sub/deeper/b.bin', b],
  ] as const) {
    const { stat, source } = await statDigest(server, path);
    t.is(source, 'cached', `${path}: digests from the precomputed store`);
    t.true(
      stat.root!.equals(expectedRoot(data, stat.chunkSize!)),
      `${path}: the file's root digest`,
    );
  }

  // A second run finds everything stored and reads nothing again.
  const again = await runFtserve(['digest', root, '--digest-cache', store]);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stderr, /: 2 files, 3\.0 MiB: 0 hashed, 2 already stored, 0 failed;/);
});

test('without the precompute, the first STAT hashes the file (digest=computed)', async (t) => {
  const server = await serve(t, join(dir, 'store-empty'));
  const { stat, source } = await statDigest(server, 'a.bin');
  t.is(source, 'computed');
  t.true(stat.root!.equals(expectedRoot(a, stat.chunkSize!)));
});

test('ftserve digest: --max-files cuts the walk (exit 5); usage errors exit 2', async (t) => {
  const store = join(dir, 'store-cut');
  const cut = await runFtserve(['digest', root, '--digest-cache', store, '--max-files', '1']);
  t.is(cut.code, 5, cut.stderr);
  t.regex(cut.stderr, /stopped early: more than 1 files \(--max-files\)\n$/);
  t.is(readdirSync(store).length, 1);

  const usage: [string[], RegExp][] = [
    [['digest', root], /--digest-cache STORE is required/],
    [['digest', '--digest-cache', store], /digest takes one DIR/],
    [['digest', join(dir, 'nope'), '--digest-cache', store], /does not exist/],
    [['digest', root, '--digest-cache', join(root, 'cache')], /must not be inside/],
    [['digest', root, '--digest-cache', store, '--max-files', '0'], /--max-files must be/],
    [['digest', root, '--digest-cache', store, '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of usage) {
    const r = await runFtserve(args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /^ftserve: .*\(see ftserve digest --help\)\n$/);
    t.regex(r.stderr, message);
  }
  t.deepEqual(
    readdirSync(root).sort(),
    ['.hidden', 'a.bin', 'link.bin', 'sub'],
    'nothing written under DIR',
  );
  const help = await runFtserve(['digest', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /^usage: ftserve digest DIR --digest-cache STORE/);
});
