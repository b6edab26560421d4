/**
 * The refusals every GET goes through once its file is open, whatever carries it (a TCP GET, a
 * UDP REQUEST): both transports make the same decision, here, with the same wire codes and
 * messages (PROTOCOL.md §5.5).
 */
import { FtError, WireError, answeredLength, sameValidator } from '@ft/protocol';
import type { OpenedFile } from './file-service.js';

/** The range fields a GET and a UDP REQUEST share. */
export interface RangeAsked {
  /** The version the client holds a part of, if it sent one. */
  validator?: Buffer | undefined;
  offset: number;
  /** Undefined: to the end of the file. */
  length?: number | undefined;
}

/**
 * The length the range is answered with (clipped to EOF). Throws an FtError with wire code
 * PRECONDITION_FAILED when the validator sent is not the opened version's, else
 * OFFSET_BEYOND_EOF when the offset lies past the end of the file.
 */
export function settleRange(opened: OpenedFile, asked: RangeAsked): number {
  if (asked.validator !== undefined && !sameValidator(asked.validator, opened.validator)) {
    throw new FtError('FT_PRECONDITION_FAILED', 'the file has changed', {
      wireCode: WireError.PRECONDITION_FAILED,
    });
  }
  if (asked.offset > opened.size) {
    throw new FtError(
      'FT_OFFSET_BEYOND_EOF',
      `offset ${asked.offset} is beyond the size ${opened.size}`,
      { wireCode: WireError.OFFSET_BEYOND_EOF },
    );
  }
  return answeredLength(opened.size, asked.offset, asked.length);
}
