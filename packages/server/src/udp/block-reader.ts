/**
 * Positional reads of file bytes for DATA datagrams. Reads are synchronous, in 256 KiB blocks,
 * and the last few blocks are kept: a sender asks for consecutive segments (and, rarely, for a
 * retransmission a little behind), so one read serves hundreds of small datagrams. Synchronous
 * reads keep the engine simple (a segment handed out is sent at once); they come from the page
 * cache in the common case, and the UDP service runs in its own process, so a slow disk stalls
 * only UDP transfers. Blocks are never reused: payload views stay valid while a send is queued.
 */
import { readSync } from 'node:fs';

export const BLOCK_SIZE = 256 * 1024;
const KEEP_BLOCKS = 4;

export class BlockReader {
  private readonly blocks = new Map<number, Buffer>();

  constructor(
    private readonly fd: number,
    private readonly size: number,
  ) {}

  /** `length` bytes at `offset`, a view into a cached block when the range fits in one. */
  slice(offset: number, length: number): Buffer {
    const index = Math.floor(offset / BLOCK_SIZE);
    const within = offset - index * BLOCK_SIZE;
    if (within + length <= BLOCK_SIZE) {
      const block = this.block(index);
      if (within + length > block.length) throw shortRead(offset, length);
      return block.subarray(within, within + length);
    }
    // A segment straddling two blocks: copy it (payload sizes rarely divide BLOCK_SIZE, so this
    // happens about once per block).
    const out = Buffer.allocUnsafe(length);
    const head = BLOCK_SIZE - within;
    this.slice(offset, head).copy(out, 0);
    this.slice(offset + head, length - head).copy(out, head);
    return out;
  }

  private block(index: number): Buffer {
    const cached = this.blocks.get(index);
    if (cached !== undefined) return cached;
    const start = index * BLOCK_SIZE;
    const want = Math.min(BLOCK_SIZE, this.size - start);
    const buf = Buffer.allocUnsafe(Math.max(want, 0));
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
      this.blocks.delete(oldest);
    }
    return block;
  }
}

function shortRead(offset: number, length: number): Error {
  return Object.assign(new Error(`file shrank: cannot read ${length} bytes at ${offset}`), {
    code: 'FT_FILE_SHRANK',
  });
}
