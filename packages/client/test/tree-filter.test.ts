import test from 'ava';
import { TreeFilter, filterRulesFrom } from '../src/cli/tree-filter.js';

const rules = (...specs: string[]) =>
  new TreeFilter(specs.map((s) => ({ include: s.startsWith('+'), pattern: s.slice(2) })));

test('no rules include everything', (t) => {
  t.true(new TreeFilter([]).includes('a/b.txt', false));
  t.true(new TreeFilter([]).empty);
});

test('the first matching rule wins, in the order given', (t) => {
  const a = rules('+ keep.log', '- *.log');
  t.true(a.includes('keep.log', false));
  t.false(a.includes('other.log', false));
  const b = rules('- *.log', '+ keep.log');
  t.false(b.includes('keep.log', false));
  t.true(b.includes('x.txt', false), 'no match: included');
});

test('a pattern without a slash matches the name at any depth', (t) => {
  const f = rules('- *.o');
  t.false(f.includes('x.o', false));
  t.false(f.includes('deep/er/x.o', false));
  t.true(f.includes('x.oo', false));
  t.true(f.includes('x.o/y', false), 'only the last component is the name');
});

test('a slash inside matches the end of the path; a leading slash anchors it', (t) => {
  const f = rules('- sub/*.txt');
  t.false(f.includes('sub/a.txt', false));
  t.false(f.includes('top/sub/a.txt', false));
  t.true(f.includes('sub/deeper/a.txt', false), '* stays within a component');
  const anchored = rules('- /sub/*.txt');
  t.false(anchored.includes('sub/a.txt', false));
  t.true(anchored.includes('top/sub/a.txt', false));
  const star2 = rules('- /sub/**.txt');
  t.false(star2.includes('sub/deeper/a.txt', false));
});

test('a trailing slash matches directories only', (t) => {
  const f = rules('- build/');
  t.false(f.includes('build', true));
  t.true(f.includes('build', false));
});

test('classes, ? and escapes', (t) => {
  const f = rules('- [ab]?.txt', '- [!x]z', '- lit\\*');
  t.false(f.includes('a1.txt', false));
  t.true(f.includes('c1.txt', false));
  t.false(f.includes('yz', false));
  t.true(f.includes('xz', false));
  t.false(f.includes('lit*', false));
  t.true(f.includes('litx', false));
  t.false(rules('- a.b').includes('a.b', false));
  t.true(rules('- a.b').includes('axb', false), 'a dot is literal');
});

test('rules come from the command line in order, both spellings', (t) => {
  t.deepEqual(
    filterRulesFrom([
      'get',
      '-r',
      '--include',
      '*.txt',
      '--exclude=*',
      'x',
      '--',
      '--include',
      'y',
    ]),
    [
      { include: true, pattern: '*.txt' },
      { include: false, pattern: '*' },
    ],
  );
});
