/**
 * docs/PROTOCOL.md is the specification: these tests parse its tables and examples and hold them
 * to the code, in both directions (everything in the code is documented, everything documented
 * exists in the code with the same number).
 */
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  DecodeError,
  DigestAlgorithm,
  EntryKind,
  FRAME_HEADER_SIZE,
  FrameDecoder,
  FrameType,
  LINK_CREDENTIAL_PREFIX,
  LINK_MAC_TAG,
  LINK_QUERY,
  Limits,
  LinkKind,
  ListFlags,
  ListRequestFlags,
  AEAD_TAG_SIZE,
  DatagramType,
  MAX_FORGERIES,
  MAX_SEALED_PER_DIRECTION,
  REPLAY_WINDOW,
  SEALED_HEADER_SIZE,
  UDP_EXPORTER_LABEL,
  UDP_KEY_MATERIAL_SIZE,
  UDP_SESSION_ID_SIZE,
  WIRE_ERROR_MEANINGS,
  WireError,
  chunkSizeFor,
  decodeLinkCredential,
  encodeChunkDigest,
  encodeEnd,
  encodeError,
  encodeFile,
  encodeGet,
  encodeHello,
  encodeLinkCredential,
  encodeList,
  encodeListResult,
  encodeStat,
  encodeStatResult,
  encodeUdpSession,
  encodeUdpSessionOk,
  encodeWelcome,
  linkMacInput,
  linkPathDigest,
  rootDigest,
  sha256,
  validatorOf,
} from '../src/index.js';
import type { DecoderEvent } from '../src/index.js';

const doc = readFileSync(new URL('../../../../docs/PROTOCOL.md', import.meta.url), 'utf8');

/** The text under the first heading matching `title`, up to the next heading of the same or a higher level. */
function section(title: RegExp): string {
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => /^#{1,6} /.test(l) && title.test(l));
  if (start === -1) throw new Error(`no section ${title}`);
  const level = /^#+/.exec(lines[start]!)![0].length;
  const end = lines.findIndex(
    (l, i) => i > start && /^#{1,6} /.test(l) && /^#+/.exec(l)![0].length <= level,
  );
  return lines.slice(start + 1, end === -1 ? undefined : end).join('\n');
}

/** Rows of the markdown tables in `text` (header rows included, separators not), as trimmed cells. */
function rows(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('|') && !/^\|\s*:?-/.test(l))
    .map((l) =>
      l
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim()),
    );
}

/** Rows whose first cell matches `first` (drops header rows of several tables at once). */
function dataRows(text: string, first: RegExp): string[][] {
  return rows(text).filter((r) => first.test(r[0] ?? ''));
}

const unquote = (cell: string): string => cell.replace(/^`|`$/g, '');

test('every wire error is in the catalog with its number and meaning, and nothing else is', (t) => {
  const table = dataRows(section(/Wire error codes/), /^\d+$/);
  const documented = new Map(
    table.map((r) => [unquote(r[1]!), { code: Number(r[0]), meaning: r[2] }]),
  );
  t.deepEqual([...documented.keys()].sort(), Object.keys(WireError).sort());
  for (const [name, code] of Object.entries(WireError)) {
    t.is(documented.get(name)?.code, code, name);
    t.is(documented.get(name)?.meaning, WIRE_ERROR_MEANINGS[name as keyof typeof WireError], name);
  }
  t.is(table.length, documented.size, 'no duplicates');
});

test('every decode error is in the catalog with the wire code a server answers, and nothing else is', (t) => {
  const table = dataRows(section(/Decode errors/), /^`FT_ERR_/);
  const documented = new Map(table.map((r) => [unquote(r[0]!), r[1]!]));
  t.deepEqual([...documented.keys()].sort(), Object.keys(DecodeError).sort());
  for (const [code, wire] of Object.entries(DecodeError)) {
    const cell = documented.get(code) ?? '';
    const m = /^(\d+) \(`([A-Z_]+)`\)$/.exec(cell);
    t.truthy(m, `${code}: "${cell}"`);
    t.is(Number(m?.[1]), wire, code);
    t.is(WireError[m?.[2] as keyof typeof WireError], wire, code);
    t.true(
      (table.find((r) => unquote(r[0]!) === code)?.[2] ?? '').length > 10,
      `${code} has a meaning`,
    );
  }
  t.is(table.length, documented.size, 'no duplicates');
});

test('every error code named anywhere in the document exists', (t) => {
  for (const [, code] of doc.matchAll(/`(FT_ERR_[A-Z0-9_]+)`/g)) t.true(code! in DecodeError, code);
  const clientCodes = new Set([
    ...Object.keys(WireError).map((n) => `FT_${n}`),
    'FT_UNKNOWN_REMOTE_ERROR',
  ]);
  for (const [, code] of doc.matchAll(/`(FT_(?!ERR_)[A-Z0-9_]+)`/g))
    t.true(clientCodes.has(code!), code);
});

test('the frame type table matches FrameType', (t) => {
  const table = dataRows(section(/Frame types/), /^`0x/);
  const documented = Object.fromEntries(table.map((r) => [unquote(r[1]!), Number(unquote(r[0]!))]));
  t.deepEqual(documented, { ...FrameType });
});

