import test from 'ava';
import {
  fitLine,
  formatEta,
  humanBytes,
  humanRate,
  percent,
  sig3,
} from '../src/cli/progress-format.js';
import { RateMeter } from '../src/cli/rate-meter.js';
import { closest } from '../src/cli/suggest.js';
import { preprocessArgv } from '../src/cli/argv.js';

test('3 significant digits, binary units', (t) => {
  t.is(sig3(196.92617280448903), '197');
  t.is(sig3(1.3734), '1.37');
  t.is(sig3(12.345), '12.3');
  t.is(sig3(0.9771), '0.977');
  t.is(humanRate(196.92617280448903), '197 B/s');
  t.is(humanBytes(1.37 * 1024 ** 3), '1.37 GiB');
  t.is(humanBytes(2 * 1024 ** 3), '2.00 GiB');
  t.is(humanBytes(1000), '0.977 KiB');
  t.is(humanBytes(1536), '1.50 KiB');
  t.is(humanBytes(0), '0 B');
  t.is(percent(1.37, 2), '68%');
});

test('ETA as m:ss or h:mm:ss, "--:--" when unknown', (t) => {
  t.is(formatEta(5), '0:05');
  t.is(formatEta(754), '12:34');
  t.is(formatEta(3723), '1:02:03');
  t.is(formatEta(Number.NaN), '--:--');
  t.is(formatEta(Number.POSITIVE_INFINITY), '--:--');
});

test('a line fits the width: the label is shortened first, never the numbers', (t) => {
  const numbers = ' 68% 1.37/2.00 GiB 197 MiB/s ETA 0:05';
  for (const width of [120, 80, 60, 50, 45]) {
    const line = fitLine(width, 'photos/2024/very-long-file-name-of-a-holiday.jpg', 0.68, numbers);
    t.true([...line].length <= width - 1, `${width}: ${line}`);
    t.true(line.endsWith(numbers), `${width}: the numbers are intact in "${line}"`);
  }
  t.regex(
    fitLine(120, 'photos/2024/very-long-file-name-of-a-holiday.jpg', 0.5, numbers),
    /^photos\/2024\/very-long-file-name-of-a-holiday\.jpg █+░+ /,
  );
  t.regex(
    fitLine(60, 'photos/2024/very-long-file-name-of-a-holiday.jpg', 0.5, numbers),
    /^…[^ ]*holiday\.jpg [█░]{6} /,
  );
});

test('the speed is averaged over the window and decays during a stall', (t) => {
  const m = new RateMeter(5000);
  m.add(0, 0);
  m.add(1000, 1000);
  m.add(2000, 2000);
  t.is(m.rate(), 1000);
  m.add(6000, 2000);
  m.add(7000, 2000);
  t.is(m.rate(), 0, 'nothing moved in the last 5 s');
});

test('did you mean: the closest known name within two edits', (t) => {
  t.is(closest('gte', ['get', 'ls', 'stat']), 'get');
  t.is(closest('--retires', ['--retries', '--resume']), '--retries');
  t.is(closest('xyz', ['get', 'ls', 'stat']), undefined);
});

test('argv: help COMMAND becomes COMMAND --help; unknown commands are refused with a hint', (t) => {
  const commands = ['get', 'ls', 'stat'];
  t.deepEqual(preprocessArgv(['help', 'get'], commands), { argv: ['get', '--help'] });
  t.deepEqual(preprocessArgv(['help'], commands), { argv: ['--help'] });
  t.deepEqual(preprocessArgv(['-h'], commands), { argv: ['--help'] });
  t.like(preprocessArgv(['--bogus'], commands), { error: 'unknown flag --bogus' });
  t.deepEqual(preprocessArgv(['get', 'x'], commands), { argv: ['get', 'x'] });
  t.like(preprocessArgv(['gte'], commands), { hint: 'did you mean "ftget get"?' });
  t.like(preprocessArgv(['ft://h/x'], commands), { hint: 'to download it: ftget get ft://h/x' });
});
