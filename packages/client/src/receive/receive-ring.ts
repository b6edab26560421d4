/**
 * The receive memory of one TCP connection: a fixed ring of shared memory the socket reads
 * into directly (`net.Socket`'s `onread` option), so receiving allocates nothing per read.
 * Each read becomes a segment of the ring; a consumer that keeps the bytes beyond the read
 * callback (the file writer until its write completes, the hashing thread until it hashed
 * them) pins the segment, and the ring only reuses space once every pin is released, in
 * order. The memory is a SharedArrayBuffer so the hashing thread reads the very bytes that
 * are written to disk: no copy anywhere between the socket and the disk.
 *
 * Backpressure: when the free space left is too small for a read, the callback pauses the
 * socket; it resumes once releases freed RESUME_FREE bytes. Node asks for the next read
 * buffer even when the socket is paused, and reads into it once resumed, so a paused ring
 * hands out a small separate bounce buffer: the one read that lands there is copied into the
 * ring (the only copy, once per pause). Memory is bounded by RING_BYTES + BOUNCE_BYTES per
 * connection, whatever the consumers do. Consumers that gather the newest bytes before they
 * act (a write batch, a hashing run) must keep that under `fitsPinned`, or the ring could wait
 * for them while they wait for more bytes.
 */
import type { OnReadOpts } from 'node:net';

/** Bytes of shared receive memory per connection: the bound on bytes held between the socket, the disk and the hashing thread. */
export const RING_BYTES = 4 * 1024 * 1024;
/** Most bytes one read may deliver. */
export const READ_BYTES = 256 * 1024;
/** Smallest read buffer worth handing out; also the bounce buffer's size. */
export const BOUNCE_BYTES = 64 * 1024;
/** Free contiguous bytes needed before a paused ring resumes the socket (hysteresis). */
export const RESUME_FREE = RING_BYTES / 4;

/**
 * Whether a consumer may keep `bytes` of the newest received data pinned at once (data it
 * waits to gather, or a chunk it waits to complete) without starving the ring for good: the
 * rest of the ring must still take a read and let it resume.
 */
export function fitsPinned(bytes: number): boolean {
  return bytes + READ_BYTES <= RING_BYTES - RESUME_FREE;
}

/**
 * Pins the receive memory a body chunk views: the bytes stay valid until the returned
 * function is called (calling it twice is harmless). A chunk delivered without a pin is
 * not reused and may be kept as it is.
 */
export type Pin = () => () => void;

/** Receives each read: a view of the ring and its pin (undefined for a copied read). */
export type ReadHandler = (bytes: Buffer, pin: Pin | undefined) => void;

interface Segment {
  start: number;
  end: number;
  pins: number;
}

/** See the module comment. */
export class ReceiveRing {
  private readonly memory = Buffer.from(new SharedArrayBuffer(RING_BYTES));
  private readonly bounce = Buffer.allocUnsafe(BOUNCE_BYTES);
  /** Segments in ring order, the oldest first; their space is in use until unpinned. */
  private readonly segments: Segment[] = [];
  /** Where the next read goes (just past the newest segment). */
  private head = 0;
  private planned: Buffer | undefined;
  private starvedNow = false;
  private handler: ReadHandler = () => {};
  private onSpace: () => void = () => {};

  /** The `onread` option for `net.connect`: reads land in this ring. */
  readonly onread: OnReadOpts = {
    buffer: () => {
      const target = this.planned ?? this.plan();
      this.planned = undefined;
      return target;
    },
    callback: (bytes, buffer) => this.onRead(bytes, buffer as Buffer),
  };

  /** The shared memory behind every read (what the ring hashing thread is given once). */
  get shared(): SharedArrayBuffer {
    return this.memory.buffer as SharedArrayBuffer;
  }

  /** Routes reads to `handler`; `onSpace` runs when a starved ring may read again. */
  attach(handler: ReadHandler, onSpace: () => void): void {
    this.handler = handler;
    this.onSpace = onSpace;
  }

  /** True while the ring has no room for a read: the socket must stay paused. */
  get starved(): boolean {
    return this.starvedNow;
  }

  /** Bytes of the ring in use (pinned, or waiting behind pinned segments). */
  get used(): number {
    const first = this.segments[0];
    if (first === undefined) return 0;
    return this.head > first.start ? this.head - first.start : RING_BYTES - first.start + this.head;
  }

  /** Returns false to pause the socket (Node then calls `buffer` for the next read anyway). */
  private onRead(bytes: number, buffer: Buffer): boolean {
    if (buffer === this.bounce) this.deliverBounced(bytes);
    else this.deliver(buffer.byteOffset - this.memory.byteOffset, bytes);
    this.planned = this.plan();
    return !this.starvedNow;
  }

  private deliver(start: number, bytes: number): void {
    const segment: Segment = { start, end: start + bytes, pins: 1 };
    this.segments.push(segment);
    this.head = segment.end;
    try {
      this.handler(this.memory.subarray(start, segment.end), () => this.pin(segment));
    } finally {
      this.unpin(segment);
    }
  }

  /** The read that arrived after a pause: move it into the ring (or hand a copy out). */
  private deliverBounced(bytes: number): void {
    const [at, free] = this.region();
    if (free < bytes) {
      // Cannot happen (the ring resumes with room for a read); stay correct regardless.
      this.handler(Buffer.from(this.bounce.subarray(0, bytes)), undefined);
      return;
    }
    this.bounce.copy(this.memory, at, 0, bytes);
    this.deliver(at, bytes);
  }

  private pin(segment: Segment): () => void {
    segment.pins++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.unpin(segment);
    };
  }

  private unpin(segment: Segment): void {
    if (--segment.pins > 0) return;
    const segments = this.segments;
    while (segments.length > 0 && segments[0]!.pins === 0) segments.shift();
    if (this.starvedNow && RING_BYTES - this.used >= RESUME_FREE) {
      this.starvedNow = false;
      this.onSpace();
    }
  }

  /** The buffer for the next read: free ring space, or the bounce buffer when there is too little. */
  private plan(): Buffer {
    const [at, free] = this.region();
    this.starvedNow = free < BOUNCE_BYTES;
    if (this.starvedNow) return this.bounce;
    return this.memory.subarray(at, at + Math.min(free, READ_BYTES));
  }

  /**
   * Where the next read may go and how many contiguous bytes it may use: after the newest
   * segment, or at the start of the ring when too little is left before its end.
   */
  private region(): [number, number] {
    const first = this.segments[0];
    if (first === undefined) return [0, RING_BYTES];
    if (this.head > first.start) {
      return RING_BYTES - this.head >= BOUNCE_BYTES
        ? [this.head, RING_BYTES - this.head]
        : [0, first.start];
    }
    return [this.head, first.start - this.head];
  }
}
