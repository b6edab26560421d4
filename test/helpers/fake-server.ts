/**
 * A small, configurable ft server built on @ft/protocol, for testing how a client copes with
 * servers that misbehave: ignoring the offset, announcing or sending fewer bytes, stalling,
 * answering for another version, sending corrupt data or digests, or answering BUSY. Files
 * live in memory; a file's validator is derived from its content and a version counter, so
 * replacing or "touching" a file changes it.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import {
  DigestAlgorithm,
  EndStatus,
  EntryKind,
  FrameDecoder,
  FrameType,
  Limits,
  PROTOCOL_VERSION,
  WireError,
  answeredLength,
  chunkCountFor,
  chunkSizeFor,
  chunksOverlapping,
  encodeEnd,
  encodeError,
  encodeFile,
  encodeListResult,
  encodeStatResult,
  encodeWelcome,
  rootDigest,
  sha256,
} from '@ft/protocol';
import type { GetRequest, Request } from '@ft/protocol';

/** How one connection misbehaves; everything defaults to honest. */
export interface Behaviour {
  /** Answer ERROR(0, BUSY, retryAfterMs) right after accept, then close. */
  busyRetryAfterMs?: number;
  /** Send the body from offset 0 and say so in the header (FILE.offset = 0). */
  ignoreOffset?: boolean;
  /** Claim the requested offset in the header but send the bytes from offset 0. */
  lieAboutOffset?: boolean;
  /** Announce this many fewer bytes than the range holds. */
  announceFewer?: number;
  /** Send only this many body bytes, then close the connection. */
  closeAfterBytes?: number;
  /** Send only this many body bytes, then go silent (connection stays open). */
  stallAfterBytes?: number;
  /** Answer with a validator other than the file's. */
  wrongValidator?: boolean;
  /** XOR this body byte offset (absolute file offset) with 0xff while sending. */
  corruptAt?: number;
  /** Corrupt only the first GET of the connection that covers corruptAt (a transient error). */
  corruptOnce?: boolean;
  /** Apply corruptAt to this file only (default: every file). */
  corruptPath?: string;
  /** Send wrong chunk digests (every digest bit-flipped). */
  corruptDigests?: boolean;
  /**
   * Send a root digest (in FILE and STAT_OK) that is not the root of the chunk digests, which
   * themselves stay right: only a client that checks the root of the whole file notices.
   */
  wrongRoot?: boolean;
  /** END.bytesSent off by one. */
  wrongBytesSent?: boolean;
  /** Ignore a mismatching validator instead of answering PRECONDITION_FAILED. */
  ignoreValidator?: boolean;
  /**
   * Replace the file mid-stream, like a writer on the server would: after this many body
   * bytes of a GET, the file becomes `replacement` (a new version), the rest of the body comes
   * from it, and END says CHANGED.
   */
  replaceAfterBytes?: number;
  /** The new content for `replaceAfterBytes` (same size keeps the FILE header truthful). */
  replacement?: Buffer;
  /**
   * Bytes written right after each answer to a request (not to HELLO), in the same write as
   * the whole answer: a good answer and a bad frame reach the client in one segment. The answer
   * is held in memory until then, so keep files small; not for the cut or stall behaviours.
   */
  trailingBytes?: Buffer;
}

interface FakeFile {
  data: Buffer;
  mtimeMs: number;
  version: number;
  chunkSize: number;
  digests: Buffer[];
  root: Buffer;
  validator: Buffer;
}

export interface FakeServer {
  host: string;
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Every GET received, in order. */
  readonly gets: GetRequest[];
  /** Adds or replaces a file (a new version: new validator). */
  setFile(path: string, data: Buffer, mtimeMs?: number): void;
  /** Changes only the version counter and mtime: new validator, same bytes and digests. */
  touch(path: string): void;
  close(): Promise<void>;
}

export interface FakeServerOptions {
  files?: Record<string, Buffer>;
  /** Behaviour of the n-th connection (0-based), or of all connections. */
  behaviour?: Behaviour | ((connection: number) => Behaviour);
}

function describe(path: string, data: Buffer, version: number, mtimeMs: number): FakeFile {
  const chunkSize = chunkSizeFor(data.length);
  const digests: Buffer[] = [];
  for (let i = 0; i < chunkCountFor(data.length, chunkSize); i++) {
    digests.push(sha256(data.subarray(i * chunkSize, (i + 1) * chunkSize)));
  }
  const validator = createHash('sha256')
    .update(`${path}:${version}:`)
    .update(data)
    .digest()
    .subarray(0, 16);
  return { data, mtimeMs, version, chunkSize, digests, root: rootDigest(digests), validator };
}

