import test from 'ava';
import { VALIDATOR_SIZE, sameValidator, validatorOf } from '../src/index.js';
import type { VersionIdentity } from '../src/index.js';

const base: VersionIdentity = {
  dev: 2049n,
  ino: 131_073n,
  size: 1000n,
  mtimeNs: 1_700_000_000_123_456_789n,
  ctimeNs: 1_700_000_000_987_654_321n,
};

test('a validator is 16 bytes and stable for the same identity', (t) => {
  const v = validatorOf(base);
  t.is(v.length, VALIDATOR_SIZE);
  t.deepEqual(validatorOf({ ...base }), v);
  t.true(sameValidator(v, validatorOf({ ...base })));
});

for (const field of ['dev', 'ino', 'size', 'mtimeNs', 'ctimeNs'] as const) {
  test(`the validator changes when ${field} changes`, (t) => {
    const changed = validatorOf({ ...base, [field]: base[field] + 1n });
    t.false(sameValidator(validatorOf(base), changed));
  });
}

test('a 1 ns change of mtime changes the validator (no millisecond rounding)', (t) => {
  t.false(sameValidator(validatorOf(base), validatorOf({ ...base, mtimeNs: base.mtimeNs + 1n })));
});

test('fields do not run into each other', (t) => {
  // "1:23" and "12:3" must not collide.
  const a = validatorOf({ dev: 1n, ino: 23n, size: 0n, mtimeNs: 0n, ctimeNs: 0n });
  const b = validatorOf({ dev: 12n, ino: 3n, size: 0n, mtimeNs: 0n, ctimeNs: 0n });
  t.false(sameValidator(a, b));
});

test('sameValidator compares bytes', (t) => {
  t.true(sameValidator(Buffer.alloc(16, 1), new Uint8Array(16).fill(1)));
  t.false(sameValidator(Buffer.alloc(16, 1), Buffer.alloc(16, 2)));
  t.false(sameValidator(Buffer.alloc(16), Buffer.alloc(15)));
});
