import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { CloseReason, DatagramType, encodeUdpClose } from '@ft/protocol';
import { startFtserve } from './helpers/ftserve.js';
import { waitFor } from './helpers/procfs.js';
import { rawUdpClient } from './helpers/udp-raw.js';

const dir = mkdtempSync(join(tmpdir(), 'ft-hupudp-'));
const root = join(dir, 'root');

test.before(() => {
  mkdirSync(root);
  writeFileSync(join(root, 'f.bin'), Buffer.alloc(100_000, 7));
});
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** Starts a UDP transfer and cancels it at once, so the UDP service logs a udp-transfer-end line. */
async function udpTransfer(port: number): Promise<void> {
  const c = await rawUdpClient(port);
  try {
    const m = await c.request('f.bin');
    if (m.type !== DatagramType.ACCEPT) throw new Error(`expected ACCEPT, got ${m.type}`);
    c.send(encodeUdpClose({ transferId: m.transferId, reason: CloseReason.CANCEL }));
  } finally {
    await c.close();
  }
}

function udpEnds(file: string): number {
  if (!existsSync(file)) return 0;
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"event":"udp-transfer-end"')).length;
}

test('SIGHUP makes the UDP service process reopen the log file too', async (t) => {
  const log = join(dir, 'udp.log');
  const server = await startFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--workers',
    '1',
    '--log-file',
    log,
    '--log-format',
    'json',
  ]);
  t.teardown(() => server.stop());
  t.not(server.udp, 'off');
  await udpTransfer(server.port);
  t.true(await waitFor(() => udpEnds(log) > 0, 30_000), 'the UDP service logs to the file');
  renameSync(log, `${log}.1`);
  server.child.kill('SIGHUP');
  // The reopen travels over IPC: keep making transfers (bounded) until one lands in the new file.
  let reopened = false;
  for (let i = 0; i < 30 && !reopened; i++) {
    await udpTransfer(server.port);
    reopened = await waitFor(() => udpEnds(log) > 0, 1000);
  }
  t.true(reopened, 'UDP log lines go to the new file after SIGHUP');
  const before = udpEnds(`${log}.1`);
  await udpTransfer(server.port);
  t.true(await waitFor(() => udpEnds(log) > 1, 30_000));
  t.is(udpEnds(`${log}.1`), before, 'nothing more goes to the renamed file');
  t.is(server.stderr(), '');
});