export async function startFakeServer(options: FakeServerOptions = {}): Promise<FakeServer> {
  const files = new Map<string, FakeFile>();
  let versions = 0;
  const setFile = (path: string, data: Buffer, mtimeMs = Date.now()): void => {
    files.set(path, describe(path, data, ++versions, mtimeMs));
  };
  for (const [path, data] of Object.entries(options.files ?? {}))
    setFile(path, data, 1_700_000_000_000);
  const gets: GetRequest[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;

  const server = net.createServer((socket) => {
    const index = connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const b =
      typeof options.behaviour === 'function'
        ? options.behaviour(index)
        : (options.behaviour ?? {});
    if (b.busyRetryAfterMs !== undefined) {
      socket.end(
        encodeError({
          requestId: 0,
          code: WireError.BUSY,
          retryAfterMs: b.busyRetryAfterMs,
          message: 'busy',
        }),
      );
      return;
    }
    const rootFor = (f: FakeFile): Buffer => (b.wrongRoot ? sha256(f.root) : f.root);
    const decoder = new FrameDecoder({ accept: 'requests' });
    let stalled = false;
    let corrupted = false;
    const queue: Request[] = [];
    let serving = false;
    const serveNext = async (): Promise<void> => {
      if (serving) return;
      serving = true;
      while (queue.length > 0 && !socket.destroyed && !stalled) {
        await serve(queue.shift()!);
      }
      serving = false;
    };
    /** An answer held back for `trailingBytes`, written in one go with them. */
    let held: Buffer[] | undefined;
    const write = (buf: Buffer): Promise<void> =>
      new Promise((resolve) => {
        if (held !== undefined) {
          held.push(buf);
          return resolve();
        }
        if (socket.destroyed) return resolve();
        if (socket.write(buf)) resolve();
        else socket.once('drain', () => resolve());
      });
    const serve = async (m: Request): Promise<void> => {
      if (b.trailingBytes === undefined || m.type === FrameType.HELLO) return answer(m);
      held = [];
      await answer(m);
      const whole = Buffer.concat([...held, b.trailingBytes]);
      held = undefined;
      await write(whole);
    };
    const answer = async (m: Request): Promise<void> => {
      if (m.type === FrameType.HELLO) {
        await write(
          encodeWelcome({
            version: PROTOCOL_VERSION,
            maxRequestFrame: Limits.MAX_REQUEST_FRAME,
            name: 'fake',
          }),
        );
        return;
      }
      const path = m.path.replace(/^\/+/, '');
      if (m.type === FrameType.LIST) {
        const prefix = path === '' ? '' : `${path}/`;
        const names = new Map<string, { kind: number; size: number }>();
        for (const [p, f] of files) {
          if (!p.startsWith(prefix)) continue;
          const rest = p.slice(prefix.length).split('/');
          names.set(
            rest[0]!,
            rest.length > 1
              ? { kind: EntryKind.DIRECTORY, size: 0 }
              : { kind: EntryKind.FILE, size: f.data.length },
          );
        }
        if (names.size === 0 && path !== '') {
          await write(
            encodeError({
              requestId: m.requestId,
              code: WireError.NOT_FOUND,
              retryAfterMs: 0,
              message: 'not found',
            }),
          );
          return;
        }
        const entries = [...names]
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([name, e]) => ({
            name,
            kind: e.kind as 1,
            size: e.size,
            mtimeMs: 1_700_000_000_000,
          }));
        await write(encodeListResult({ requestId: m.requestId, more: false, entries }));
        return;
      }
      const file = files.get(path);
      if (file === undefined) {
        await write(
          encodeError({
            requestId: m.requestId,
            code: WireError.NOT_FOUND,
            retryAfterMs: 0,
            message: `${path}: not found`,
          }),
        );
        return;
      }
      if (m.type === FrameType.STAT) {
        await write(
          encodeStatResult({
            requestId: m.requestId,
            kind: EntryKind.FILE,
            size: file.data.length,
            mtimeMs: file.mtimeMs,
            validator: file.validator,
            algorithm: m.wantDigest ? DigestAlgorithm.SHA256_CHUNKS : DigestAlgorithm.NONE,
            chunkSize: m.wantDigest ? file.chunkSize : 0,
            root: m.wantDigest ? rootFor(file) : Buffer.alloc(32),
          }),
        );
        return;
      }
      if (m.type === FrameType.UDP_SESSION) {
        await write(
          encodeError({
            requestId: m.requestId,
            code: WireError.UDP_ENCRYPTION,
            retryAfterMs: 0,
            message: 'no UDP sessions here',
          }),
        );
        return;
      }
      gets.push(m);
      const size = file.data.length;
      if (m.validator !== undefined && !b.ignoreValidator && !m.validator.equals(file.validator)) {
        await write(
          encodeError({
            requestId: m.requestId,
            code: WireError.PRECONDITION_FAILED,
            retryAfterMs: 0,
            message: 'changed',
          }),
        );
        return;
      }
      if (m.offset > size) {
        await write(
          encodeError({
            requestId: m.requestId,
            code: WireError.OFFSET_BEYOND_EOF,
            retryAfterMs: 0,
            message: 'beyond eof',
          }),
        );
        return;
      }
      const length = answeredLength(size, m.offset, m.length);
      const sendFrom = b.ignoreOffset || b.lieAboutOffset ? 0 : m.offset;
      const announced = Math.max(0, length - (b.announceFewer ?? 0));
      const { first, count } = chunksOverlapping(
        b.ignoreOffset ? 0 : m.offset,
        announced,
        file.chunkSize,
      );
      let digests = m.wantDigests ? file.digests.slice(first, first + count) : [];
      if (b.corruptDigests) digests = digests.map((d) => Buffer.from(d.map((x) => x ^ 0xff)));
      await write(
        encodeFile({
          requestId: m.requestId,
          size,
          offset: b.ignoreOffset ? 0 : m.offset,
          length: announced,
          mtimeMs: file.mtimeMs,
          validator: b.wrongValidator ? Buffer.alloc(16, 0xee) : file.validator,
          algorithm: m.wantDigests ? DigestAlgorithm.SHA256_CHUNKS : DigestAlgorithm.NONE,
          chunkSize: m.wantDigests ? file.chunkSize : 0,
          root: m.wantDigests ? rootFor(file) : Buffer.alloc(32),
          firstChunk: m.wantDigests ? first : 0,
          chunkDigests: digests,
        }),
      );
      let sent = 0;
      let source = file.data;
      let changed = false;
      const limit = Math.min(
        announced,
        b.closeAfterBytes ?? Infinity,
        b.stallAfterBytes ?? Infinity,
      );
      while (sent < limit) {
        const replaceAt = b.replaceAfterBytes;
        if (replaceAt !== undefined && !changed && sent >= replaceAt && b.replacement) {
          changed = true;
          source = b.replacement;
          setFile(path, b.replacement);
        }
        const toReplace =
          replaceAt !== undefined && b.replacement && !changed ? replaceAt - sent : Infinity;
        const n = Math.min(64 * 1024, limit - sent, toReplace);
        let piece = source.subarray(sendFrom + sent, sendFrom + sent + n);
        const at = b.corruptAt;
        if (
          at !== undefined &&
          (b.corruptPath === undefined || b.corruptPath === path) &&
          at >= sendFrom + sent &&
          at < sendFrom + sent + n &&
          !(b.corruptOnce && corrupted)
        ) {
          corrupted = true;
          piece = Buffer.from(piece);
          piece[at - sendFrom - sent] = piece[at - sendFrom - sent]! ^ 0xff;
        }
        await write(piece);
        sent += n;
        if (socket.destroyed) return;
      }
      if (b.stallAfterBytes !== undefined && sent < announced) {
        stalled = true;
        return;
      }
      if (b.closeAfterBytes !== undefined && sent < announced) {
        socket.destroy();
        return;
      }
      await write(
        encodeEnd({
          requestId: m.requestId,
          bytesSent: sent + (b.wrongBytesSent ? 1 : 0),
          status: changed ? EndStatus.CHANGED : EndStatus.OK,
        }),
      );
    };
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const event of decoder.push(chunk))
          if (event.kind === 'message') queue.push(event.message as Request);
      } catch {
        socket.destroy();
        return;
      }
      void serveNext();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    host: '127.0.0.1',
    port: address.port,
    get connections() {
      return connections;
    },
    gets,
    setFile,
    touch(path) {
      const f = files.get(path);
      if (f !== undefined) files.set(path, describe(path, f.data, ++versions, f.mtimeMs + 1000));
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
