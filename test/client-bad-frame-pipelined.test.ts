/**
 * The client side of PROTOCOL.md §5.4's rule: what arrives before a bad frame is acted on first.
 * A fake server writes each complete answer and a bad frame in one write, so both reach ftget
 * in the same read; ftget must use the answer, then give the connection up because of the bad
 * frame (a later request goes over a new connection).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { startFakeServer } from './helpers/fake-server.js';
import { runFtget } from './helpers/ftget.js';

/** A frame header of an unknown type: refused from its first byte. */
const BAD_FRAME = Buffer.from([0x5a, 0, 0, 0, 0, 0]);

test('a STAT_OK in the same read as a bad frame is shown', async (t) => {
  const data = randomBytes(12_345);
  const server = await startFakeServer({
    files: { 'f.bin': data },
    behaviour: { trailingBytes: BAD_FRAME },
  });
  t.teardown(() => server.close());
  const r = await runFtget(['stat', 'f.bin', '--port', String(server.port), '--json']);
  t.is(r.code, 0, r.stderr);
  t.like(JSON.parse(r.stdout.toString()), { size: data.length });
});

test('a GET answered in the same read as a bad frame completes; the next file gets a new connection', async (t) => {
  const files = { 'a.bin': randomBytes(40_000), 'b.bin': randomBytes(3_000) };
  const server = await startFakeServer({ files, behaviour: { trailingBytes: BAD_FRAME } });
  t.teardown(() => server.close());
  const out = await mkdtemp(join(tmpdir(), 'ftget-badframe-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const r = await runFtget(
    ['get', 'a.bin', 'b.bin', '--port', String(server.port), '-o', `${out}/`, '--json'],
    { timeoutMs: 60_000 },
  );
  t.is(r.code, 0, r.stderr);
  const reports = r.stdout
    .toString()
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { attempts: number });
  t.deepEqual(
    reports.map((report) => report.attempts),
    [1, 1],
    'each file in its first attempt: no answer was lost',
  );
  t.deepEqual((await readdir(out)).sort(), ['a.bin', 'b.bin'], 'no partial or state left');
  t.true((await readFile(join(out, 'a.bin'))).equals(files['a.bin']));
  t.true((await readFile(join(out, 'b.bin'))).equals(files['b.bin']));
  t.is(server.connections, 2, 'the bad frame ended the first connection; b.bin used a new one');
});
