/**
 * What each request accepts as its answer, message by message: the handlers Connection.request
 * routes a request's responses to (see request-queue.ts). Each returns true once its answer is
 * complete, and throws a ClientError for a frame that does not belong there.
 */
import type net from 'node:net';
import { TLSSocket } from 'node:tls';
import { EndStatus, FrameType, UDP_EXPORTER_LABEL, UDP_KEY_MATERIAL_SIZE } from '@ft/protocol';
import type { End, FileHeader, ListEntry, Message, StatResult } from '@ft/protocol';
import { badResponse, unexpectedFrame } from './connection-errors.js';
import type { GetSink } from './connection-types.js';
import type { ServerAddress } from './remote.js';

/** Given the request's resolve, the function that takes each of its response messages. */
export type AnswerHandler<T> = (resolve: (value: T) => void) => (message: Message) => boolean;

/** STAT: one STAT_OK, with a SHA-256 only if it was asked for. */
export function statAnswer(address: ServerAddress, wantSha256: boolean): AnswerHandler<StatResult> {
  return (resolve) => (message) => {
    if (message.type !== FrameType.STAT_OK) throw unexpectedFrame(address, message, 'STAT_OK');
    if (message.sha256 !== undefined && !wantSha256)
      throw badResponse(address, 'STAT_OK carries a SHA-256 that was not asked for');
    resolve(message);
    return true;
  };
}

/** LIST: LIST_OK frames in the asked layout until one without MORE, at most `max` entries. */
export function listAnswer(
  address: ServerAddress,
  wantLinks: boolean,
  max: number,
): AnswerHandler<ListEntry[]> {
  const entries: ListEntry[] = [];
  return (resolve) => (message) => {
    if (message.type !== FrameType.LIST_OK) throw unexpectedFrame(address, message, 'LIST_OK');
    if ((message.links === true) !== wantLinks) {
      throw badResponse(address, 'LIST_OK entries in the layout that was not asked for');
    }
    if (entries.length + message.entries.length > max) {
      throw badResponse(address, `listing has more than ${max} entries`);
    }
    for (const entry of message.entries) entries.push(entry);
    if (message.more) return false;
    resolve(entries);
    return true;
  };
}

/**
 * GET: FILE (to the sink), CHUNK_DIGEST frames only if the GET asked for streamed digests, then
 * END, whose byte count must be the announced length when it says OK. The body goes to the sink
 * by the request's data callback, not through here.
 */
export function getAnswer(
  address: ServerAddress,
  streamDigests: boolean,
  sink: GetSink,
): AnswerHandler<End> {
  let header: FileHeader | undefined;
  return (resolve) => (message) => {
    if (header === undefined) {
      if (message.type !== FrameType.FILE) throw unexpectedFrame(address, message, 'FILE');
      header = message;
      sink.onHeader(message);
      return false;
    }
    if (message.type === FrameType.CHUNK_DIGEST) {
      if (sink.onChunkDigest === undefined || !streamDigests)
        throw badResponse(address, 'CHUNK_DIGEST in answer to a GET that did not ask');
      sink.onChunkDigest(message);
      return false;
    }
    if (message.type !== FrameType.END) throw unexpectedFrame(address, message, 'END');
    if (message.status === EndStatus.OK && message.bytesSent !== header.length) {
      throw badResponse(
        address,
        `END says ${message.bytesSent} bytes were sent, FILE announced ${header.length}`,
      );
    }
    resolve(message);
    return true;
  };
}

/** UDP_SESSION: one UDP_SESSION_OK, on a TLS connection, whose exporter gives the key material. */
export function udpSessionAnswer(
  address: ServerAddress,
  socket: net.Socket,
): AnswerHandler<{ sessionId: Buffer; lifetimeMs: number; material: Buffer }> {
  return (resolve) => (message) => {
    if (message.type !== FrameType.UDP_SESSION_OK)
      throw unexpectedFrame(address, message, 'UDP_SESSION_OK');
    if (!(socket instanceof TLSSocket))
      throw badResponse(address, 'UDP_SESSION_OK on a connection without TLS');
    const material = socket.exportKeyingMaterial(
      UDP_KEY_MATERIAL_SIZE,
      UDP_EXPORTER_LABEL,
      message.sessionId,
    );
    resolve({ sessionId: message.sessionId, lifetimeMs: message.lifetimeMs, material });
    return true;
  };
}
