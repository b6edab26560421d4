/**
 * A streaming decoder for one direction of an ft TCP connection. It accepts bytes in any
 * chunking, checks every length against its limit before buffering, enforces the connection's
 * state machine, and hands FILE bodies through as zero-copy slices of the input.
 *
 * After a violation the decoder is failed: every later push throws the same ProtocolError.
 */
import {
  DigestAlgorithm,
  FRAME_HEADER_SIZE,
  FrameType,
  Limits,
  REQUEST_TYPES,
  RESPONSE_TYPES,
} from './constants.js';
import { decodePayload, frameTypeName } from './codec.js';
import { ProtocolError } from './errors.js';
import type { ChunkDigest, FileHeader, Message } from './messages.js';

export type DecoderEvent =
  | { kind: 'message'; message: Message }
  /** Raw file bytes of the current FILE body; a view of the pushed buffer, valid until you return. */
  | { kind: 'data'; chunk: Buffer };

export interface FrameDecoderOptions {
  /** 'requests' decodes what a client sends (server side); 'responses' what a server sends. */
  accept: 'requests' | 'responses';
  /** Largest frame payload accepted; defaults to the protocol's limit for that direction. */
  maxFrameSize?: number;
}

type State = 'header' | 'payload' | 'body' | 'failed';

export class FrameDecoder {
  private readonly accept: 'requests' | 'responses';
  private readonly maxFrameSize: number;
  private readonly allowed: ReadonlySet<number>;
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  /**
   * A payload that spans several pushes is copied into one buffer of its exact size (known and
   * checked from the header), so many tiny pushes cost one copy each, not a list of slices.
   */
  private assembly: Buffer | undefined;
  private assembled = 0;
  private state: State = 'header';
  private frameType = 0;
  private payloadLength = 0;
  /** Raw body bytes still expected before the next frame (the END, or a CHUNK_DIGEST). */
  private segmentLeft = 0;
  /**
   * The FILE whose body is being received, when its digests are streamed (version 3): the body
   * is cut at the chunk boundaries of the file, and a CHUNK_DIGEST follows each piece.
   */
  private streamed: { file: FileHeader; position: number; end: number; index: number } | undefined;
  /** Set after a piece of a streamed body: the next frame must be its CHUNK_DIGEST. */
  private awaitingDigest = false;
  /** Set after a FILE body: the next frame must be its END. */
  private awaitingEnd = false;
  private greeted = false;
  private failure: ProtocolError | undefined;

  constructor(options: FrameDecoderOptions) {
    this.accept = options.accept;
    this.allowed = options.accept === 'requests' ? REQUEST_TYPES : RESPONSE_TYPES;
    this.maxFrameSize =
      options.maxFrameSize ??
      (options.accept === 'requests' ? Limits.MAX_REQUEST_FRAME : Limits.MAX_RESPONSE_FRAME);
  }

  /** Bytes held waiting for the rest of a frame (never more than header + maxFrameSize). */
  get buffered(): number {
    return this.bufferedBytes;
  }

  /** True between frames: nothing partial is buffered and no body is in progress. */
  get idle(): boolean {
    return (
      this.state === 'header' &&
      this.bufferedBytes === 0 &&
      !this.awaitingEnd &&
      this.streamed === undefined
    );
  }

  /** Raw body bytes that come next, before any frame: 0 unless a FILE body is in progress. */
  get bodyLeft(): number {
    return this.state === 'body' ? this.segmentLeft : 0;
  }

  /** True from a streamed FILE header to its END: frames come between pieces of the body. */
  get streamingBody(): boolean {
    return this.streamed !== undefined;
  }

  /**
   * Feeds bytes; returns the messages and body slices they complete, in order.
   *
   * Each event is appended to `into` (a new list unless given) as soon as it completes. When a
   * frame in the chunk is bad, push throws, and `into` still holds every event decoded before
   * that frame: a peer that writes good frames and a bad one in one go has the good ones
   * delivered (PROTOCOL.md §5.4: requests received before a bad frame are answered first).
   */
  push(chunk: Buffer, into: DecoderEvent[] = []): DecoderEvent[] {
    if (this.failure !== undefined) throw this.failure;
    const events = into;
    try {
      this.consume(chunk, events);
    } catch (error) {
      if (error instanceof ProtocolError) {
        this.failure = error;
        this.state = 'failed';
        this.chunks = [];
        this.bufferedBytes = 0;
        this.assembly = undefined;
      }
      throw error;
    }
    return events;
  }

