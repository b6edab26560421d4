/** The package README documents the public API: every name src/index.ts exports appears in it. */
import { readFileSync } from 'node:fs';
import test from 'ava';
import * as api from '../src/index.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const index = readFileSync(new URL('../../src/index.ts', import.meta.url), 'utf8');

/** Names exported by `export { … }` and `export type { … }` lists (`a as b` exports b). */
function exportedNames(source: string): string[] {
  const names: string[] = [];
  for (const [, list] of source.matchAll(/export (?:type )?\{([^}]*)\}/g)) {
    for (const item of list!.split(',')) {
      const name = item
        .trim()
        .split(/\s+as\s+/)
        .at(-1);
      if (name) names.push(name);
    }
  }
  return names;
}

test('every named export of src/index.ts is documented in the README', (t) => {
  const names = exportedNames(index);
  t.true(names.length > 50, `found ${names.length} exports`);
  for (const name of names) t.regex(readme, new RegExp(`\\b${name}\\b`), name);
});

test('every runtime export listed in index.ts exists', (t) => {
  const runtime = new Set(Object.keys(api));
  const typeOnly = new Set(
    [...index.matchAll(/export type \{([^}]*)\}/g)].flatMap(([, l]) =>
      l!.split(',').map((i) =>
        i
          .trim()
          .split(/\s+as\s+/)
          .at(-1)!,
      ),
    ),
  );
  for (const name of exportedNames(index).filter((n) => !typeOnly.has(n))) {
    t.true(runtime.has(name), name);
  }
});
