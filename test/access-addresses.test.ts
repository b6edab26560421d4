/**
 * --allow / --deny end to end: a refused client address gets ERROR ACCESS_DENIED at accept,
 * before any protocol work, in both process models; other loopback addresses are served; the
 * refusal is logged once per address per minute.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import test from 'ava';
import { DatagramType, FrameType, WireError } from '@ft/protocol';
import { runFtserve, serveRoot } from './helpers/ftserve.js';
import { runFtget } from './helpers/ftget.js';
import { RawClient } from './helpers/raw-client.js';
import { rawUdpClient } from './helpers/udp-raw.js';

const root = mkdtempSync(join(tmpdir(), 'ft-addr-'));
writeFileSync(join(root, 'f.txt'), 'payload');
test.after.always(() => rmSync(root, { recursive: true, force: true }));

/** `ftget get f.txt -o - -q` from 127.0.0.1 to the server on `port`, with `extra` flags. */
function fetchToStdout(port: number, ...extra: string[]) {
  return runFtget([
    'get',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    'f.txt',
    '-o',
    '-',
    '-q',
    ...extra,
  ]);
}

/** Connects from `localAddress` without sending anything; resolves with what the server sent before it closed. */
async function refusedFrom(port: number, localAddress: string, host = '127.0.0.1') {
  const c = await RawClient.connect(port, { host, localAddress, hello: false });
  const events = await c.untilClosed();
  return events;
}

for (const model of [['--workers', '1'], ['--fork-per-connection']]) {
  test(`--deny refuses an address at accept, others are served (${model[0]})`, async (t) => {
    const server = await serveRoot(t, root, [
      '--no-udp',
      ...model,
      '--deny',
      '127.0.0.2,10.0.0.0/8',
      '--deny',
      '127.0.0.3',
    ]);
    for (const from of ['127.0.0.2', '127.0.0.3']) {
      const events = await refusedFrom(server.port, from);
      const messages = events.filter((e) => e.kind === 'message');
      t.is(messages.length, 1, from);
      t.like(messages[0], {
        message: { type: FrameType.ERROR, requestId: 0, code: WireError.ACCESS_DENIED },
      });
    }
    const ok = await RawClient.connect(server.port, { localAddress: '127.0.0.4' });
    t.teardown(() => ok.destroy());
    t.like(await ok.stat('f.txt'), { type: FrameType.STAT_OK, size: 7 });
    const get = await fetchToStdout(server.port);
    t.is(get.stdout.toString(), 'payload');
  });
}

test('--allow admits only its CIDRs; ftget from a refused address gets one line and exit 4', async (t) => {
  const server = await serveRoot(t, root, [
    '--workers',
    '1',
    '--no-udp',
    '--allow',
    '127.0.0.5/32',
  ]);
  const ok = await RawClient.connect(server.port, { localAddress: '127.0.0.5' });
  t.teardown(() => ok.destroy());
  t.like(await ok.stat('f.txt'), { type: FrameType.STAT_OK });
  // ftget connects from 127.0.0.1, which is not allowed.
  const r = await fetchToStdout(server.port, '--retries', '0');
  t.is(r.code, 4);
  t.is(r.stdout.length, 0);
  t.regex(r.stderr, /^ftget: error: address not allowed\n/);
});

test('deny wins over allow, and IPv6 addresses are matched (::1)', async (t) => {
  const server = await serveRoot(t, root, [
    '--workers',
    '1',
    '--no-udp',
    '--allow',
    '127.0.0.0/8,::1',
    '--deny',
    '127.0.0.6',
    '--deny',
    '::1/128',
  ]);
  const denied = await refusedFrom(server.port, '127.0.0.6');
  t.like(
    denied.find((e) => e.kind === 'message'),
    { message: { code: WireError.ACCESS_DENIED } },
  );
  const v6 = await refusedFrom(server.port, '::1', '::1');
  t.like(
    v6.find((e) => e.kind === 'message'),
    { message: { code: WireError.ACCESS_DENIED } },
  );
  const ok = await RawClient.connect(server.port, { localAddress: '127.0.0.7' });
  t.teardown(() => ok.destroy());
  t.like(await ok.stat('f.txt'), { type: FrameType.STAT_OK });
});

test('a refused address is logged once per minute, however often it connects', async (t) => {
  const server = await serveRoot(t, root, [
    '--workers',
    '1',
    '--no-udp',
    '--deny',
    '127.0.0.8,127.0.0.9',
  ]);
  for (let i = 0; i < 5; i++) await refusedFrom(server.port, '127.0.0.8');
  await refusedFrom(server.port, '127.0.0.9');
  // The refused clients do no protocol work: the raw sockets above sent nothing at all, and a
  // client that does send is answered the same without its bytes being read.
  const s = connect({ port: server.port, host: '127.0.0.1', localAddress: '127.0.0.8' });
  s.on('error', () => {});
  s.resume();
  s.write('garbage that is never parsed');
  await new Promise((r) => s.once('close', r));
  await server.stop();
  const lines = server.stderr().split('\n');
  t.is(lines.filter((l) => /address-refused ip=127\.0\.0\.8 transport=tcp/.test(l)).length, 1);
  t.is(lines.filter((l) => /address-refused ip=127\.0\.0\.9/.test(l)).length, 1);
  t.false(server.stderr().includes('FT_ERR_BAD_MAGIC'));
});

test('a bad --allow or --deny is a one-line usage error', async (t) => {
  for (const flag of ['--allow', '--deny']) {
    for (const bad of ['10.0.0.0/33', 'localhost', '::1/129', '1.2.3.4/x']) {
      const r = await runFtserve(['--root', root, '--port', '0', flag, bad]);
      t.is(r.code, 2, `${flag} ${bad}`);
      t.regex(
        r.stderr,
        new RegExp(
          `^ftserve: ${flag} takes IPv4 or IPv6 addresses or CIDRs .*got "${bad.replace(/[./]/g, '\\$&')}"\\n$`,
        ),
      );
    }
  }
});

test('UDP: datagrams from a refused address are dropped unanswered and logged; others are served', async (t) => {
  const server = await serveRoot(t, root, ['--workers', '1', '--deny', '127.0.0.2']);
  const refused = await rawUdpClient(server.port, '127.0.0.2');
  t.teardown(() => refused.close());
  // No RETRY, no ERROR: nothing at all comes back to a denied address.
  await t.throwsAsync(() => refused.request('f.txt', 1500));
  const ok = await rawUdpClient(server.port, '127.0.0.4');
  t.teardown(() => ok.close());
  t.like(await ok.request('f.txt', 10_000), { type: DatagramType.ACCEPT });
  const get = await fetchToStdout(server.port, '--udp');
  t.is(get.stdout.toString(), 'payload', get.stderr);
  for (let i = 0; i < 100 && !/ip=127\.0\.0\.2 transport=udp/.test(server.stderr()); i++)
    await new Promise((r) => setTimeout(r, 50));
  t.regex(server.stderr(), /ip=127\.0\.0\.2 transport=udp/);
});
