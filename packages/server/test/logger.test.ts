import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { FLUSH_MS, Logger, flushDelay } from '../src/logger.js';

test('FTSERVE_LOG_FLUSH_MS: 0 to 1000 ms is taken, anything else gives the 20 ms default', (t) => {
  t.is(flushDelay(undefined), 20);
  t.is(flushDelay(''), 20);
  t.is(flushDelay('0'), 0);
  t.is(flushDelay('1000'), 1000);
  for (const bad of ['-1', '1001', '2.5', 'abc', '1e3x']) t.is(flushDelay(bad), 20, bad);
});

test('lines wait together and leave in one write: none before the delay, all of them after', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ft-logger-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'log');
  const logger = new Logger({ format: 'text', file });
  logger.info('one', { n: 1 });
  logger.info('two', { n: 2 });
  // Nothing is written in the turn the lines were logged (FLUSH_MS is 0 or more: a timer).
  t.is(readFileSync(file, 'utf8'), '');
  await new Promise((r) => setTimeout(r, FLUSH_MS + 50));
  const text = readFileSync(file, 'utf8');
  t.regex(text, /info ftserve\[\d+\] one n=1\n.*info ftserve\[\d+\] two n=2\n$/);
  logger.close();
});

test('more than PIPE_BUF bytes waiting are written at once, in whole lines', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ft-logger-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'log');
  const logger = new Logger({ format: 'text', file });
  for (let i = 0; i < 100; i++) logger.info('line', { i, pad: 'x'.repeat(60) });
  const text = readFileSync(file, 'utf8');
  t.true(text.length > 0 && text.length <= 100 * 120);
  t.true(text.endsWith('\n'));
  logger.flush();
  t.is(readFileSync(file, 'utf8').split('\n').length - 1, 100);
  logger.close();
});
