/**
 * The answer to a client's HELLO: WELCOME with the version both sides speak, or the reason there
 * is none (sent as a connection-level UNSUPPORTED_VERSION).
 */
import {
  MAX_PROTOCOL_VERSION,
  MIN_PROTOCOL_VERSION,
  encodeWelcome,
  negotiateVersion,
} from '@ft/protocol';
import type { Hello } from '@ft/protocol';

export type HelloAnswer = { welcome: Buffer } | { refusal: string };

/** WELCOME for `hello`, announcing `maxRequestFrame` and our `name`, or why we cannot talk. */
export function answerHello(hello: Hello, maxRequestFrame: number, name: string): HelloAnswer {
  const version = negotiateVersion(hello.minVersion, hello.maxVersion);
  if (version === undefined) {
    return {
      refusal: `this server speaks protocol versions ${MIN_PROTOCOL_VERSION}..${MAX_PROTOCOL_VERSION}`,
    };
  }
  return { welcome: encodeWelcome({ version, maxRequestFrame, name }) };
}
