/**
 * Positional reads of file bytes for DATA datagrams. Reads are synchronous, in blocks of about
 * 256 KiB cut on the transfer's segment grid (a whole number of payloads from the first offset),
 * and the last few blocks are kept: a sender asks for consecutive segments (and, rarely, for a
 * retransmission a little behind), so one read serves many datagrams and every segment is a view
 * into one block, never a copy. Synchronous reads keep the engine simple (a segment handed out
 * is sent at once); they come from the page cache in the common case, and the UDP service runs
 * in its own process, so a slow disk stalls only UDP transfers.
 *
 * Evicted blocks are retired, and their memory is reused for a later read only once nothing
 * can still point into it: `idleEpoch()` (the service) counts the moments at which every send
 * issued so far had completed, i.e. the kernel had copied it. Every view into a block was sent
 * before the block was retired (later reads of its range go to a new block), so a block
 * retired at epoch e is free once the epoch is past e. (dgram hands a send to the kernel only
 * after a process.nextTick, so the send queue being empty at retirement would prove nothing.) Reading into
 * fresh memory each time cost page faults on every block: 256 MiB read from the page cache took
 * 30-80 ms of CPU into new buffers, 16-19 ms into a reused one.
 */
import { readSync } from 'node:fs';

/** Target block size; the real one is the largest multiple of the payload size not above it. */
export const BLOCK_SIZE = 256 * 1024;
const KEEP_BLOCKS = 4;
/** Retired blocks kept for reuse: a pump's burst (BURST datagrams) spans a few blocks. */
const RETIRED_BLOCKS = 8;

export class BlockReader {
  private readonly blocks = new Map<number, Buffer>();
  private readonly blockBytes: number;
  /** Evicted full-size blocks with the epoch they were retired at, oldest first. */
  private readonly retired: { buf: Buffer; epoch: number }[] = [];

  /**
   * @param gridStart first offset of the transfer: segments start at gridStart + k·payloadSize
   * @param payloadSize segment size; blocks hold whole segments
   */
  constructor(
    private readonly fd: number,
    private readonly size: number,
    private readonly gridStart = 0,
    payloadSize = BLOCK_SIZE,
    private readonly idleEpoch: () => number = () => 0,
  ) {
    this.blockBytes = Math.max(1, Math.floor(BLOCK_SIZE / payloadSize)) * payloadSize;
  }

  /** `length` bytes at `offset` (≥ gridStart), a view into a cached block when the range fits in one. */
  slice(offset: number, length: number): Buffer {
    const index = Math.floor((offset - this.gridStart) / this.blockBytes);
    const within = offset - this.gridStart - index * this.blockBytes;
    if (within + length <= this.blockBytes) {
      const block = this.block(index);
      if (within + length > block.length) throw shortRead(offset, length);
      return block.subarray(within, within + length);
    }
    // Off the grid (not asked for by the sender, but correct anyway): copy across blocks.
    const out = Buffer.allocUnsafe(length);
    const head = this.blockBytes - within;
    this.slice(offset, head).copy(out, 0);
    this.slice(offset + head, length - head).copy(out, head);
    return out;
  }

  private block(index: number): Buffer {
    const cached = this.blocks.get(index);
    if (cached !== undefined) return cached;
    const start = this.gridStart + index * this.blockBytes;
    const want = Math.min(this.blockBytes, this.size - start);
    const free = this.retired[0];
    const buf =
      want === this.blockBytes && free !== undefined && this.idleEpoch() > free.epoch
        ? this.retired.shift()!.buf
        : Buffer.allocUnsafe(Math.max(want, 0));
    let filled = 0;
    while (filled < want) {
      const n = readSync(this.fd, buf, filled, want - filled, start + filled);
      if (n === 0) break;
      filled += n;
    }
    const block = filled === want ? buf : buf.subarray(0, filled);
    this.blocks.set(index, block);
    if (this.blocks.size > KEEP_BLOCKS) {
      const oldest = this.blocks.keys().next().value as number;
      const evicted = this.blocks.get(oldest)!;
      this.blocks.delete(oldest);
      if (evicted.length === this.blockBytes && this.retired.length < RETIRED_BLOCKS)
        this.retired.push({ buf: evicted, epoch: this.idleEpoch() });
    }
    return block;
  }
}

function shortRead(offset: number, length: number): Error {
  return Object.assign(new Error(`file shrank: cannot read ${length} bytes at ${offset}`), {
    code: 'FT_FILE_SHRANK',
  });
}
