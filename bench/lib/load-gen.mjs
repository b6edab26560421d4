/**
 * Load generator, run as its own process (so its CPU is measured apart from the harness):
 * `node load-gen.mjs '<json>'`. Each of `concurrency` workers opens a new TCP connection per
 * request, sends one request, reads the whole response, checks its length, closes, repeats.
 *   proto ft:   HELLO + GET pipelined (built on @ft/protocol), read WELCOME, FILE, body, END.
 *     A GET without digests (the rps case) sends bytes encoded once per path, as an HTTP load
 *     generator keeps its request text, and its answer is checked by a lean reader (leanAnswer):
 *     magic and version of WELCOME, FILE for request 1 with no digests, exactly FILE's length of
 *     body, END OK for request 1 with that many bytes. Anything else (an ERROR, a split
 *     header, another frame) goes through the full FrameDecoder, so errors read as before.
 *   proto http: one HTTP/1.1 GET with "Connection: close", read the header and Content-Length bytes.
 * mode rps: run for durationS; mode once: every worker does one request of paths[worker]
 * (retrying BUSY answers after the server's retryAfterMs, as ftget would).
 * tls {ca: PEM file}: every connection is TLS (ALPN ft/N or http/1.1), the certificate checked
 * against ca for the host; each worker offers the session (ticket) of its previous connection,
 * so repeated connections resume as a browser's or curl's would, and `resumed` counts those
 * the server resumed.
 * wantDigests: GETs ask for chunk digests (the server must have them, or compute them, first).
 * streamDigests: version 3's STREAM_DIGESTS too (the GET waits for WELCOME ≥ 3, as ftget's).
 * firstByteOnly: a request ends at its first body byte (the connection is closed there).
 * Prints one JSON line: {requests, errors, errorKinds, bytes, elapsedS, resumed, firstByteP50Ms,
 * firstByteP90Ms}: the first-byte times run from the start of a request (before connect) to its
 * first body byte (HTTP: the response header).
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import process from 'node:process';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  FrameDecoder,
  FrameType,
  MAX_PROTOCOL_VERSION,
  MIN_PROTOCOL_VERSION,
  WireError,
  alpnProtocols,
  encodeGet,
  encodeHello,
} from '@ft/protocol';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const REQUEST_TIMEOUT_MS = cfg.requestTimeoutMs ?? 30_000;
const MAX_BUSY_RETRIES = 1000;
const CA = cfg.tls === undefined ? undefined : readFileSync(cfg.tls.ca);
const ALPN = cfg.proto === 'ft' ? alpnProtocols() : ['http/1.1'];

/**
 * A new connection (TLS when configured, resuming `slot.session` and keeping the next one there)
 * and the event after which it may be written to.
 */
function open(slot) {
  if (CA === undefined) {
    return {
      socket: net.connect({ host: cfg.host, port: cfg.port, noDelay: true }),
      ready: 'connect',
    };
  }
  const socket = tls.connect({
    host: cfg.host,
    port: cfg.port,
    ca: CA,
    ALPNProtocols: ALPN,
    noDelay: true,
    ...(slot.session === undefined ? {} : { session: slot.session }),
  });
  // TLS 1.3 tickets arrive after the handshake, possibly several: keep the latest.
  socket.on('session', (session) => (slot.session = session));
  socket.once('secureConnect', () => {
    if (socket.isSessionReused()) stats.resumed++;
  });
  return { socket, ready: 'secureConnect' };
}

/** Milliseconds from the start of a request (before connect) to its first body byte. */
const firstByteMs = [];
const MAX_SAMPLES = 200_000;
function markFirstByte(t0) {
  if (firstByteMs.length < MAX_SAMPLES)
    firstByteMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
}

/** HELLO + GET of each path, encoded once (a GET without digests: the lean case). */
const requestBytes = new Map();
function leanRequest(path) {
  let bytes = requestBytes.get(path);
  if (bytes === undefined) {
    bytes = Buffer.concat([
      encodeHello({
        minVersion: MIN_PROTOCOL_VERSION,
        maxVersion: MAX_PROTOCOL_VERSION,
        name: 'ft-bench',
      }),
      encodeGet({ requestId: 1, path, offset: 0, wantDigests: false }),
    ]);
    requestBytes.set(path, bytes);
  }
  return bytes;
}

const HEADER = 6;
/** Most bytes of one answer the lean reader holds (see ftRequest). */
const LEAN_MAX_BYTES = 256 * 1024;
const u64 = (b, at) => b.readUInt32BE(at) * 2 ** 32 + b.readUInt32BE(at + 4);

