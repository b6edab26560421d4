/**
 * ftget in a real terminal (tmux): the progress bar fits 80 and 50 columns and follows a
 * resize (SIGWINCH), shows 3 significant digits, an averaged speed and an ETA; messages are
 * printed above the bar, never over it; batches get a total line and relative labels; and
 * Ctrl-C in a shell loop stops the loop (ftget dies by SIGINT).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { FTGET_BIN } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import type { Fault } from './helpers/tcp-proxy.js';
import { startTerminal } from './helpers/tmux.js';
import type { Terminal } from './helpers/tmux.js';

const MiB = 1024 * 1024;
let base: string;
let server: Ftserve;
let counter = 0;

test.before(async () => {
  base = await mkdtemp(join(tmpdir(), 'ftget-tty-'));
  const root = join(base, 'srv');
  await mkdir(join(root, 'dir', 'sub'), { recursive: true });
  await writeFile(join(root, 'f.bin'), randomBytes(24 * MiB));
  await writeFile(join(root, 'dir', 'a.bin'), randomBytes(64 * 1024));
  await writeFile(join(root, 'dir', 'sub', 'b.bin'), randomBytes(6 * MiB));
  server = await startFtserve(['--root', root, '--port', '0', '--workers', '1']);
});
test.after.always(async () => {
  await server?.stop('SIGKILL');
  await rm(base, { recursive: true, force: true });
});

/** ftget through a proxy with `fault`, in a terminal; cleaned up at teardown. */
async function inTerminal(
  t: ExecutionContext,
  fault: (n: number) => Fault | undefined,
  ftgetArgs: (port: number) => string,
  columns = 80,
  wrap: (cmd: string) => string = (cmd) => cmd,
): Promise<{ term: Terminal; cwd: string }> {
  const proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: server.port }, fault });
  t.teardown(() => proxy.close());
  const cwd = join(base, `w${counter++}`);
  await mkdir(cwd);
  const cmd = `${process.execPath} ${FTGET_BIN} ${ftgetArgs(proxy.port)} --host 127.0.0.1 --port ${proxy.port} --stall-timeout 300`;
  const term = startTerminal(wrap(cmd), columns, 24, cwd);
  t.teardown(() => term.kill());
  return { term, cwd };
}

const BAR = /[█░]/;
const barLines = (screen: string[], label: string) => screen.filter((l) => l.startsWith(label));

/** Every figure of a bar line (not the ETA, not the percentage) has at most 3 significant digits. */
function sig3(t: ExecutionContext, line: string): void {
  const figures = line.replace(/ETA \S+/, '').replace(/\d+%/, '');
  for (const m of figures.matchAll(/\d+(?:\.\d+)?/g)) {
    const digits = m[0].replace('.', '').replace(/^0+/, '');
    t.true(digits.length <= 3, `"${m[0]}" in "${line}" has more than 3 significant digits`);
  }
}

test('the bar fits 80 columns, then 50 after a resize (SIGWINCH), numbers intact; after Ctrl-C the message is on a line of its own and ftget dies by SIGINT', async (t) => {
  const { term, cwd } = await inTerminal(
    t,
    () => ({ stallAfter: 6 * MiB }),
    () => 'get f.bin',
  );
  const FILE_LINE =
    /^f\.bin [█░]+ +\d+% [\d.]+(?: B| KiB| MiB)?\/[\d.]+ MiB [\d.]+ (B|KiB|MiB)\/s ETA (\d+:\d\d|--:--)$/;
  let screen = await term.waitFor((s) => barLines(s, 'f.bin ').some((l) => / [1-9]\d*% /.test(l)));
  let bars = barLines(screen, 'f.bin ');
  t.is(bars.length, 1, screen.join('\n'));
  t.regex(bars[0]!, FILE_LINE);
  t.true(bars[0]!.length <= 79, `${bars[0]!.length} columns: ${bars[0]}`);
  sig3(t, bars[0]!);

  term.resize(50);
  screen = await term.waitFor((s) => {
    const b = barLines(s, 'f.bin');
    return b.length === 1 && b[0]!.length <= 49 && s.every((l) => l.length <= 50);
  });
  bars = barLines(screen, 'f.bin');
  t.is(bars.length, 1, `one status line after the resize, none left over:\n${screen.join('\n')}`);
  t.true(bars[0]!.length <= 49, bars[0]);
  t.regex(
    bars[0]!,
    /\d+% [\d.]+(?: B| KiB| MiB)?\/[\d.]+ MiB [\d.]+ (B|KiB|MiB)\/s ETA (\d+:\d\d|--:--)$/,
  );

  term.keys('C-c');
  t.deepEqual(await term.waitExit(), { code: null, signal: 'SIGINT' }, 'ftget dies by SIGINT');
  screen = term.capture(true);
  const text = screen.join('\n').replace(/\n(?!ftget|Pane|$)/g, '');
  t.regex(
    text,
    /^ftget: interrupted by SIGINT; "ftget get -c ft:\/\/127\.0\.0\.1:\d+\/f\.bin -o f\.bin"/m,
  );
  t.false(
    screen.some((l) => l.startsWith('ftget') && BAR.test(l)),
    `message over a bar:\n${text}`,
  );
  t.true(existsSync(join(cwd, 'f.bin.part')) && existsSync(join(cwd, 'f.bin.part.json')));
  t.false(existsSync(join(cwd, 'f.bin.part.lock')), 'the lock is released');
});

