/**
 * Shell completion (bash, zsh) and the man page, generated from the commands' metadata, used
 * the way people use them: the bash function completes commands, flags and flag values; zsh
 * loads the same function through bashcompinit; man renders the page with every flag and
 * exit code. Missing shells or man are installed with apt-get (the test fails if they cannot).
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { EXIT_CODE_MEANINGS } from '@ft/client';
import { runFtget } from './helpers/ftget.js';

function ensureTool(tool: string, pkg: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    execFileSync('apt-get', ['install', '-y', pkg], { stdio: 'ignore', timeout: 300_000 });
  }
}

async function scriptFile(shell: string): Promise<{ file: string; dir: string }> {
  const r = await runFtget(['completion', shell]);
  if (r.code !== 0) throw new Error(r.stderr);
  const dir = await mkdtemp(join(tmpdir(), 'ftget-comp-'));
  const file = join(dir, `ftget.${shell}`);
  await writeFile(file, r.stdout);
  return { file, dir };
}

/** What the bash function offers for the words typed so far (the last one being completed). */
function bashComplete(file: string, words: string[]): string[] {
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const out = execFileSync(
    'bash',
    [
      '-c',
      `source "$0"; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _ftget; printf '%s\\n' "\${COMPREPLY[@]}"`,
      file,
    ],
    { encoding: 'utf8' },
  );
  return out.split('\n').filter((l) => l !== '');
}

test('bash completion: commands, flags of the command, flag values', async (t) => {
  ensureTool('bash', 'bash');
  const { file, dir } = await scriptFile('bash');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.deepEqual(bashComplete(file, ['ftget', 'g']), ['get']);
  t.deepEqual(bashComplete(file, ['ftget', 'get', '--ret']), [
    '--retries',
    '--retry-max-time',
    '--retry-max-wait',
  ]);
  t.deepEqual(bashComplete(file, ['ftget', 'get', '--progress', '']), ['bar', 'line', 'none']);
  t.deepEqual(bashComplete(file, ['ftget', 'get', '--no-r']), ['--no-restart']);
  t.deepEqual(
    bashComplete(file, ['ftget', 'ls', '-']).sort(),
    [
      '--cacert',
      '--follow-links',
      '--help',
      '--host',
      '--insecure',
      '--json',
      '--long',
      '--max-depth',
      '--pin',
      '--port',
      '--recursive',
      '--timeout',
      '--tls',
      '--token',
      '-R',
      '-h',
      '-l',
    ].sort(),
  );
  t.deepEqual(bashComplete(file, ['ftget', 'help', 's']), ['stat']);
  t.true(
    execFileSync('bash', ['-c', 'source "$0"; complete -p ftget', file], {
      encoding: 'utf8',
    }).includes('-F _ftget ftget'),
  );
});

test('zsh completion: the script loads and registers ftget (through bashcompinit)', async (t) => {
  ensureTool('zsh', 'zsh');
  const { file, dir } = await scriptFile('zsh');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const env = { ...process.env, HOME: dir };
  const registered = execFileSync(
    'zsh',
    ['-fc', 'source "$1"; print -r -- ${_comps[ftget]}', 'zsh', file],
    { encoding: 'utf8', env },
  );
  t.is(registered.trim(), '_bash_complete -o filenames -F _ftget');
  // zsh filters the candidates itself; the function must offer get's flags after "get".
  const offered = execFileSync(
    'zsh',
    [
      '-fc',
      'source "$1"; setopt ksharrays; COMP_WORDS=(ftget get --); COMP_CWORD=2; _ftget; print -rl -- "${COMPREPLY[@]}"',
      'zsh',
      file,
    ],
    { encoding: 'utf8', env },
  );
  for (const flag of [
    '--output-dir',
    '--create-dirs',
    '--retry-max-time',
    '--progress',
    '--verbose',
  ])
    t.true(offered.split('\n').includes(flag), flag);
});

test('ftget manpage renders with man: every command, every get flag, every exit code', async (t) => {
  ensureTool('man', 'man-db');
  const r = await runFtget(['manpage']);
  t.is(r.code, 0, r.stderr);
  const dir = await mkdtemp(join(tmpdir(), 'ftget-man-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const page = join(dir, 'ftget.1');
  await writeFile(page, r.stdout);
  const text = execFileSync('man', ['-l', page], {
    encoding: 'utf8',
    env: { ...process.env, MANWIDTH: '100', MAN_KEEP_FORMATTING: '', PAGER: 'cat' },
  });
  t.regex(text, /^FTGET\(1\)/);
  for (const command of ['get', 'ls', 'stat', 'completion'])
    t.regex(text, new RegExp(`ftget ${command} \\[flags\\]`));
  const help = (await runFtget(['get', '--help'])).stdout.toString();
  for (const m of help.matchAll(/^\s+(?:-\w, )?--(\[no-\])?([\w-]+)/gm))
    t.true(text.includes(`--${m[2]}`), `--${m[2]}`);
  t.regex(text, /EXIT STATUS/);
  for (const code of Object.keys(EXIT_CODE_MEANINGS))
    t.regex(text, new RegExp(`^\\s+${code}\\s+\\S`, 'm'));
});
