import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { FileWriter } from '../src/file-writer.js';

test('positional writes land in order, batched, including non-contiguous ones', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ftget-writer-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'f');
  const handle = await open(path, 'w+');
  t.teardown(() => handle.close());
  const writer = new FileWriter(handle);
  const order: string[] = [];
  for (let i = 0; i < 1000; i++) writer.write(Buffer.from([i % 251]), i);
  writer.enqueue(async () => {
    order.push(`op after ${(await handle.stat()).size} bytes`);
  });
  writer.write(Buffer.from('XY'), 10);
  await writer.drain();
  const bytes = await readFile(path);
  t.is(bytes.length, 1000);
  t.is(bytes.subarray(10, 12).toString(), 'XY');
  t.is(bytes[999], 999 % 251);
  t.deepEqual(
    order,
    ['op after 1000 bytes'],
    'queued operations see exactly the writes before them',
  );
  t.is(writer.queuedBytes, 0);
});

test('a failed write poisons the writer and is reported by drain()', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ftget-writer-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const handle = await open(join(dir, 'f'), 'r+').catch(async () => open(join(dir, 'f'), 'w+'));
  const failures: Error[] = [];
  const writer = new FileWriter(handle, undefined, (e) => failures.push(e));
  await handle.close();
  writer.write(Buffer.from('abc'), 0);
  await t.throwsAsync(writer.drain(), { code: 'EBADF' });
  t.is(failures.length, 1);
  let ran = false;
  writer.enqueue(async () => {
    ran = true;
  });
  await t.throwsAsync(writer.drain());
  t.false(ran, 'nothing runs after a failure');
});
