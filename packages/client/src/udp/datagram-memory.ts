/**
 * Frees a received datagram's memory as soon as nothing uses its payload any more, instead of
 * leaving it to the garbage collector. Node gives every datagram its own ArrayBuffer (64 KiB on
 * loopback), allocated outside the JS heap: left to the collector, 256 MiB of them cost the
 * client ~20 garbage collections (each full one marks the whole heap, triggered by that external
 * memory alone) and a page fault for every fresh 4 KiB the allocator hands out. Detaching the
 * buffer once the file writer and the digester released it (ArrayBuffer.prototype.transfer
 * with length 0) returns the memory to the allocator at once: the next datagram reuses warm
 * pages and the external-memory counter that drives those collections stays flat.
 *
 * ArrayBuffer.prototype.transfer is standard from V8 11.4 (Node 21); Node 20's V8 11.3 has it
 * behind --harmony-rab-gsab-transfer, which only takes effect in contexts created after it is
 * set: it is set once and the function taken from a fresh vm context (it works on any realm's
 * ArrayBuffer). Where neither works, nothing is detached and the collector frees the memory as
 * before.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Pin } from '../receive/receive-ring.js';

type Transfer = (this: ArrayBuffer, length: number) => ArrayBuffer;

let transfer: Transfer | null | undefined;

function transferFunction(): Transfer | null {
  if (transfer !== undefined) return transfer;
  const own = (ArrayBuffer.prototype as { transfer?: Transfer }).transfer;
  transfer = typeof own === 'function' ? own : null;
  if (transfer === null) {
    try {
      setFlagsFromString('--harmony-rab-gsab-transfer');
      const fn: unknown = runInNewContext('ArrayBuffer.prototype.transfer');
      if (typeof fn === 'function') transfer = fn as Transfer;
    } catch {
      // No way to detach here: the garbage collector frees the datagrams.
    }
  }
  return transfer;
}

/** Whether this process can free datagram memory early (see the module comment). */
export function canFreeEarly(): boolean {
  return transferFunction() !== null;
}

/**
 * Whether `payload` is the tail of an ArrayBuffer that holds one datagram and nothing else:
 * only then may that buffer be detached once the payload is no longer used.
 */
export function ownsItsMemory(payload: Buffer): boolean {
  const buffer = payload.buffer;
  return (
    buffer instanceof ArrayBuffer &&
    payload.byteOffset + payload.length === buffer.byteLength &&
    payload.byteOffset <= 64
  );
}

/**
 * Hands `payload` to `deliver` with a pin; its datagram's memory is freed once `deliver` has
 * returned and every pin it took was released. The caller must own that memory
 * (ownsItsMemory) and keep no other view of it; so must everyone it handed views to, except
 * under a pin. After the free, every view of it is empty.
 */
export function deliverThenFree(payload: Buffer, deliver: (chunk: Buffer, pin: Pin) => void): void {
  const detach = transferFunction();
  if (detach === null) {
    deliver(payload, () => () => {});
    return;
  }
  const buffer = payload.buffer as ArrayBuffer;
  let pins = 1;
  const unpin = (): void => {
    if (--pins === 0) detach.call(buffer, 0);
  };
  try {
    deliver(payload, () => {
      pins++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        unpin();
      };
    });
  } finally {
    unpin();
  }
}
