/**
 * Makes the partial an interrupted ftget really leaves (OUTPUT.part plus its state file): the
 * download goes through a one-connection TCP proxy that cuts after a given number of response
 * bytes, and ftget, allowed no retry, stops there. Used to prepare resume runs (not timed).
 */
import net from 'node:net';
import { statSync } from 'node:fs';
import { runTimed } from './proc.mjs';

/**
 * @returns {Promise<number>} bytes present in OUTPUT.part afterwards
 */
export async function interruptedDownload(ctx, server, remote, out, cutAfter) {
  let served = false;
  const sockets = new Set();
  const proxy = net.createServer((client) => {
    sockets.add(client);
    if (served) {
      client.destroy();
      return;
    }
    served = true;
    const upstream = net.connect({ host: '127.0.0.1', port: server.port });
    sockets.add(upstream);
    let sent = 0;
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (chunk) => {
      const room = cutAfter - sent;
      if (chunk.length >= room) {
        client.write(chunk.subarray(0, room), () => {
          client.destroy();
          upstream.destroy();
        });
        upstream.pause();
        sent = cutAfter;
        return;
      }
      sent += chunk.length;
      if (!client.write(chunk)) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
    });
    for (const s of [client, upstream]) {
      s.on('error', () => {});
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  try {
    const port = proxy.address().port;
    const argv = ctx.ftget(['get', remote, '-o', out, '--retries', '0'], { port });
    const r = await runTimed(argv, {
      scratch: ctx.fixtures.scratch,
      timeoutMs: ctx.transferTimeoutMs(cutAfter),
    });
    if (r.code === 0) throw new Error('the cut download did not fail: cannot make a partial');
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => proxy.close(resolve));
  }
  try {
    return statSync(`${out}.part`).size;
  } catch {
    throw new Error('the cut download left no partial');
  }
}