test('the limits table matches Limits', (t) => {
  const table = dataRows(section(/^## 3\. Limits/), /^`MAX_/);
  const documented = Object.fromEntries(table.map((r) => [unquote(r[0]!), Number(r[1])]));
  t.deepEqual(documented, { ...Limits });
});

/** A sample of each message with empty strings, lists and digests: its payload is the fixed part. */
const minimal: Record<string, Buffer> = {
  HELLO: encodeHello({ minVersion: 1, maxVersion: 1, name: '' }),
  WELCOME: encodeWelcome({ version: 1, maxRequestFrame: 8192, name: '' }),
  GET: encodeGet({ requestId: 1, path: '', offset: 0, wantDigests: false }),
  STAT: encodeStat({ requestId: 1, path: '', wantDigest: false }),
  LIST: encodeList({ requestId: 1, path: '' }),
  FILE: encodeFile({
    requestId: 1,
    size: 0,
    offset: 0,
    length: 0,
    mtimeMs: 0,
    validator: Buffer.alloc(16),
    algorithm: DigestAlgorithm.NONE,
    chunkSize: 0,
    root: Buffer.alloc(32),
    firstChunk: 0,
    chunkDigests: [],
  }),
  END: encodeEnd({ requestId: 1, bytesSent: 0, status: 0 }),
  CHUNK_DIGEST: encodeChunkDigest({ requestId: 1, index: 0, digest: Buffer.alloc(32) }),
  STAT_OK: encodeStatResult({
    requestId: 1,
    kind: EntryKind.FILE,
    size: 0,
    mtimeMs: 0,
    validator: Buffer.alloc(16),
    algorithm: DigestAlgorithm.NONE,
    chunkSize: 0,
    root: Buffer.alloc(32),
  }),
  LIST_OK: encodeListResult({ requestId: 1, more: false, entries: [] }),
  UDP_SESSION: encodeUdpSession({ requestId: 1, path: '' }),
  UDP_SESSION_OK: encodeUdpSessionOk({ requestId: 1, sessionId: Buffer.alloc(8), lifetimeMs: 1 }),
  ERROR: encodeError({ requestId: 1, code: 1, retryAfterMs: 0, message: '' }),
};

/** The version-2 forms that append fields. */
const extended: Record<string, Buffer> = {
  CHUNK_DIGEST: encodeChunkDigest({
    requestId: 1,
    index: 0,
    digest: Buffer.alloc(32),
    root: Buffer.alloc(32),
  }),
  STAT_OK: encodeStatResult({
    requestId: 1,
    kind: EntryKind.FILE,
    size: 0,
    mtimeMs: 0,
    validator: Buffer.alloc(16),
    algorithm: DigestAlgorithm.SHA256_CHUNKS,
    chunkSize: 1024 * 1024,
    root: Buffer.alloc(32),
    sha256: Buffer.alloc(32),
  }),
};

/** "2 + n" → 2, "32 × chunkCount" → 0, "…" → 0: the size with every variable part empty. */
function fixedSize(cell: string): number {
  if (cell === '…' || /×/.test(cell)) return 0;
  const m = /^(\d+)( \+ n)?$/.exec(cell);
  if (m === null) throw new Error(`unparsed size "${cell}"`);
  return Number(m[1]);
}

for (const name of Object.keys(FrameType)) {
  test(`the ${name} layout table is contiguous and matches the encoder`, (t) => {
    const text = section(new RegExp(`^### 4\\.\\d+ ${name} \\(\``));
    const hex = `0x${FrameType[name as keyof typeof FrameType].toString(16).padStart(2, '0')}`;
    t.true(doc.includes(`${name} (\`${hex}\``), 'type number in the heading');
    // The first table of the section is the payload layout (LIST_OK's entry table comes second).
    const table = rows(text.split('\n\n').find((p) => p.startsWith('| offset'))!).filter((r) =>
      /^\d+$/.test(r[0]!),
    );
    // Version-2 appendices (marked so in the table) come after the whole version-1 layout.
    let end = 0;
    let fixedEnd: number | undefined;
    for (const [offset, size, , , meaning] of table) {
      t.is(Number(offset), end, `${name}: field at ${offset}`);
      if (/^\*\*version [23], optional\*\*/.test(meaning ?? '')) fixedEnd ??= end;
      else t.is(fixedEnd, undefined, `${name}: a version-1 field after an optional one`);
      end += fixedSize(size!);
    }
    const at = fixedEnd ?? end;
    const frame = minimal[name]!;
    t.is(at, frame.length - FRAME_HEADER_SIZE, `${name}: fixed payload size`);
    if (fixedEnd !== undefined)
      t.is(end, extended[name]!.length - FRAME_HEADER_SIZE, `${name}: with the appendix`);
    t.regex(text, new RegExp(`Payload size:\\s+${at}( \\+|\\b)`), 'the stated payload size');
  });
}

/** Sums the "+offset" rows of one entry table, checking that each starts where the last ended. */
function entryTableSize(t: ExecutionContext, table: string): number {
  let at = 0;
  for (const [offset, size] of rows(table).filter((r) => /^\+\d+( \+ n)?$/.test(r[0]!))) {
    const m = /^\+(\d+)( \+ n)?$/.exec(offset!)!;
    t.is(Number(m[1]), at, `entry field at ${offset}`);
    at += fixedSize(size!.replace(/ \+ t$/, ''));
  }
  return at;
}

test('the LIST_OK entry tables (version 1 and LINKS) are contiguous and match the encoder', (t) => {
  const tables = section(/^### 4\.9 LIST_OK/)
    .split('\n\n')
    .filter((p) => p.startsWith('| offset') && p.includes('| +0 |'));
  t.is(tables.length, 2);
  const entry = { kind: EntryKind.FILE, name: '', size: 0, mtimeMs: 0 };
  const one = encodeListResult({ requestId: 1, more: false, entries: [entry] });
  t.is(entryTableSize(t, tables[0]!), one.length - minimal.LIST_OK!.length);
  const linked = encodeListResult({ requestId: 1, more: false, links: true, entries: [entry] });
  t.is(entryTableSize(t, tables[1]!), linked.length - minimal.LIST_OK!.length);
  t.regex(section(/^### 4\.9 LIST_OK/), /7 \+ Σ \(22 \+ nᵢ \+ tᵢ\)/);
});

test('the LIST flags row follows the path and matches the version-2 encoder', (t) => {
  const text = section(/^### 4\.5 LIST \(`/);
  t.regex(text, /^\| 6 \+ n \| 1 \| `u8` \| flags \|/m);
  const v2 = encodeList({ requestId: 1, path: '', wantLinks: true });
  t.is(v2.length, minimal.LIST!.length + 1);
  t.regex(text, /`0x01` \| `WANT_LINKS`/);
  t.is(ListRequestFlags.WANT_LINKS, 0x01);
  t.is(ListFlags.LINKS, 0x02);
  t.regex(section(/^### 4\.9 LIST_OK/), /`0x02` LINKS/);
  for (const [name, value] of Object.entries(LinkKind)) {
    t.regex(section(/^### 4\.9 LIST_OK/), new RegExp(`${value} ${name}:`), name);
  }
});

/** The bytes of the ```hex blocks of the worked example, in order (commentary after # removed). */
function hexBlocks(): Buffer[] {
  return [...section(/^## 10\. Worked example/).matchAll(/```hex\n([\s\S]*?)```/g)].map(
    ([, body]) =>
      Buffer.from(
        body!
          .split('\n')
          .map((l) => l.split('#')[0]!.replace(/\s+/g, ''))
          .join(''),
        'hex',
      ),
  );
}

test('the worked example is exactly what the encoders produce', (t) => {
  const blocks = hexBlocks();
  t.is(blocks.length, 2);
  const content = Buffer.from('hello world\n');
  const validator = validatorOf({
    dev: 2049n,
    ino: 1234n,
    size: 12n,
    mtimeNs: 1_700_000_000_000_000_000n,
    ctimeNs: 1_700_000_000_000_000_000n,
  });
  const chunk = sha256(content);
  const client = Buffer.concat([
    encodeHello({ minVersion: 1, maxVersion: 1, name: 'ftget/0.1.0' }),
    encodeGet({ requestId: 1, path: 'hello.txt', offset: 6, validator, wantDigests: true }),
  ]);
  const server = Buffer.concat([
    encodeWelcome({ version: 1, maxRequestFrame: 8192, name: 'ftserve/0.1.0' }),
    encodeFile({
      requestId: 1,
      size: 12,
      offset: 6,
      length: 6,
      mtimeMs: 1_700_000_000_000,
      validator,
      algorithm: DigestAlgorithm.SHA256_CHUNKS,
      chunkSize: chunkSizeFor(12),
      root: rootDigest([chunk]),
      firstChunk: 0,
      chunkDigests: [chunk],
    }),
    content.subarray(6),
    encodeEnd({ requestId: 1, bytesSent: 6, status: 0 }),
  ]);
  t.is(blocks[0]!.toString('hex'), client.toString('hex'));
  t.is(blocks[1]!.toString('hex'), server.toString('hex'));
});

test('the worked example decodes to the messages it describes', (t) => {
  const [client, server] = hexBlocks();
  const requests = new FrameDecoder({ accept: 'requests' }).push(client!);
  t.like(requests[1], {
    kind: 'message',
    message: {
      type: FrameType.GET,
      path: 'hello.txt',
      offset: 6,
      length: undefined,
      wantDigests: true,
    },
  });
  const responses: DecoderEvent[] = new FrameDecoder({ accept: 'responses' }).push(server!);
  t.deepEqual(
    responses.map((e) => (e.kind === 'data' ? e.chunk.toString() : e.message.type)),
    [FrameType.WELCOME, FrameType.FILE, 'world\n', FrameType.END],
  );
});

test('the document ends with the UDP section for the datagram messages', (t) => {
  t.regex(doc, /\n## UDP datagrams\n/);
});

test('the HELLO token row follows the name and matches the encoder', (t) => {
  const text = section(/^### 4\.1 HELLO \(`/);
  t.regex(text, /^\| 10 \+ n \| 2 \+ t \| `str16` \| token \| \*\*optional\*\*/m);
  const plain = encodeHello({ minVersion: 1, maxVersion: 2, name: 'n' });
  const token = encodeHello({ minVersion: 1, maxVersion: 2, name: 'n', token: 'abc' });
  t.is(token.length, plain.length + 2 + 3);
  t.regex(text, /12 \+ n \+ t bytes carries one/);
  t.regex(section(/^### 5\.6 Access tokens/), /`UNAUTHORIZED`[\s\S]*`FORBIDDEN`/);
});

test('the signed-link example of §5.7 is what the code and an HMAC-SHA256 of its input give', (t) => {
  const text = section(/^### 5\.7 Signed links/);
  const field = (name: string): string => new RegExp(`^${name} +(\\S.*)$`, 'm').exec(text)![1]!;
  const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  t.regex(text, new RegExp(`key file text is \`${key.toString('base64url')}\``));
  const kid = createHash('sha256').update(key).digest().subarray(0, 4).toString('hex');
  t.is(field('kid'), kid);
  const digest = linkPathDigest('docs/a.txt');
  t.is(field('SHA-256'), digest.toString('hex'));
  t.is(
    field('HMAC input').replaceAll(' LF ', '\n'),
    linkMacInput(kid, 1767225600, digest).toString(),
  );
  t.true(field('HMAC input').startsWith(LINK_MAC_TAG));
  const sig = createHmac('sha256', key)
    .update(linkMacInput(kid, 1767225600, digest))
    .digest('base64url');
  const q = LINK_QUERY;
  t.is(
    field('link'),
    `ft://files.example:7070/docs/a.txt?${q.expires}=1767225600&${q.keyId}=${kid}&${q.signature}=${sig}`,
  );
  const credential = encodeLinkCredential({
    expires: 1767225600,
    keyId: kid,
    pathDigest: digest,
    signature: sig,
  });
  t.is(field('credential'), credential);
  t.true(credential.startsWith(LINK_CREDENTIAL_PREFIX));
  t.true(credential.length <= 117);
  t.like(decodeLinkCredential(credential), { expires: 1767225600, keyId: kid, signature: sig });
  t.is(decodeLinkCredential(credential.replace('.630dcd29.', '.630DCD29.')), undefined);
});

test('the encrypted UDP construction is documented with the numbers the code uses', (t) => {
  const text = section(/^### Encrypted UDP sessions/);
  t.true(text.includes(`label = "${UDP_EXPORTER_LABEL}"`));
  t.true(text.includes(`length = ${UDP_KEY_MATERIAL_SIZE})`));
  t.true(text.includes(`context = sessionId (${UDP_SESSION_ID_SIZE} bytes)`));
  const layout = rows(text).filter((r) => /^\d+(\+n)?$/.test(r[0]!));
  t.deepEqual(
    layout.map((r) => r[0]),
    ['0', '1', '2', '3', '4', '12', '20', '20+n'],
  );
  t.is(Number(layout[6]![0]), SEALED_HEADER_SIZE);
  t.is(Number(layout[7]![1]), AEAD_TAG_SIZE);
  t.true(text.includes(`bitmap of the ${REPLAY_WINDOW} packet numbers`));
  t.true(text.includes(`2^${Math.log2(MAX_SEALED_PER_DIRECTION)}`));
  t.true(text.includes(`| failed tag checks per session | 2^${Math.log2(MAX_FORGERIES)}:`));
  t.regex(
    text,
    new RegExp(
      `type \`0x0${DatagramType.SEALED_TO_SERVER}\` client → server, \`0x${DatagramType.SEALED_TO_CLIENT.toString(16)}\``,
    ),
  );
});
