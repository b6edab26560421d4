/**
 * Preloaded into a process under test (`NODE_OPTIONS=--import <this file>`): at exit, the
 * main thread appends its peak resident set size (VmHWM of /proc/self/status, in bytes) to
 * the file named by FT_TEST_PEAK_RSS_FILE. Read at exit, it is the true peak of the whole
 * run, which sampling from outside could miss.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

const out = process.env['FT_TEST_PEAK_RSS_FILE'];
if (isMainThread && out !== undefined && out !== '') {
  process.on('exit', () => {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    appendFileSync(out, `${m === null ? -1 : Number(m[1]) * 1024}\n`);
  });
}