  /** Call at end of stream: throws FT_ERR_TRUNCATED if a frame or body was cut short. */
  end(): void {
    if (this.failure !== undefined) throw this.failure;
    // A frame header without its payload leaves nothing buffered: the state says it is pending.
    if (
      this.state !== 'header' ||
      this.bufferedBytes > 0 ||
      this.awaitingEnd ||
      this.streamed !== undefined
    ) {
      const what =
        this.state === 'body' ? `FILE body (${this.segmentLeft} bytes missing)` : 'frame';
      throw new ProtocolError('FT_ERR_TRUNCATED', `connection closed in the middle of a ${what}`);
    }
  }

  private consume(input: Buffer, events: DecoderEvent[]): void {
    let chunk = input;
    for (;;) {
      if (this.state === 'body') {
        if (chunk.length === 0) return;
        // Body bytes bypass the buffer list entirely: no copy on the hot path.
        const take = Math.min(this.segmentLeft, chunk.length);
        events.push({
          kind: 'data',
          chunk: take === chunk.length ? chunk : chunk.subarray(0, take),
        });
        chunk = chunk.subarray(take);
        this.segmentLeft -= take;
        if (this.segmentLeft === 0) {
          this.state = 'header';
          if (this.streamed === undefined) this.awaitingEnd = true;
          else this.awaitingDigest = true;
        }
        continue;
      }
      if (this.assembly !== undefined) {
        const take = Math.min(this.payloadLength - this.assembled, chunk.length);
        chunk.copy(this.assembly, this.assembled, 0, take);
        this.assembled += take;
        this.bufferedBytes += take;
        chunk = chunk.subarray(take);
        if (this.assembled < this.payloadLength) return;
        const payload = this.assembly;
        this.assembly = undefined;
        this.bufferedBytes -= payload.length;
        this.finishFrame(payload, events);
        continue;
      }
      if (chunk.length > 0) {
        this.chunks.push(chunk);
        this.bufferedBytes += chunk.length;
        chunk = EMPTY;
      }
      if (this.state === 'header') {
        if (this.bufferedBytes < FRAME_HEADER_SIZE) return;
        this.readHeader(this.take(FRAME_HEADER_SIZE));
      }
      if (this.bufferedBytes < this.payloadLength) {
        this.startAssembly();
        return;
      }
      this.finishFrame(this.take(this.payloadLength), events);
      // Bytes after a FILE header are body: hand them back to the loop unbuffered.
      if ((this.state as State) === 'body' && this.bufferedBytes > 0)
        chunk = this.take(this.bufferedBytes);
    }
  }

  /** Moves the buffered start of an incomplete payload into a buffer of the payload's size. */
  private startAssembly(): void {
    const assembly = Buffer.allocUnsafe(this.payloadLength);
    let at = 0;
    for (const c of this.chunks) at += c.copy(assembly, at);
    this.chunks = [];
    this.assembly = assembly;
    this.assembled = at;
  }

  private finishFrame(payload: Buffer, events: DecoderEvent[]): void {
    this.state = 'header';
    const message = decodePayload(this.frameType, payload);
    this.afterMessage(message);
    events.push({ kind: 'message', message });
  }

  private readHeader(header: Buffer): void {
    const type = header[0]!;
    const flags = header[1]!;
    const length = header.readUInt32BE(2);
    if (!this.allowed.has(type)) {
      const known = REQUEST_TYPES.has(type) || RESPONSE_TYPES.has(type);
      throw new ProtocolError(
        known ? 'FT_ERR_UNEXPECTED_FRAME' : 'FT_ERR_UNKNOWN_FRAME_TYPE',
        known
          ? `${frameTypeName(type)} is not valid in ${this.accept}`
          : `unknown frame type ${frameTypeName(type)}`,
      );
    }
    if (flags !== 0) {
      throw new ProtocolError(
        'FT_ERR_BAD_FLAGS',
        `frame flags must be 0 in version 1, got ${flags}`,
      );
    }
    if (length > this.maxFrameSize) {
      throw new ProtocolError(
        'FT_ERR_FRAME_TOO_LARGE',
        `${frameTypeName(type)} frame of ${length} bytes exceeds the limit of ${this.maxFrameSize}`,
      );
    }
    this.checkOrder(type);
    this.frameType = type;
    this.payloadLength = length;
    this.state = 'payload';
  }

