/**
 * A damaged but readable OUTPUT.part.json (issue 16, item 7): a state that contradicts the
 * server or the partial is local damage, not a protocol error. ftget warns naming the state
 * file, checks the partial against the server's digests and completes the download.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { rootDigest } from '@ft/protocol';
import { runFtget, statOn } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import type { TcpProxy } from './helpers/tcp-proxy.js';

const MiB = 1024 * 1024;
const SIZE = 5 * MiB + 4321;

let server: Ftserve;
let proxy: TcpProxy;
let base: string;
let root: string;
let counter = 0;

test.before(async () => {
  base = await mkdtemp(join(tmpdir(), 'ftget-state-'));
  root = join(base, 'srv');
  await mkdir(root);
  server = await startFtserve(['--root', root, '--port', '0', '--no-udp']);
  // Every first connection of a download is cut after 3 MiB of body: partial + state remain.
  proxy = await startTcpProxy({
    target: { host: '127.0.0.1', port: server.port },
    fault: () => ({ cutAfter: 3 * MiB + 1000 }),
  });
});
test.after.always(async () => {
  await proxy?.close();
  await server?.stop('SIGKILL');
  await rm(base, { recursive: true, force: true });
});

type State = Record<string, unknown> & { digests: string[]; root: string };

const flip = (hex: string): string => (hex[0] === '0' ? '1' : '0') + hex.slice(1);

const damages: [string, (s: State) => void, RegExp][] = [
  ['a wrong size', (s) => (s['size'] = SIZE + 1), /says the file has \d+ bytes, the server/],
  [
    'a wrong chunk size',
    (s) => (s['chunkSize'] = MiB + 1),
    /says chunks of \d+ bytes, the server \d+/,
  ],
  ['a wrong root digest', (s) => (s.root = flip(s.root)), /do not add up to its root digest/],
  [
    'a wrong chunk digest',
    (s) => (s.digests[0] = flip(s.digests[0]!)),
    /do not add up to its root digest/,
  ],
  [
    'a wrong chunk digest with a root to match',
    (s) => {
      s.digests[0] = flip(s.digests[0]!);
      s.root = rootDigest(s.digests.map((d) => Buffer.from(d, 'hex'))).toString('hex');
    },
    /root digest other than the server’s/,
  ],
];

for (const [what, damage, why] of damages) {
  test(`a state file with ${what} is distrusted with a warning, and the download completes`, async (t) => {
    const name = `f${counter++}.bin`;
    const dl = join(base, `dl-${name}`);
    await mkdir(dl);
    const data = randomBytes(SIZE);
    await writeFile(join(root, name), data);
    const get = (port: number, ...args: string[]) =>
      runFtget(
        ['get', name, '-o', 'f.bin', '--host', '127.0.0.1', '--port', String(port), ...args],
        {
          cwd: dl,
        },
      );
    // The server hashes the file first (ftget stat), so the partial's state holds every chunk
    // digest and the root from the FILE header: these cases damage such a state. A partial
    // made with streamed digests (protocol v3) is covered in first-byte.test.ts.
    const primed = await statOn(server.port, name);
    t.is(primed.code, 0, primed.stderr);
    const cut = await get(proxy.port, '--retries', '0');
    t.is(cut.code, 3, cut.stderr);
    const statePath = join(dl, 'f.bin.part.json');
    const state = JSON.parse(await readFile(statePath, 'utf8')) as State;
    damage(state);
    await writeFile(statePath, JSON.stringify(state));

    const res = await get(server.port, '--resume');
    t.is(res.code, 0, res.stderr);
    t.regex(res.stderr, /f\.bin\.part\.json /, 'the warning names the state file');
    t.regex(res.stderr, why);
    t.regex(res.stderr, /checked against the server's digests/);
    t.true((await readFile(join(dl, 'f.bin'))).equals(data), 'the output is byte-identical');
    t.false(existsSync(statePath));
  });
}
