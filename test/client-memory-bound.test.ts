/**
 * The client's memory bound: a 1 GiB download, plaintext and over TLS, peaks under the RSS the
 * README states. A resource bound measured inside the process at exit (VmHWM), not a timing.
 */
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { runFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import { servedFile } from './helpers/fixtures.js';
import { makeTestPki } from './helpers/tls-certs.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** The client's peak RSS bound for a 1 GiB download, as stated in the README. */
const PEAK_RSS_BOUND = 80 * MiB;
const PEAK_RSS_HOOK = fileURLToPath(new URL('./helpers/peak-rss-hook.js', import.meta.url));
const pki = makeTestPki();

for (const overTls of [false, true]) {
  test(`peak RSS of a 1 GiB download${overTls ? ' over TLS' : ''} stays under the stated bound`, async (t) => {
    const { root, dl, dir } = await servedFile(t, 'ftget-rss-', 0);
    // A sparse file: the server reads it fast, the client still receives, hashes and writes 1 GiB.
    const big = await open(join(root, 'f.bin'), 'w');
    await big.truncate(GiB);
    await big.close();
    const tls = overTls ? ['--tls-cert', pki.server.cert, '--tls-key', pki.server.key] : [];
    const server = await startFtserve(['--root', root, '--port', '0', '--no-udp', ...tls]);
    t.teardown(() => server.stop('SIGKILL'));
    const peakFile = join(dir, 'peak-rss');
    const source = overTls
      ? [`fts://127.0.0.1:${server.port}/f.bin`, '--cacert', pki.ca]
      : ['f.bin', '--host', '127.0.0.1', '--port', String(server.port)];
    const res = await runFtget(['get', ...source, '-o', 'f.bin', '-q'], {
      cwd: dl,
      timeoutMs: 600_000,
      env: {
        ...process.env,
        NODE_OPTIONS: `--import ${JSON.stringify(PEAK_RSS_HOOK)}`,
        FT_TEST_PEAK_RSS_FILE: peakFile,
      },
    });
    t.is(res.code, 0, res.stderr);
    t.is((await stat(join(dl, 'f.bin'))).size, GiB);
    const peak = Number((await readFile(peakFile, 'utf8')).trim());
    t.log(`peak RSS ${(peak / MiB).toFixed(1)} MiB`);
    t.true(peak > 0, 'the hook reported');
    t.true(peak <= PEAK_RSS_BOUND, `peak RSS ${peak} > ${PEAK_RSS_BOUND}`);
  });
}
