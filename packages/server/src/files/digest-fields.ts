/**
 * The digest fields of an answer (TCP STAT_OK and FILE, UDP STAT_OK and ACCEPT): the version's
 * chunking and root when digests were asked for and exist, else "none". One function, so every
 * answer of either transport says "no digests" the same way (PROTOCOL.md §4.6).
 */
import { DigestAlgorithm } from '@ft/protocol';

/** Digest root sent when there are no digests. */
export const ZERO_DIGEST: Buffer = Buffer.alloc(32);

/** What an answer says about the digests. */
export interface DigestFields {
  algorithm: DigestAlgorithm;
  chunkSize: number;
  root: Buffer;
}

/** SHA256_CHUNKS with the version's chunk size and root, or NONE with chunk size 0 and a zero root. */
export function digestFields(
  digests: { chunkSize: number; root: Buffer } | undefined,
): DigestFields {
  return digests === undefined
    ? { algorithm: DigestAlgorithm.NONE, chunkSize: 0, root: ZERO_DIGEST }
    : {
        algorithm: DigestAlgorithm.SHA256_CHUNKS,
        chunkSize: digests.chunkSize,
        root: digests.root,
      };
}
