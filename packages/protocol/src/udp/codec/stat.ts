/** Codecs of the STAT family: STAT (client asks for metadata) and its answer STAT_OK. */
import { PayloadReader } from '../../bytes.js';
import { bad, checkBytes, checkFlags, checkInt, measure } from '../../checks.js';
import {
  DIGEST_SIZE,
  DigestAlgorithm,
  EntryKind,
  Limits,
  MAX_U64,
  VALIDATOR_SIZE,
} from '../../constants.js';
import { DatagramType, UDP_STAT_FLAGS_MASK, UdpLimits, UdpStatFlags } from '../constants.js';
import type { UdpStat, UdpStatOk } from '../messages.js';
import { DatagramWriter } from '../writer.js';
import { checkDigestFields, fail, measureCredential, readCredential, readToken } from './fields.js';

// STAT: nonce u32 tokenLen u8 token path str16 [credential str16 if HAS_CREDENTIAL]
export function encodeUdpStat(m: Omit<UdpStat, 'type'>): Buffer {
  checkInt(m.nonce, 1, 0xffff_ffff, 'nonce');
  checkInt(m.token.length, 0, UdpLimits.MAX_TOKEN, 'token length');
  const n = measure(m.path, Limits.MAX_PATH_BYTES, 'path');
  const c = measureCredential(m.credential);
  const flags =
    (m.wantDigest ? UdpStatFlags.WANT_DIGEST : 0) | (c >= 0 ? UdpStatFlags.HAS_CREDENTIAL : 0);
  const w = new DatagramWriter(
    DatagramType.STAT,
    flags,
    4 + 1 + m.token.length + 2 + n + (c < 0 ? 0 : 2 + c),
  )
    .u32(m.nonce)
    .u8(m.token.length)
    .bytes(m.token)
    .string(m.path, n);
  if (c >= 0) w.string(m.credential!, c);
  return w.done();
}
export function decodeStat(r: PayloadReader, flags: number): UdpStat {
  checkFlags(flags, UDP_STAT_FLAGS_MASK, 'STAT');
  const nonce = r.u32();
  if (nonce === 0) fail('STAT', 'nonce 0');
  const token = readToken(r, 'STAT');
  const path = r.string('path', Limits.MAX_PATH_BYTES, 'FT_ERR_PATH_TOO_LONG');
  const credential = flags & UdpStatFlags.HAS_CREDENTIAL ? readCredential(r, 'STAT') : undefined;
  return {
    type: DatagramType.STAT,
    nonce,
    path,
    wantDigest: (flags & UdpStatFlags.WANT_DIGEST) !== 0,
    token,
    ...(credential === undefined ? {} : { credential }),
  };
}

function isKind(kind: number): boolean {
  return kind === EntryKind.FILE || kind === EntryKind.DIRECTORY || kind === EntryKind.OTHER;
}

// STAT_OK: nonce u32 kind u8 size u64 mtimeMs u64 validator[16] algorithm u8 chunkSize u32 root[32]
export function encodeUdpStatOk(m: Omit<UdpStatOk, 'type'>): Buffer {
  checkInt(m.nonce, 1, 0xffff_ffff, 'nonce');
  if (!isKind(m.kind)) bad(`unknown entry kind ${m.kind}`);
  checkInt(m.size, 0, MAX_U64, 'size');
  checkInt(m.mtimeMs, 0, MAX_U64, 'mtimeMs');
  checkBytes(m.validator, VALIDATOR_SIZE, 'validator');
  checkInt(m.chunkSize, 0, 0xffff_ffff, 'chunkSize');
  checkBytes(m.root, DIGEST_SIZE, 'root');
  checkDigestFields(m, 'STAT_OK');
  return new DatagramWriter(
    DatagramType.STAT_OK,
    0,
    4 + 1 + 8 + 8 + VALIDATOR_SIZE + 1 + 4 + DIGEST_SIZE,
  )
    .u32(m.nonce)
    .u8(m.kind)
    .u64(m.size)
    .u64(m.mtimeMs)
    .bytes(m.validator)
    .u8(m.algorithm)
    .u32(m.chunkSize)
    .bytes(m.root)
    .done();
}
export function decodeStatOk(r: PayloadReader, flags: number): UdpStatOk {
  checkFlags(flags, 0, 'STAT_OK');
  const nonce = r.u32();
  const kind = r.u8();
  if (!isKind(kind)) fail('STAT_OK', `unknown entry kind ${kind}`);
  const size = r.u64('size');
  const mtimeMs = r.u64('mtimeMs');
  const validator = r.bytes(VALIDATOR_SIZE);
  const algorithm = r.u8() as DigestAlgorithm;
  const chunkSize = r.u32();
  const root = r.bytes(DIGEST_SIZE);
  checkDigestFields({ algorithm, chunkSize, root }, 'STAT_OK');
  return {
    type: DatagramType.STAT_OK,
    nonce,
    kind: kind as EntryKind,
    size,
    mtimeMs,
    validator,
    algorithm,
    chunkSize,
    root,
  };
}