/**
 * Reads the expected answer to a lean GET from `buf` (everything received so far), checking
 * what an HTTP client checks of its status line and Content-Length, and more: {need: true} while
 * incomplete, {body, length, done} as far as it got, or {other: true} when the bytes are not the
 * expected WELCOME, FILE (no digests), body, END OK sequence (the caller then decodes them fully).
 */
function leanAnswer(buf) {
  if (buf.length < HEADER) return { need: true };
  const welcome = buf.readUInt32BE(2);
  if (buf[0] !== FrameType.WELCOME || buf[1] !== 0 || welcome < 12 || welcome > 100)
    return { other: true };
  const file = HEADER + welcome;
  if (buf.length < file + HEADER) return { need: true };
  if (buf.readUInt32BE(HEADER) !== 0x8946540a) return { other: true };
  const version = buf.readUInt16BE(HEADER + 4);
  if (version < MIN_PROTOCOL_VERSION || version > MAX_PROTOCOL_VERSION) return { other: true };
  if (buf[file] !== FrameType.FILE || buf[file + 1] !== 0 || buf.readUInt32BE(file + 2) !== 97)
    return { other: true };
  const p = file + HEADER;
  if (buf.length < p + 97) return { need: true };
  const length = u64(buf, p + 20);
  // requestId 1, algorithm NONE, no digests.
  if (buf.readUInt32BE(p) !== 1 || buf[p + 52] !== 0 || buf.readUInt32BE(p + 93) !== 0)
    return { other: true };
  const body = p + 97;
  const end = body + length;
  const got = Math.min(buf.length, end) - body;
  if (buf.length < end + HEADER + 13) return { need: true, body: got, length };
  const e = end + HEADER;
  const ok =
    buf[end] === FrameType.END &&
    buf[end + 1] === 0 &&
    buf.readUInt32BE(end + 2) === 13 &&
    buf.readUInt32BE(e) === 1 &&
    u64(buf, e + 4) === length &&
    buf[e + 12] === 0 &&
    buf.length === e + 13;
  return ok ? { done: true, body: got, length } : { other: true };
}

function ftRequest(path, slot) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let first = true;
    const { socket, ready } = open(slot);
    // The lean reader while the answer looks as expected (a GET without digests); the full
    // decoder from the first byte otherwise, or from the start once the lean reader gives up.
    const lean = cfg.wantDigests !== true && cfg.streamDigests !== true;
    let decoder = lean ? undefined : new FrameDecoder({ accept: 'responses' });
    let pending = Buffer.alloc(0);
    let expected = -1;
    let got = 0;
    let settled = false;
    const finish = (error, value) => {
      settled = true;
      socket.destroy();
      if (error === undefined) resolve(value);
      else reject(error);
    };
    const fail = (error) => finish(error);
    const firstBody = () => {
      if (!first) return false;
      first = false;
      markFirstByte(t0);
      return cfg.firstByteOnly === true;
    };
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => fail(new Error('timeout')));
    const get = () =>
      encodeGet({
        requestId: 1,
        path,
        offset: 0,
        wantDigests: cfg.wantDigests === true || cfg.streamDigests === true,
        ...(cfg.streamDigests === true ? { streamDigests: true } : {}),
      });
    socket.once(ready, () => {
      if (lean) return socket.write(leanRequest(path));
      const hello = encodeHello({
        minVersion: MIN_PROTOCOL_VERSION,
        maxVersion: MAX_PROTOCOL_VERSION,
        name: 'ft-bench',
      });
      // STREAM_DIGESTS may only follow a WELCOME of version 3 or more, as ftget does.
      socket.write(cfg.streamDigests === true ? hello : Buffer.concat([hello, get()]));
    });
    const full = (chunk) => {
      let events;
      try {
        events = decoder.push(chunk);
      } catch (error) {
        fail(error);
        return;
      }
      for (const e of events) {
        if (e.kind === 'data') {
          got += e.chunk.length;
          if (firstBody()) return finish(undefined, got);
        } else if (e.message.type === FrameType.WELCOME && cfg.streamDigests === true) {
          if (e.message.version < 3) return fail(new Error(`WELCOME version ${e.message.version}`));
          socket.write(get());
        } else if (e.message.type === FrameType.FILE) expected = e.message.length;
        else if (e.message.type === FrameType.ERROR) {
          const err = new Error(`ERROR code ${e.message.code}`);
          err.kind = e.message.code === WireError.BUSY ? 'BUSY' : `ft-error-${e.message.code}`;
          err.retryAfterMs = e.message.retryAfterMs;
          return fail(err);
        } else if (e.message.type === FrameType.END) {
          if (got !== expected) return fail(new Error(`short body ${got}/${expected}`));
          return finish(undefined, got);
        }
      }
    };
    socket.on('data', (chunk) => {
      if (settled) return;
      if (decoder !== undefined) return full(chunk);
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      const a = leanAnswer(pending);
      // The lean reader keeps the whole answer: past LEAN_MAX_BYTES (a large file: the
      // concurrent and ttfb sections) the full decoder takes over, or every read would copy
      // all that came before it.
      if (a.other === true || (a.done !== true && pending.length > LEAN_MAX_BYTES)) {
        decoder = new FrameDecoder({ accept: 'responses' });
        const all = pending;
        pending = Buffer.alloc(0);
        return full(all);
      }
      if (a.body > 0 && firstBody()) return finish(undefined, a.body);
      if (a.done === true) finish(undefined, a.body);
    });
    socket.once('error', (error) => settled || fail(error));
    socket.once('close', () => settled || fail(new Error('closed early')));
  });
}

