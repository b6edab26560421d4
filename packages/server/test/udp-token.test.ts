/**
 * The UDP address-validation token, as a unit (the end-to-end angle is udp-faults.test.ts: no
 * ACCEPT without a token). A token is good only for the address and port it was minted for,
 * by the same secret, within its lifetime, byte for byte.
 */
import test from 'ava';
import { UdpLimits } from '@ft/protocol';
import { TOKEN_LIFETIME_MS, TokenMinter } from '../src/udp/token.js';

const SECRET = Buffer.alloc(32, 7);

function clock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

test('a token verifies for the address and port it was minted for', (t) => {
  const minter = new TokenMinter(SECRET);
  const token = minter.mint('127.0.0.1', 40000);
  t.is(token.length, UdpLimits.TOKEN_SIZE);
  t.true(minter.verify(token, '127.0.0.1', 40000));
});

test('another address, port or secret refuses it', (t) => {
  const minter = new TokenMinter(SECRET);
  const token = minter.mint('127.0.0.1', 40000);
  t.false(minter.verify(token, '127.0.0.2', 40000));
  t.false(minter.verify(token, '127.0.0.1', 40001));
  t.false(minter.verify(token, '::ffff:127.0.0.1', 40000));
  t.false(new TokenMinter(Buffer.alloc(32, 8)).verify(token, '127.0.0.1', 40000));
});

test('any flipped byte, a wrong length or an empty token is refused', (t) => {
  const minter = new TokenMinter(SECRET);
  const token = minter.mint('127.0.0.1', 40000);
  for (let i = 0; i < token.length; i++) {
    const bad = Buffer.from(token);
    bad[i] = bad[i]! ^ 0x01;
    t.false(minter.verify(bad, '127.0.0.1', 40000), `byte ${i}`);
  }
  t.false(minter.verify(token.subarray(0, token.length - 1), '127.0.0.1', 40000));
  t.false(minter.verify(Buffer.concat([token, Buffer.alloc(1)]), '127.0.0.1', 40000));
  t.false(minter.verify(Buffer.alloc(0), '127.0.0.1', 40000));
  t.false(minter.verify(Buffer.alloc(UdpLimits.TOKEN_SIZE), '127.0.0.1', 40000));
});

test('a token expires after its lifetime and is refused from too far in the future', (t) => {
  const c = clock();
  const minter = new TokenMinter(SECRET, c.now);
  const token = minter.mint('127.0.0.1', 40000);
  c.advance(TOKEN_LIFETIME_MS);
  t.true(minter.verify(token, '127.0.0.1', 40000), 'still valid at exactly its lifetime');
  c.advance(1);
  t.false(minter.verify(token, '127.0.0.1', 40000), 'expired');
  const early = clock(1_700_000_000_000 - 60_000);
  t.false(new TokenMinter(SECRET, early.now).verify(token, '127.0.0.1', 40000), 'from the future');
});