test('a retry line is printed above the bar, not over it, and the bar comes back below it', async (t) => {
  // Connection 0 is cut 3 MiB in; connection 1 stalls, so the bar stays on screen.
  const { term } = await inTerminal(
    t,
    (n) => (n === 0 ? { cutAfter: 3 * MiB } : { stallAfter: 4 * MiB }),
    () => 'get f.bin',
  );
  const screen = await term.waitFor((s) => {
    const i = s.findIndex((l) => l.startsWith('ftget: f.bin: retrying'));
    return i >= 0 && s.slice(i + 1).some((l) => l.startsWith('f.bin ') && /\d+%/.test(l));
  });
  const text = screen.join('\n');
  t.regex(text, /^ftget: f\.bin: retrying in \d+(\.\d)? s \(attempt 2\): connection lost$/m);
  t.false(
    screen.some((l) => l.startsWith('ftget') && BAR.test(l)),
    `message over a bar:\n${text}`,
  );
  const i = screen.findIndex((l) => l.startsWith('ftget: f.bin: retrying'));
  t.true(
    screen.slice(i + 1).some((l) => l.startsWith('f.bin ') && BAR.test(l)),
    `the bar is redrawn below the message:\n${text}`,
  );
});

test('-r: a line for the current file, labelled by its relative path, and a total line', async (t) => {
  const { term } = await inTerminal(
    t,
    () => ({ stallAfter: 3 * MiB }),
    () => 'get -r dir',
  );
  const screen = await term.waitFor(
    (s) =>
      barLines(s, 'dir/sub/b.bin ').some((l) => /\d+% /.test(l)) &&
      barLines(s, 'total ').length === 1,
  );
  const text = screen.join('\n');
  t.regex(barLines(screen, 'dir/sub/b.bin ')[0] ?? '', /\d+% .* ETA /, text);
  const total = barLines(screen, 'total ')[0] ?? '';
  t.regex(
    total,
    /^total [█░]+ +1\/2 files [\d.]+( KiB)?\/[\d.]+ MiB [\d.]+ (B|KiB|MiB)\/s ETA /,
    text,
  );
  t.true(total.length <= 79);
  sig3(t, total.replace('1/2 files', ''));
  t.regex(text, /^ftget: dir\/a\.bin: 64\.0 KiB in /m, 'the finished file has its summary line');
});

test('Ctrl-C stops a shell loop: ftget dies by SIGINT, so the shell does not go on', async (t) => {
  const { term } = await inTerminal(
    t,
    () => ({ stallAfter: 2 * MiB }),
    () => 'get f.bin',
    80,
    (cmd) => `bash -c 'for i in 1 2 3; do ${cmd}; echo "next $i"; done; echo loop-finished'`,
  );
  await term.waitFor((s) => barLines(s, 'f.bin ').length === 1);
  term.keys('C-c');
  t.deepEqual(await term.waitExit(), { code: null, signal: 'SIGINT' }, 'bash dies by SIGINT too');
  const text = term.capture(true).join('\n');
  t.regex(text, /^ftget: interrupted by SIGINT/m);
  t.notRegex(text, /next 1|loop-finished/, `the loop went on:\n${text}`);
});

test('before the first byte (the server still preparing the file) the line says so instead of staying blank', async (t) => {
  const { term } = await inTerminal(
    t,
    () => ({ stallAfter: 0 }),
    () => 'get f.bin',
  );
  const screen = await term.waitFor((s) => barLines(s, 'f.bin ').length === 1);
  t.regex(
    barLines(screen, 'f.bin ')[0] ?? '',
    /^f\.bin [░]+ waiting for the server…$/,
    screen.join('\n'),
  );
});
