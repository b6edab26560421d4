import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { runFtget, statOn } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import type { TcpProxy } from './helpers/tcp-proxy.js';

const MiB = 1024 * 1024;
const SIZE = 4 * MiB + 100;

let server: Ftserve;
let proxy: TcpProxy;
let base: string;
let root: string;
let counter = 0;

test.before(async () => {
  base = await mkdtemp(join(tmpdir(), 'ftget-changes-'));
  root = join(base, 'srv');
  await mkdir(root);
  server = await startFtserve(['--root', root, '--port', '0']);
  // Every connection through the proxy is cut after 2.5 MiB: runs through it leave a partial.
  proxy = await startTcpProxy({
    target: { host: '127.0.0.1', port: server.port },
    fault: () => ({ cutAfter: 2.5 * MiB }),
  });
});
test.after.always(async () => {
  await proxy?.close();
  await server?.stop('SIGKILL');
  await rm(base, { recursive: true, force: true });
});

/** A remote file and a partial download of its first 2.5 MiB (with state). */
async function partialOf(t: ExecutionContext) {
  const name = `c${counter++}.bin`;
  const dl = join(base, `dl-${name}`);
  await mkdir(dl);
  const data = randomBytes(SIZE);
  const remote = join(root, name);
  await writeFile(remote, data);
  // The server hashes the file first (ftget stat), so the partial's state knows the version's
  // root from the FILE header: a touched remote can then be recognised as the same content
  // (§7.1). A partial made with streamed digests (protocol v3) knows no root until every
  // chunk's digest has arrived; first-byte.test.ts covers it.
  const primed = await statOn(server.port, name);
  t.is(primed.code, 0, primed.stderr);
  const cut = await runFtget(
    [
      'get',
      name,
      '-o',
      'out.bin',
      '--host',
      '127.0.0.1',
      '--port',
      String(proxy.port),
      '--retries',
      '0',
    ],
    { cwd: dl },
  );
  t.is(cut.code, 3, cut.stderr);
  t.true(existsSync(join(dl, 'out.bin.part.json')));
  const resume = (...args: string[]) =>
    runFtget(
      [
        'get',
        name,
        '-o',
        'out.bin',
        '--host',
        '127.0.0.1',
        '--port',
        String(server.port),
        '-c',
        ...args,
      ],
      {
        cwd: dl,
      },
    );
  return { name, dl, data, remote, resume, out: join(dl, 'out.bin') };
}

for (const [what, make] of [
  ['replaced by different bytes of the same size', () => randomBytes(SIZE)],
  ['grown', () => randomBytes(SIZE + 3 * MiB)],
  ['shrunk', () => randomBytes(MiB + 5)],
  ['shrunk below the partial', () => randomBytes(100)],
] as const) {
  test(`remote ${what} between attempts: restart from 0 with a warning, never a mixed file`, async (t) => {
    const p = await partialOf(t);
    const next = make();
    await writeFile(p.remote, next);
    const res = await p.resume('--json');
    t.is(res.code, 0, res.stderr);
    t.regex(res.stderr, /changed on the server; starting over from 0/);
    t.true((await readFile(p.out)).equals(next), 'the output is exactly the new version');
    t.is((JSON.parse(res.stdout.toString()) as { resumedFrom: number }).resumedFrom, 0);
  });

  test(`remote ${what} with --no-restart: exit 5, partial kept, no output`, async (t) => {
    const p = await partialOf(t);
    const partSize = (await stat(`${p.out}.part`)).size;
    await writeFile(p.remote, make());
    const res = await p.resume('--no-restart');
    t.is(res.code, 5, res.stderr);
    t.regex(res.stderr, /changed on the server/);
    t.regex(res.stderr, /without --no-restart/);
    t.false(existsSync(p.out));
    t.is((await stat(`${p.out}.part`)).size, partSize);
  });
}

test('remote only touched (mtime) between attempts: content identical, the partial is kept', async (t) => {
  const p = await partialOf(t);
  const partSize = (await stat(`${p.out}.part`)).size;
  const later = new Date(Date.now() + 60_000);
  await utimes(p.remote, later, later);
  const res = await p.resume('--json', '--no-restart');
  t.is(res.code, 0, res.stderr);
  t.regex(res.stderr, /content is identical/);
  t.true((await readFile(p.out)).equals(p.data));
  t.is((JSON.parse(res.stdout.toString()) as { resumedFrom: number }).resumedFrom, partSize);
});
