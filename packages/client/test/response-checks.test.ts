/**
 * checkFileHeader as a unit (the end-to-end angle is client-misbehaving.test.ts): an answer for
 * another version than the validator sent is a protocol error before any byte is accepted, as
 * are other facts under the same version.
 */
import test from 'ava';
import { DigestAlgorithm, FrameType, rootDigest, sha256 } from '@ft/protocol';
import type { FileHeader } from '@ft/protocol';
import { checkFileHeader } from '../src/response-checks.js';

const CS = 1024 * 1024;
const SIZE = 3 * CS + 10;
const digests = [0, 1, 2, 3].map((i) => sha256(Buffer.from(`chunk ${i}`)));
const root = rootDigest(digests);
const validator = Buffer.alloc(16, 0xab);

/** The honest answer to GET offset 2 MiB to EOF with digests. */
function header(over: Partial<FileHeader> = {}): FileHeader {
  return {
    type: FrameType.FILE,
    requestId: 1,
    size: SIZE,
    offset: 2 * CS,
    length: SIZE - 2 * CS,
    mtimeMs: 0,
    validator,
    algorithm: DigestAlgorithm.SHA256_CHUNKS,
    chunkSize: CS,
    root,
    firstChunk: 2,
    chunkDigests: digests.slice(2),
    ...over,
  };
}

const want = {
  offset: 2 * CS,
  length: undefined,
  validator,
  known: { size: SIZE, chunkSize: CS, root },
};

test('an honest answer passes', (t) => {
  t.notThrows(() => checkFileHeader(header(), want));
  t.notThrows(() => checkFileHeader(header(), { ...want, validator: undefined, known: undefined }));
});

test('an answer for another validator than the one sent is a protocol error', (t) => {
  for (const other of [Buffer.alloc(16, 0xac), Buffer.from(validator).fill(0, 15)]) {
    const e = t.throws(() => checkFileHeader(header({ validator: other }), want));
    t.is((e as { code?: string }).code, 'FT_BAD_RESPONSE');
    t.regex(e!.message, /different file version than the validator sent/);
  }
});

test('without a validator sent, any validator is accepted (a fresh download names the version)', (t) => {
  t.notThrows(() =>
    checkFileHeader(header({ validator: Buffer.alloc(16, 1) }), {
      ...want,
      validator: undefined,
      known: undefined,
    }),
  );
});

test('another size or root under the same version is a protocol error', (t) => {
  t.throws(() => checkFileHeader(header({ size: SIZE + 1, length: SIZE + 1 - 2 * CS }), want), {
    message: /size changed/,
  });
  t.throws(() => checkFileHeader(header({ root: sha256(root) }), want), {
    message: /digests changed under the same file version/,
  });
});
