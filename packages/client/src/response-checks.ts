/**
 * What a FILE header must say before a single byte of its body is accepted. Every violation
 * is a protocol error: the body is never written.
 */
import {
  DigestAlgorithm,
  Limits,
  answeredLength,
  chunksOverlapping,
  rootDigest,
  sameValidator,
} from '@ft/protocol';
import type { FileHeader } from '@ft/protocol';
import { ClientError, ClientErrorCode } from './errors.js';

/** What the client asked for, and what it already knows about the version. */
export interface HeaderExpectation {
  offset: number;
  /** Requested length; undefined when the GET asked for everything up to EOF. */
  length: number | undefined;
  /** Validator sent with the GET, if any. */
  validator: Buffer | undefined;
  /** Size, chunk size and root of the version, when already known (a zero root: unknown). */
  known: { size: number; chunkSize: number; root: Buffer } | undefined;
  /** The GET set STREAM_DIGESTS: the digests may come after each chunk instead (§4.13). */
  streamed?: boolean | undefined;
}

const ZERO_ROOT = Buffer.alloc(32);

function bad(message: string): ClientError {
  return new ClientError(ClientErrorCode.BAD_RESPONSE, `protocol error: ${message}`);
}

/**
 * Throws FT_BAD_RESPONSE unless the answer (a FILE header, or a UDP ACCEPT before its digests
 * are fetched) names the range and version `want` asked for: the same offset, the validator
 * sent, the known size, and the length that range comes to.
 */
export function checkRangeAnswer(
  h: Pick<FileHeader, 'offset' | 'validator' | 'size' | 'length'>,
  want: HeaderExpectation,
): void {
  if (h.offset !== want.offset) {
    throw bad(`the server sent data from offset ${h.offset}, but offset ${want.offset} was asked`);
  }
  if (want.validator !== undefined && !sameValidator(h.validator, want.validator)) {
    throw bad('the server answered for a different file version than the validator sent');
  }
  if (want.known !== undefined) {
    if (h.size !== want.known.size) {
      throw bad(
        `the file size changed from ${want.known.size} to ${h.size} under the same version`,
      );
    }
  }
  const expectedLength = answeredLength(h.size, want.offset, want.length);
  if (h.length !== expectedLength) {
    throw bad(`the server announced ${h.length} bytes, ${expectedLength} were expected`);
  }
}

/** Throws FT_BAD_RESPONSE unless `h` answers exactly the request described by `want`. */
export function checkFileHeader(h: FileHeader, want: HeaderExpectation): void {
  checkRangeAnswer(h, want);
  const streamed = h.algorithm === DigestAlgorithm.SHA256_CHUNKS_STREAMED;
  if (streamed && want.streamed !== true)
    throw bad('the server streamed the chunk digests although the GET did not accept that');
  if (h.algorithm !== DigestAlgorithm.SHA256_CHUNKS && !streamed) {
    throw bad('the server sent no chunk digests although they were asked for');
  }
  if (!Number.isSafeInteger(h.chunkSize) || h.chunkSize < 1) {
    throw bad(`chunk size ${h.chunkSize} is not a positive integer`);
  }
  if (h.size > 0 && Math.ceil(h.size / h.chunkSize) > Limits.MAX_CHUNKS) {
    throw bad(`chunk size ${h.chunkSize} gives more than ${Limits.MAX_CHUNKS} chunks`);
  }
  if (want.known !== undefined) {
    // A streamed header has no root; a known root of zeros is one not learnt yet.
    const rootsComparable = !streamed && !want.known.root.equals(ZERO_ROOT);
    if (
      h.chunkSize !== want.known.chunkSize ||
      (rootsComparable && !h.root.equals(want.known.root))
    ) {
      throw bad('the digests changed under the same file version');
    }
  }
  // The decoder checked a streamed header's firstChunk; its digests come with the body.
  if (streamed) return;
  const { first, count } = chunksOverlapping(h.offset, h.length, h.chunkSize);
  if (h.length > 0 && (h.firstChunk !== first || h.chunkDigests.length !== count)) {
    throw bad(
      `chunk digests ${h.firstChunk}+${h.chunkDigests.length} do not cover the range (want ${first}+${count})`,
    );
  }
  const all = h.size === 0 ? 0 : Math.ceil(h.size / h.chunkSize);
  if (
    h.firstChunk === 0 &&
    h.chunkDigests.length === all &&
    !rootDigest(h.chunkDigests).equals(h.root)
  ) {
    throw bad('the chunk digests do not add up to the root digest');
  }
}
