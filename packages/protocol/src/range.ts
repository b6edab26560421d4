/**
 * What a GET's range comes to. Server and client both need the answer: the server to announce
 * it (TCP FILE, UDP ACCEPT), the client to check the announcement, so it is computed in one
 * place.
 */

/**
 * Bytes a GET of `[offset, offset + length)` is answered with, for a file of `size` bytes
 * (`offset ≤ size`; a larger offset is refused with OFFSET_BEYOND_EOF before this is asked):
 * `length` clipped to the end of the file, or everything from `offset` when no length was
 * asked (PROTOCOL.md §5.5).
 */
export function answeredLength(size: number, offset: number, length: number | undefined): number {
  const available = size - offset;
  return length === undefined ? available : Math.min(length, available);
}
