import { createSocket } from 'node:dgram';
import test from 'ava';
import { UDP_WINDOW, windowFor } from '../src/udp/transfer.js';

const MiB = 1024 * 1024;

test('the window offered fits the receive buffer the kernel granted', (t) => {
  // 4 MiB asked with rmem_max 4 MiB: Linux grants (and reports) 8 MiB.
  t.is(windowFor(8 * MiB, 65_000), UDP_WINDOW);
  // A default rmem_max: 416 KiB granted, room for 5 loopback datagrams, not 4 MiB.
  t.is(windowFor(425_984, 65_000), 5 * 65_000);
  // Small datagrams cost the kernel more per payload byte.
  const small = windowFor(425_984, 1200);
  t.true(small < 425_984 * 0.5 && small % 1200 === 0);
  // Never below two datagrams; unknown buffer: the fixed window offered before.
  t.is(windowFor(1000, 65_000), 130_000);
  t.is(windowFor(0, 65_000), 4 * MiB);
});

test('a real socket: the window and what queues in its buffer', (t) => {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 4 * MiB });
  t.teardown(() => socket.close());
  return new Promise<void>((resolve) => {
    socket.bind(0, '127.0.0.1', () => {
      const granted = socket.getRecvBufferSize();
      const window = windowFor(granted, 65_000);
      t.true(window <= UDP_WINDOW && window >= 130_000);
      t.true(window <= 0.9 * granted);
      resolve();
    });
  });
});
