/**
 * A real terminal for tests: a detached tmux session of a given size on its own server socket,
 * running one shell command. Tests read the screen with capture(), resize it (the program gets
 * SIGWINCH) and type keys (C-c is a real Ctrl-C: SIGINT to the foreground process group).
 * tmux is installed with apt-get when missing; a test fails (never skips) if it cannot be.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPORT_EXIT = fileURLToPath(new URL('./report-exit.js', import.meta.url));

let checked = false;

/** Makes sure tmux is installed (apt-get install -y tmux when it is not). */
export function ensureTmux(): void {
  if (checked) return;
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
  } catch {
    execFileSync('apt-get', ['install', '-y', 'tmux'], { stdio: 'ignore', timeout: 300_000 });
  }
  checked = true;
}

let sessions = 0;

/** How the command ended: an exit code, or the signal that killed it. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Terminal {
  /** The visible screen (with `history`, the scrolled-off rows above it too), trailing blanks removed. */
  capture(history?: boolean): string[];
  resize(columns: number, rows?: number): void;
  /** tmux key names, e.g. 'C-c'. */
  keys(...keys: string[]): void;
  /** Polls the screen until `predicate` holds (or `ms` pass); returns the last screen. */
  waitFor(predicate: (screen: string[]) => boolean, ms?: number): Promise<string[]>;
  /** Waits (up to `ms`) for the command to end; undefined if it has not. */
  waitExit(ms?: number): Promise<Exit | undefined>;
  kill(): void;
}

/** Starts `command` (a /bin/sh command line, no prompt) in a `columns`×`rows` terminal with `cwd` as working directory. */
export function startTerminal(
  command: string,
  columns: number,
  rows: number,
  cwd: string,
): Terminal {
  ensureTmux();
  const socket = `ft-test-${process.pid}-${sessions++}`;
  const tmux = (...args: string[]): string =>
    execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
  // The command runs under report-exit, which records how it ended: tmux's own "Pane is dead
  // (signal N)" line is not reliable (see report-exit.ts).
  const statusFile = join(tmpdir(), `${socket}.exit.json`);
  rmSync(statusFile, { force: true });
  tmux(
    'new-session',
    '-d',
    '-x',
    String(columns),
    '-y',
    String(rows),
    '-c',
    cwd,
    process.execPath,
    REPORT_EXIT,
    statusFile,
    '/bin/sh',
    '-c',
    // exec: the command itself is report-exit's child, so its own end is what gets recorded
    // (a shell in between would die by a Ctrl-C too, whatever the command did).
    `exec ${command}`,
  );
  // Keep the pane (and its last screen) after the command exits, even by a signal.
  tmux('set-option', '-g', 'remain-on-exit', 'on');
  tmux('set-option', '-g', 'window-size', 'manual');
  const capture = (history = false): string[] =>
    tmux('capture-pane', '-p', ...(history ? ['-S', '-'] : []))
      .split('\n')
      .map((l) => l.replace(/\s+$/, ''));
  return {
    capture,
    resize: (c, r = rows) => {
      tmux('resize-window', '-x', String(c), '-y', String(r));
    },
    keys: (...keys) => {
      tmux('send-keys', ...keys);
    },
    async waitFor(predicate, ms = 30_000) {
      const deadline = Date.now() + ms;
      let screen = capture();
      while (!predicate(screen) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        screen = capture();
      }
      return screen;
    },
    async waitExit(ms = 30_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        try {
          return JSON.parse(readFileSync(statusFile, 'utf8')) as Exit;
        } catch {
          if (Date.now() >= deadline) return undefined;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    kill: () => {
      rmSync(statusFile, { force: true });
      try {
        tmux('kill-server');
      } catch {
        // Already gone.
      }
    },
  };
}
