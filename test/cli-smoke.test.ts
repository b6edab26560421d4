import { spawnSync } from 'node:child_process';
import test from 'ava';

for (const bin of ['packages/client/bin/run.js', 'packages/server/bin/run.js']) {
  test(`${bin} --version exits 0 and prints a version`, (t) => {
    const res = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
    t.is(res.status, 0, res.stderr);
    t.regex(res.stdout, /\d+\.\d+\.\d+/);
    t.is(res.stderr, '');
  });
}
