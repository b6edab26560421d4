/**
 * A partial damaged on disk between runs (issue 16, item 6). The download directory is an ext4
 * image on a loop device: after an interrupted download the image is unmounted, one byte of an
 * already verified chunk is flipped in the image itself (at the block debugfs reports), and it is
 * mounted again. The partial's size, mtime, ctime and inode are then exactly as its state file
 * recorded them, so only re-reading the bytes (--verify-partial) can notice. Needs
 * root, mount, mkfs.ext4 and debugfs (e2fsprogs), as in CI.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { runFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

const MiB = 1024 * 1024;
const SIZE = 5 * MiB + 4321;
/** Inside chunk 1, which the interrupted run verified. */
const FLIP_AT = MiB + 12_345;
const BLOCK = 4096;

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Installs e2fsprogs if mkfs.ext4 or debugfs is missing; fails (never skips) when it cannot. */
function needTools(): void {
  try {
    execFileSync('sh', ['-c', 'command -v mkfs.ext4 && command -v debugfs'], { stdio: 'ignore' });
  } catch {
    execFileSync('apt-get', ['install', '-y', '-q', 'e2fsprogs'], { stdio: 'ignore' });
  }
}

/** A fresh 64 MiB ext4 image mounted (through a loop device) at a new directory. */
async function ext4Mount(t: ExecutionContext, base: string) {
  needTools();
  const image = join(base, 'disk.img');
  const mnt = join(base, 'mnt');
  await mkdir(mnt);
  const handle = await open(image, 'w');
  await handle.truncate(64 * MiB);
  await handle.close();
  execFileSync('mkfs.ext4', ['-q', '-F', '-b', String(BLOCK), image]);
  let mounted = false;
  const mount = () => {
    execFileSync('mount', ['-o', 'loop', image, mnt]);
    mounted = true;
  };
  const umount = () => {
    execFileSync('umount', [mnt]);
    mounted = false;
  };
  mount();
  t.teardown(() => {
    if (mounted) execFileSync('umount', ['-l', mnt]);
  });
  return { image, mnt, mount, umount };
}

/** Flips one byte of `path` (inside the unmounted image) directly in the image file. */
async function flipInImage(image: string, path: string, offset: number): Promise<void> {
  const out = execFileSync('debugfs', ['-R', `bmap ${path} ${Math.floor(offset / BLOCK)}`, image], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const physical = Number(out.trim());
  if (!Number.isSafeInteger(physical) || physical <= 0)
    throw new Error(`debugfs bmap said ${JSON.stringify(out)}`);
  const handle = await open(image, 'r+');
  try {
    const at = physical * BLOCK + (offset % BLOCK);
    const one = Buffer.alloc(1);
    await handle.read(one, 0, 1, at);
    one[0] = one[0]! ^ 0x20;
    await handle.write(one, 0, 1, at);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function identity(path: string) {
  const st = await stat(path, { bigint: true });
  return { size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino };
}

/**
 * Serves a fresh file, runs one download cut after `cutAfter` bytes (3 MiB: partial + state
 * on the ext4 mount), then damages the partial at `flipAt` (in chunk 1) behind the file
 * system's back.
 */
async function damagedPartial(t: ExecutionContext, cutAfter = 3 * MiB + 1000, flipAt = FLIP_AT) {
  const base = await mkdtemp(join(tmpdir(), 'ftget-verify-partial-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const root = join(base, 'srv');
  await mkdir(root);
  const data = randomBytes(SIZE);
  await writeFile(join(root, 'f.bin'), data);
  const server = await startFtserve(['--root', root, '--port', '0', '--no-udp']);
  t.teardown(() => server.stop('SIGKILL'));
  const proxy = await startTcpProxy({
    target: { host: '127.0.0.1', port: server.port },
    fault: (n) => (n === 0 ? { cutAfter } : undefined),
  });
  t.teardown(() => proxy.close());
  const disk = await ext4Mount(t, base);
  const dl = join(disk.mnt, 'dl');
  await mkdir(dl);
  const get = (port: number, ...args: string[]) =>
    runFtget(['get', 'f.bin', '--host', '127.0.0.1', '--port', String(port), ...args], {
      cwd: dl,
    });
  const cut = await get(proxy.port, '--retries', '0');
  t.is(cut.code, 3, cut.stderr);
  const part = join(dl, 'f.bin.part');
  t.true(existsSync(`${dl}/f.bin.part.json`));
  const before = await identity(part);
  const chunkEnd = (Math.floor(flipAt / MiB) + 1) * MiB;
  t.true(
    before.size > BigInt(chunkEnd),
    'the damaged chunk was written (and verified) before the cut',
  );
  const original = await readFile(part);

  disk.umount();
  await flipInImage(disk.image, '/dl/f.bin.part', flipAt);
  disk.mount();
  t.deepEqual(await identity(part), before, 'size, mtime, ctime and inode as the state recorded');
  const now = await readFile(part);
  t.is(now[flipAt], original[flipAt]! ^ 0x20, 'the byte really changed on disk');
  return { data, dl, get, server, out: join(dl, 'f.bin') };
}

test('--verify-partial re-hashes the adopted bytes and repairs the damaged chunk', async (t) => {
  const env = await damagedPartial(t);
  const res = await env.get(env.server.port, '--resume', '--verify-partial');
  t.is(res.code, 0, res.stderr);
  t.regex(res.stderr, /1 chunk\(s\) recorded as verified differ on disk; fetching them again/);
  t.is(sha(await readFile(env.out)), sha(env.data), 'the output is the server’s file');
});

test('--verify-partial on a partial larger than the rest: a damaged late chunk (re-hashed on the second thread) is caught too', async (t) => {
  // 5 of 6 chunks present, 1 to fetch: the re-hash is split, chunks 3 and 4 go to the thread
  // that also hashes the arriving bytes (verifyAdopted); the damage is in chunk 4.
  const flipAt = 4 * MiB + 12_345;
  const env = await damagedPartial(t, 5 * MiB + 1000, flipAt);
  const res = await env.get(env.server.port, '--resume', '--verify-partial');
  t.is(res.code, 0, res.stderr);
  t.regex(res.stderr, /1 chunk\(s\) recorded as verified differ on disk; fetching them again/);
  t.is(sha(await readFile(env.out)), sha(env.data), 'the output is the server’s file');
});

test('without --verify-partial (the default, and --no-verify-partial) the state is trusted, as documented: the final check uses the recorded digests', async (t) => {
  for (const flags of [[], ['--no-verify-partial']]) {
    const env = await damagedPartial(t);
    const res = await env.get(env.server.port, '--resume', ...flags);
    t.is(res.code, 0, res.stderr);
    t.notRegex(res.stderr, /differ on disk/);
    const out = await readFile(env.out);
    t.is(out.length, SIZE);
    t.not(
      out[FLIP_AT],
      env.data[FLIP_AT],
      `the damaged byte was adopted unread (${flags.join(' ') || 'default'})`,
    );
  }
});
