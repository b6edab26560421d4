/**
 * Shell completion for ftget, generated from the command metadata: bash (complete -F) and zsh
 * (the same function through zsh's bashcompinit). Completes command names, then each
 * command's flags, the fixed values of flags that have them, and local paths otherwise.
 */
import type { CommandSpec } from './command-specs.js';

/** Shells we write completion for. */
export const SHELLS = ['bash', 'zsh'] as const;
export type Shell = (typeof SHELLS)[number];

function unique(list: readonly string[]): string[] {
  return [...new Set(list)];
}

function words(list: readonly string[]): string {
  return list.join(' ');
}

export function completionScript(shell: Shell, commands: readonly CommandSpec[]): string {
  const names = [...commands.map((c) => c.id), 'help'];
  const flagCases = commands
    .map((c) => {
      const flags = c.flags.flatMap((f) => [
        `--${f.name}`,
        ...(f.allowNo ? [`--no-${f.name}`] : []),
        ...(f.char ? [`-${f.char}`] : []),
      ]);
      return `    ${c.id}) flags="${words(flags)}" ;;`;
    })
    .join('\n');
  const valueFlags = unique(
    commands.flatMap((c) =>
      c.flags
        .filter((f) => f.value)
        .flatMap((f) => [`--${f.name}`, ...(f.char ? [`-${f.char}`] : [])]),
    ),
  );
  const optionCases = [
    ...new Map(
      commands.flatMap((c) =>
        c.flags
          .filter((f) => f.options !== undefined)
          .map((f) => [
            `--${f.name}`,
            `    --${f.name}) COMPREPLY=($(compgen -W "${words(f.options!)}" -- "$cur")); return ;;`,
          ]),
      ),
    ).values(),
  ].join('\n');
  const body = `# ftget completion for ${shell}. Install: ftget completion ${shell} > a file your shell sources.
_ftget() {
  local cur prev cmd flags
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmd="\${COMP_WORDS[1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${words(names)}" -- "$cur"))
    return
  fi
  if [ "$cmd" = help ]; then
    COMPREPLY=($(compgen -W "${words(commands.map((c) => c.id))}" -- "$cur"))
    return
  fi
  case "$prev" in
${optionCases}
    ${words(valueFlags).replace(/ /g, '|') || '--'}) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  case "$cmd" in
${flagCases}
    *) flags="" ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _ftget ftget
`;
  // zsh runs the bash function through bashcompinit (which needs compinit's compdef).
  const zsh =
    '(( $+functions[compdef] )) || { autoload -U +X compinit && compinit -u; }\n' +
    'autoload -U +X bashcompinit && bashcompinit\n';
  return shell === 'zsh' ? zsh + body : body;
}
