/**
 * ftget(1) as a man page (roff, man macros), generated from the same command metadata as
 * --help, the exit-code table from exit-codes.ts: `ftget manpage > ftget.1; man -l ftget.1`.
 */
import { EXIT_CODE_MEANINGS } from '../exit-codes.js';
import type { CommandSpec, FlagSpec } from './command-specs.js';

/** Escapes text for roff: backslashes, and a leading dot or quote on a line. */
function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

function flagLine(f: FlagSpec): string {
  const value = f.value ? ` ${f.helpValue ?? (f.options ? f.options.join('|') : 'VALUE')}` : '';
  const names = [
    f.char ? `\\fB\\-${f.char}\\fR` : '',
    `\\fB\\-\\-${roff(f.name)}\\fR${roff(value)}`,
  ]
    .filter((n) => n !== '')
    .join(', ');
  return `.TP\n${names}\n${roff(f.description)}`;
}

export function manPage(version: string, commands: readonly CommandSpec[]): string {
  const out: string[] = [
    `.TH FTGET 1 "" "ftget ${roff(version)}" "User Commands"`,
    '.SH NAME',
    'ftget \\- download files from an ftserve, resumably and verified',
    '.SH SYNOPSIS',
    ...commands.map(
      (c) =>
        `.B ftget ${roff(c.id)}\n[\\fIflags\\fR] ${c.args.map((a) => (a.required ? `\\fI${a.name.toUpperCase()}\\fR` : `[\\fI${a.name.toUpperCase()}\\fR]`)).join(' ')}\n.br`,
    ),
    '.SH DESCRIPTION',
    'A REMOTE is a path on the server or a URL \\fBft://host:port/path\\fR. Every command takes \\fB\\-h\\fR/\\fB\\-\\-help\\fR; \\fBftget help\\fR \\fICOMMAND\\fR is the same.',
  ];
  for (const c of commands) {
    out.push(`.SH "ftget ${roff(c.id)}"`, roff(c.summary));
    if (c.description !== '') out.push('.PP', roff(c.description).replace(/\n\n/g, '\n.PP\n'));
    for (const a of c.args) out.push('.TP', `\\fI${a.name.toUpperCase()}\\fR`, roff(a.description));
    for (const f of c.flags) out.push(flagLine(f));
  }
  out.push('.SH "EXIT STATUS"');
  for (const [code, meaning] of Object.entries(EXIT_CODE_MEANINGS))
    out.push('.TP', `\\fB${code}\\fR`, roff(meaning));
  out.push('.SH "SEE ALSO"', 'ftserve(1) \\- README.md and docs/PROTOCOL.md of the ft repository');
  return `${out.join('\n')}\n`;
}
