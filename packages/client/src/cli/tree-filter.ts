/**
 * `get -r --include GLOB --exclude GLOB`, evaluated as rsync does: the rules in command-line
 * order, the first rule that matches an entry decides, and an entry no rule matches is
 * included. An excluded directory is not descended: as with rsync, `--include '*.txt' --exclude
 * '*'` reaches files in subdirectories only with a rule including directories before it (the
 * pattern star-slash).
 *
 * Globs: `*` matches within one path component, `**` across components, `?` one character
 * other than `/`, `[abc]`/`[!abc]` a class, `\` quotes the next character. A pattern ending in
 * `/` matches directories only. A pattern without `/` matches an entry's name at any depth; one
 * with a `/` inside matches the end of its path below the tree (`sub/*.txt`), and one starting
 * with `/` the whole path from the tree's top (`/sub/*.txt`).
 */

export interface FilterRule {
  include: boolean;
  pattern: string;
}

interface CompiledRule {
  include: boolean;
  dirOnly: boolean;
  /** Matched against the name (no `/` in the pattern) or the relative path. */
  wholePath: boolean;
  regex: RegExp;
}

const escapeChar = (c: string): string => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** The regular expression of a glob's body (see the module comment). */
function globBody(glob: string): string {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        re += '.*';
        i++;
      } else re += '[^/]*';
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      // A ']' right after '[' (or '[!') is part of the class.
      const first = glob[i + 1] === '!' ? i + 2 : i + 1;
      const end = glob.indexOf(']', first + 1);
      if (end === -1) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      const negate = body.startsWith('!');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < glob.length) {
      re += escapeChar(glob[++i]!);
    } else {
      re += escapeChar(c);
    }
  }
  return re;
}

function compile(rule: FilterRule): CompiledRule {
  let p = rule.pattern;
  const dirOnly = p.endsWith('/');
  if (dirOnly) p = p.replace(/\/+$/, '');
  const anchored = p.startsWith('/');
  if (anchored) p = p.replace(/^\/+/, '');
  const wholePath = anchored || p.includes('/');
  const body = globBody(p);
  const regex = new RegExp(wholePath && !anchored ? `^(?:.*/)?${body}$` : `^${body}$`, 'u');
  return { include: rule.include, dirOnly, wholePath, regex };
}

/** A compiled rule list: `includes(path, isDirectory)` says whether an entry is kept. */
export class TreeFilter {
  private readonly rules: CompiledRule[];

  constructor(rules: readonly FilterRule[]) {
    this.rules = rules.map(compile);
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** Whether the entry at `relativePath` ('/'-separated, below the tree) is included. */
  includes(relativePath: string, isDirectory: boolean): boolean {
    const name = relativePath.slice(relativePath.lastIndexOf('/') + 1);
    for (const r of this.rules) {
      if (r.dirOnly && !isDirectory) continue;
      if (r.regex.test(r.wholePath ? relativePath : name)) return r.include;
    }
    return true;
  }
}

/**
 * The --include/--exclude rules of a command line in the order given (oclif keeps each flag's
 * values apart, and the order between them is what decides). Stops at `--`.
 */
export function filterRulesFrom(argv: readonly string[]): FilterRule[] {
  const rules: FilterRule[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    const m = /^--(include|exclude)(?:=(.*))?$/s.exec(a);
    if (m === null) continue;
    const pattern = m[2] ?? argv[++i];
    if (pattern !== undefined) rules.push({ include: m[1] === 'include', pattern });
  }
  return rules;
}
