import test from 'ava';
import { BATCH_FILES, batchSizeFor } from '../src/small-batch.js';
import { syncfsReportsErrors } from '../src/syncfs.js';

test('syncfs is trusted from Linux 5.8 on (it reports writeback errors since then)', (t) => {
  t.false(syncfsReportsErrors('4.19.0-25-amd64'));
  t.false(syncfsReportsErrors('5.7.19'));
  t.true(syncfsReportsErrors('5.8.0'));
  t.true(syncfsReportsErrors('6.18.44-fc-v669'));
  t.false(syncfsReportsErrors('not a release'));
});

test('the batch size leaves room under the open-file limit', (t) => {
  const limits = (soft: string): string =>
    `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                 1048576              files\n`;
  t.is(batchSizeFor(limits('1048576')), BATCH_FILES);
  t.is(batchSizeFor(limits('unlimited')), BATCH_FILES);
  t.is(batchSizeFor(limits('1024')), 224);
  t.is(batchSizeFor(limits('256')), 32);
  t.is(batchSizeFor(limits('150')), 0, 'too few descriptors: one fsync per file');
  t.is(batchSizeFor(undefined), 0);
});
