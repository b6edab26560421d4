/**
 * Runs a command and writes how it ended ({"code":…,"signal":…}) to a file: the terminal
 * helper's record of an exit. tmux shows "Pane is dead (signal 2…)" only when the child's
 * exit status reaches it before the pty's end of file; when the two race the other way (seen
 * under load), the pane is marked dead with no status at all, so tests must not rely on it.
 * Usage: node report-exit.js STATUS_FILE COMMAND [ARG...]
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const [statusFile, command, ...args] = process.argv.slice(2);
if (statusFile === undefined || command === undefined) {
  process.stderr.write('usage: report-exit STATUS_FILE COMMAND [ARG...]\n');
  process.exit(2);
}
// The terminal's signals (Ctrl-C reaches the whole foreground process group) are for the
// command: this process outlives it to write down how it ended. A caught signal is reset to
// its default action across exec, so the command gets the usual dispositions.
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) process.on(s, () => {});
const child = spawn(command, args, { stdio: 'inherit' });
child.on('error', (err) => {
  writeFileSync(statusFile, JSON.stringify({ code: null, signal: null, error: err.message }));
  process.exit(127);
});
child.on('exit', (code, signal) => {
  writeFileSync(statusFile, JSON.stringify({ code, signal }));
  process.exit(code ?? 128);
});
