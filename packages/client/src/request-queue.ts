/**
 * The requests in flight on one connection, oldest first. The server answers strictly in
 * request order (PROTOCOL.md §5.2), so only the head is ever answered; an entry leaves the
 * queue when it is answered or rejected. When the connection fails, the head gets the failure
 * (it may be its own: a bad header, a failing sink) and the requests pipelined behind it only
 * lost the connection.
 */
import type { Message } from '@ft/protocol';
import type { Pin } from './receive/receive-ring.js';

/** One request in flight. */
export interface Pending {
  requestId: number;
  /** Handles one answer frame; true when the request is complete. */
  onMessage(message: Message): boolean;
  /** Body bytes of a GET's answer. */
  onData?(chunk: Buffer, pin: Pin | undefined): void;
  reject(error: Error): void;
}

export class RequestQueue {
  private readonly items: Pending[] = [];

  get length(): number {
    return this.items.length;
  }

  /** The oldest request in flight: the one the next answer belongs to. */
  get head(): Pending | undefined {
    return this.items[0];
  }

  /**
   * Queues request `requestId`. `handler` gets the function that completes it (with the value
   * its promise resolves to) and returns its frame handler.
   */
  add<T>(
    requestId: number,
    handler: (resolve: (value: T) => void) => (message: Message) => boolean,
    resolve: (value: T) => void,
    reject: (error: Error) => void,
    onData?: (chunk: Buffer, pin: Pin | undefined) => void,
  ): void {
    // Only the head is ever answered (or, on failure, every request is): shift() drops it.
    const pending: Pending = {
      requestId,
      onMessage: handler((value) => {
        if (this.items[0] === pending) this.items.shift();
        resolve(value);
      }),
      reject: (error) => {
        if (this.items[0] === pending) this.items.shift();
        reject(error);
      },
    };
    if (onData !== undefined) pending.onData = onData;
    this.items.push(pending);
  }

  /** Rejects every request: the head with `failure`, those behind it with `behind`'s error. */
  failAll(failure: Error, behind: () => Error): void {
    const [head, ...rest] = this.items.splice(0);
    head?.reject(failure);
    if (rest.length === 0) return;
    const lost = behind();
    for (const pending of rest) pending.reject(lost);
  }
}