function httpRequest(path, slot) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const { socket, ready } = open(slot);
    let head = Buffer.alloc(0);
    let length = -1;
    let got = 0;
    const fail = (error) => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => fail(new Error('timeout')));
    socket.once(ready, () => {
      socket.write(`GET /${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    });
    socket.on('data', (chunk) => {
      if (length < 0) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > 16384) fail(new Error('header too long'));
          return;
        }
        const text = head.subarray(0, end).toString('latin1');
        if (!/^HTTP\/1\.[01] 200 /.test(text)) return fail(new Error(text.split('\r\n')[0]));
        const m = /\r\ncontent-length:\s*(\d+)/i.exec(text);
        if (m === null) return fail(new Error('no content-length'));
        length = Number(m[1]);
        got = head.length - end - 4;
        // The header's arrival stands for the first body byte (nginx sends them together).
        markFirstByte(t0);
        if (cfg.firstByteOnly === true) {
          socket.destroy();
          return resolve(got);
        }
        head = Buffer.alloc(0);
      } else got += chunk.length;
      if (length >= 0 && got >= length) {
        socket.destroy();
        if (got !== length) reject(new Error(`body ${got}/${length}`));
        else resolve(got);
      }
    });
    socket.once('error', fail);
    socket.once('close', () => reject(new Error('closed early')));
  });
}

const request = cfg.proto === 'ft' ? ftRequest : httpRequest;
const stats = { requests: 0, errors: 0, errorKinds: {}, bytes: 0, elapsedS: 0, resumed: 0 };
const started = process.hrtime.bigint();
const deadline = Date.now() + (cfg.durationS ?? 0) * 1000;
const maxRequests = cfg.maxRequests ?? 10_000_000;

async function worker(index) {
  const paths = cfg.paths;
  // This worker's TLS session, offered on its next connection.
  const slot = { session: undefined };
  for (let i = index; ; i += cfg.concurrency) {
    if (cfg.mode === 'once' && i !== index) return;
    if (cfg.mode === 'rps' && (Date.now() >= deadline || stats.requests >= maxRequests)) return;
    // Bounded even when every request fails fast.
    if (stats.errors > 100_000) return;
    // In "once" mode a BUSY answer is retried after the server's hint, as ftget would; in rps
    // mode it counts as a failed request.
    for (let attempt = 0; ; attempt++) {
      try {
        const bytes = await request(paths[i % paths.length], slot);
        stats.bytes += bytes;
        stats.requests++;
        break;
      } catch (error) {
        const kind = error.kind ?? String(error.code ?? error.message).slice(0, 40);
        stats.errorKinds[kind] = (stats.errorKinds[kind] ?? 0) + 1;
        if (cfg.mode === 'once' && kind === 'BUSY' && attempt < MAX_BUSY_RETRIES) {
          await sleep(Math.min(Math.max(error.retryAfterMs ?? 100, 10), 5000));
          continue;
        }
        stats.errors++;
        break;
      }
    }
  }
}

await Promise.all(Array.from({ length: cfg.concurrency }, (_, i) => worker(i)));
stats.elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
const sorted = firstByteMs.sort((a, b) => a - b);
const pct = (q) =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
stats.firstByteP50Ms = pct(0.5);
stats.firstByteP90Ms = pct(0.9);
process.stdout.write(JSON.stringify(stats) + '\n');
