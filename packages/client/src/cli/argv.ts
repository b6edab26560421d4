/**
 * What bin/run.js does with the command line before oclif sees it (kept free of oclif so it
 * costs nothing to load): `ftget help COMMAND` becomes `ftget COMMAND --help`, and an unknown
 * command is refused with a suggestion (did you mean "get"? / a REMOTE wants `ftget get`).
 */
import { closest } from './suggest.js';

export type ArgvOutcome = { argv: string[] } | { error: string; hint: string };

/** What `ftget` itself takes before a command. */
const ROOT_FLAGS = new Set(['--help', '-h', '--version', '-v']);

/** Whether a word looks like a REMOTE (a URL or a path) rather than a command name. */
function looksLikeRemote(word: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(word) || word.includes('/') || word.includes('.');
}

function unknownCommand(word: string, commands: readonly string[]): ArgvOutcome {
  if (looksLikeRemote(word))
    return {
      error: `unknown command "${word}"`,
      hint: `to download it: ftget get ${word}`,
    };
  const guess = closest(word, commands);
  return {
    error: `unknown command "${word}"`,
    hint:
      guess === undefined
        ? `the commands are: ${commands.join(', ')} (see "ftget --help")`
        : `did you mean "ftget ${guess}"?`,
  };
}

/** Rewrites `help COMMAND`, refuses unknown commands; `commands` are the known command ids. */
export function preprocessArgv(argv: readonly string[], commands: readonly string[]): ArgvOutcome {
  const first = argv[0];
  if (first === '-h') return { argv: ['--help'] };
  if (first === undefined || ROOT_FLAGS.has(first)) return { argv: [...argv] };
  if (first.startsWith('-'))
    return {
      error: `unknown flag ${first}`,
      hint: 'flags go after the command, e.g. ftget get --help',
    };
  if (first === 'help') {
    const topic = argv[1];
    if (topic === undefined || topic.startsWith('-')) return { argv: ['--help'] };
    if (!commands.includes(topic)) return unknownCommand(topic, commands);
    return { argv: [topic, '--help'] };
  }
  if (!commands.includes(first)) return unknownCommand(first, commands);
  return { argv: [...argv] };
}
