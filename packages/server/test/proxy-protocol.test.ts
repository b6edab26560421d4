import test from 'ava';
import { V2_SIGNATURE, formatIPv6, parseProxyHeader } from '../src/net/proxy-protocol.js';

const ip6 = (hex: string): Buffer => Buffer.from(hex.replace(/\s/g, ''), 'hex');

test('IPv6 addresses are written as RFC 5952 says, IPv4-mapped ones as IPv4', (t) => {
  t.is(formatIPv6(ip6('20010db8 00000000 00000000 00000001')), '2001:db8::1');
  t.is(formatIPv6(ip6('00000000 00000000 00000000 00000000')), '::');
  t.is(formatIPv6(ip6('00000000 00000000 00000000 00000001')), '::1');
  // The longest zero run is shortened; a single zero group is not.
  t.is(formatIPv6(ip6('20010db8 00000001 00000000 00000001')), '2001:db8:0:1::1');
  t.is(formatIPv6(ip6('20010db8 00010001 00010001 00010001')), '2001:db8:1:1:1:1:1:1');
  t.is(formatIPv6(ip6('00000000 00000000 0000ffff c0000221')), '192.0.2.33');
});

test('a header cut anywhere is incomplete, not invalid', (t) => {
  const v1 = Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 51234 7070\r\n');
  const v2 = Buffer.concat([V2_SIGNATURE, Buffer.from('2111000ccb00710700000000c8221b9e', 'hex')]);
  for (const header of [v1, v2]) {
    for (let n = 0; n < header.length; n++)
      t.is(parseProxyHeader(header.subarray(0, n)).kind, 'incomplete', `${n} bytes`);
    const whole = parseProxyHeader(Buffer.concat([header, Buffer.from('rest')]));
    t.deepEqual(whole, {
      kind: 'header',
      length: header.length,
      source: { ip: '203.0.113.7', port: 51234 },
    });
  }
});

test('v1 UNKNOWN keeps the connection address; malformed lines are invalid', (t) => {
  t.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), {
    kind: 'header',
    length: 15,
    source: undefined,
  });
  for (const bad of [
    'PROXY TCP4 203.0.113.7 192.0.2.1 051234 7070\r\n',
    'PROXY TCP4 203.0.113.7 192.0.2.1 65536 7070\r\n',
    'PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n',
    'PROXY TCP4  203.0.113.7 192.0.2.1 1 2\r\n',
    'PROXY UDP4 203.0.113.7 192.0.2.1 1 2\r\n',
  ])
    t.is(parseProxyHeader(Buffer.from(bad)).kind, 'invalid', bad);
  t.is(parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')).kind, 'invalid');
});

test('v2: other versions, commands, datagrams and short address blocks are invalid', (t) => {
  const head = (verCmd: number, fam: number, len: number): Buffer =>
    Buffer.concat([
      V2_SIGNATURE,
      Buffer.from([verCmd, fam, len >> 8, len & 0xff]),
      Buffer.alloc(len),
    ]);
  t.is(parseProxyHeader(head(0x11, 0x11, 12)).kind, 'invalid');
  t.is(parseProxyHeader(head(0x22, 0x11, 12)).kind, 'invalid');
  t.is(parseProxyHeader(head(0x21, 0x12, 12)).kind, 'invalid');
  t.is(parseProxyHeader(head(0x21, 0x21, 12)).kind, 'invalid');
  t.deepEqual(parseProxyHeader(head(0x21, 0x00, 0)), {
    kind: 'header',
    length: 16,
    source: undefined,
  });
  t.deepEqual(parseProxyHeader(head(0x20, 0x11, 12)), {
    kind: 'header',
    length: 28,
    source: undefined,
  });
});