  /** The connection state machine: greeting first, END right after each FILE body. */
  private checkOrder(type: number): void {
    const greeting = this.accept === 'requests' ? FrameType.HELLO : FrameType.WELCOME;
    if (!this.greeted) {
      if (type !== greeting && type !== FrameType.ERROR) {
        throw new ProtocolError(
          'FT_ERR_UNEXPECTED_FRAME',
          `expected ${frameTypeName(greeting)} first, got ${frameTypeName(type)}`,
        );
      }
      return;
    }
    if (type === greeting) {
      throw new ProtocolError('FT_ERR_UNEXPECTED_FRAME', `${frameTypeName(type)} sent twice`);
    }
    if (this.awaitingDigest !== (type === FrameType.CHUNK_DIGEST)) {
      throw new ProtocolError(
        'FT_ERR_UNEXPECTED_FRAME',
        this.awaitingDigest
          ? `expected CHUNK_DIGEST after chunk ${this.streamed!.index}'s bytes, got ${frameTypeName(type)}`
          : 'CHUNK_DIGEST outside a streamed FILE body',
      );
    }
    if (this.awaitingDigest) return;
    if (this.awaitingEnd !== (type === FrameType.END)) {
      throw new ProtocolError(
        'FT_ERR_UNEXPECTED_FRAME',
        this.awaitingEnd
          ? `expected END after a FILE body, got ${frameTypeName(type)}`
          : 'END without a FILE body',
      );
    }
  }

  private afterMessage(message: Message): void {
    if (message.type === FrameType.HELLO || message.type === FrameType.WELCOME) this.greeted = true;
    else if (message.type === FrameType.END) {
      this.awaitingEnd = false;
      this.streamed = undefined;
    } else if (message.type === FrameType.CHUNK_DIGEST) this.afterChunkDigest(message);
    else if (message.type === FrameType.FILE) {
      if (message.algorithm === DigestAlgorithm.SHA256_CHUNKS_STREAMED && message.length > 0) {
        const { offset, length, chunkSize } = message;
        this.streamed = {
          file: message,
          position: offset,
          end: offset + length,
          index: Math.floor(offset / chunkSize),
        };
        this.nextPiece();
        return;
      }
      this.segmentLeft = message.length;
      if (message.length > 0) this.state = 'body';
      else this.awaitingEnd = true;
    }
  }

  /** The next piece of a streamed body: up to the next chunk boundary, or the end of the range. */
  private nextPiece(): void {
    const s = this.streamed!;
    const boundary = (s.index + 1) * s.file.chunkSize;
    this.segmentLeft = Math.min(boundary, s.end) - s.position;
    s.position += this.segmentLeft;
    this.state = 'body';
  }

  /** A CHUNK_DIGEST must name the piece just received; after the last one comes END. */
  private afterChunkDigest(m: ChunkDigest): void {
    const s = this.streamed!;
    this.awaitingDigest = false;
    if (m.requestId !== s.file.requestId || m.index !== s.index) {
      throw new ProtocolError(
        'FT_ERR_BAD_VALUE',
        `CHUNK_DIGEST for request ${m.requestId} chunk ${m.index}, expected request ${s.file.requestId} chunk ${s.index}`,
      );
    }
    const last = s.position === s.end;
    if (
      m.root !== undefined &&
      !(last && s.file.offset < s.file.chunkSize && s.end === s.file.size)
    )
      throw new ProtocolError(
        'FT_ERR_BAD_VALUE',
        'CHUNK_DIGEST: a root only on the last digest of a body that covered every chunk',
      );
    s.index++;
    if (last) this.awaitingEnd = true;
    else this.nextPiece();
  }

  /** Removes n buffered bytes; copies only when they span several input chunks. */
  private take(n: number): Buffer {
    this.bufferedBytes -= n;
    const first = this.chunks[0];
    if (first === undefined) return EMPTY;
    if (n === first.length) {
      this.chunks.shift();
      return first;
    }
    if (n < first.length) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0]!;
      const part = Math.min(head.length, n - filled);
      head.copy(out, filled, 0, part);
      filled += part;
      if (part === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(part);
    }
    return out;
  }
}

const EMPTY = Buffer.alloc(0);
