import assert from "node:assert/strict";
import { formatAddress, parseAddress } from "./address.ts";

/** 16 bytes from eight 16-bit groups. */
function groups(...g: number[]): Uint8Array {
  assert.equal(g.length, 8);
  const out = new Uint8Array(16);
  g.forEach((v, i) => {
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

const RFC5952: [Uint8Array, string][] = [
  // The longest run of zero groups is compressed.
  [groups(0x2001, 0, 0, 1, 0, 0, 0, 1), "2001:0:0:1::1"],
  [groups(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), "2001:db8::1"],
  // On a tie, the first run.
  [groups(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1), "2001:db8::1:0:0:1"],
  // A single zero group is not compressed.
  [groups(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1), "2001:db8:0:1:1:1:1:1"],
  [groups(1, 2, 3, 4, 5, 6, 7, 0), "1:2:3:4:5:6:7:0"],
  [groups(0, 1, 2, 3, 4, 5, 6, 7), "0:1:2:3:4:5:6:7"],
  // Lowercase, leading zeros dropped.
  [groups(0xABCD, 0xEF01, 0x00ab, 0x000c, 0x0d00, 0, 0, 0x0001), "abcd:ef01:ab:c:d00::1"],
  // Runs at the start and at the end.
  [groups(0, 0, 0, 0, 0, 0, 0, 0), "::"],
  [groups(0, 0, 0, 0, 0, 0, 0, 1), "::1"],
  [groups(1, 0, 0, 0, 0, 0, 0, 0), "1::"],
  [groups(0xfe80, 0, 0, 0, 0, 0, 0, 0x2a), "fe80::2a"],
  [groups(0, 0, 1, 0, 0, 0, 1, 0), "0:0:1::1:0"],
  [groups(0xfd99, 2, 0, 0, 0, 0, 0, 2), "fd99:2::2"],
  // IPv4-mapped keeps its dotted tail.
  [groups(0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201), "::ffff:192.0.2.1"],
  [groups(0, 0, 0, 0, 0, 0xffff, 0, 0), "::ffff:0.0.0.0"],
  // Only ::ffff:0:0/96 is mapped; the deprecated IPv4-compatible form is plain hex.
  [groups(0, 0, 0, 0, 0, 0, 0xc000, 0x0201), "::c000:201"],
  [groups(0, 0, 0, 0, 0xffff, 0, 0xc000, 0x0201), "::ffff:0:c000:201"],
  [
    groups(0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff),
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
  ],
];

Deno.test("formatAddress: RFC 5952 for IPv6", () => {
  for (const [bytes, text] of RFC5952) assert.equal(formatAddress(bytes), text);
});

Deno.test("formatAddress: dotted quad for IPv4, RangeError for other lengths", () => {
  assert.equal(formatAddress(new Uint8Array([192, 0, 2, 7])), "192.0.2.7");
  assert.equal(formatAddress(new Uint8Array([0, 0, 0, 0])), "0.0.0.0");
  assert.equal(formatAddress(new Uint8Array([255, 255, 255, 255])), "255.255.255.255");
  for (const n of [0, 3, 5, 15, 17]) {
    assert.throws(() => formatAddress(new Uint8Array(n)), RangeError);
  }
});

Deno.test("parseAddress round-trips what formatAddress prints", () => {
  for (const [bytes, text] of RFC5952) {
    assert.deepEqual(parseAddress(text), bytes, text);
    assert.equal(formatAddress(parseAddress(text)!), text);
  }
  for (const text of ["10.0.0.1", "0.0.0.0", "255.255.255.255", "192.0.2.7"]) {
    const bytes = parseAddress(text);
    assert.equal(bytes?.length, 4);
    assert.equal(formatAddress(bytes!), text);
  }
  assert.deepEqual(parseAddress("10.0.0.1"), new Uint8Array([10, 0, 0, 1]));
});

Deno.test("parseAddress accepts non-canonical IPv6 forms", () => {
  const db8 = groups(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
  assert.deepEqual(parseAddress("2001:0db8:0000:0000:0000:0000:0000:0001"), db8);
  assert.deepEqual(parseAddress("2001:DB8::1"), db8);
  assert.deepEqual(parseAddress("2001:db8:0::0:1"), db8);
  assert.deepEqual(parseAddress("2001:db8:0:0:0:0:0:1"), db8);
  // "::" standing for a single group.
  assert.deepEqual(parseAddress("1:2:3:4:5:6:7::"), groups(1, 2, 3, 4, 5, 6, 7, 0));
  assert.deepEqual(parseAddress("::2:3:4:5:6:7:8"), groups(0, 2, 3, 4, 5, 6, 7, 8));
  // Dotted tails in other positions.
  assert.deepEqual(parseAddress("::FFFF:10.0.0.1"), groups(0, 0, 0, 0, 0, 0xffff, 0x0a00, 1));
  assert.deepEqual(parseAddress("1:2:3:4:5:6:1.2.3.4"), groups(1, 2, 3, 4, 5, 6, 0x0102, 0x0304));
  assert.deepEqual(parseAddress("::1.2.3.4"), groups(0, 0, 0, 0, 0, 0, 0x0102, 0x0304));
});

Deno.test("parseAddress rejects bad text", () => {
  const bad = [
    "",
    " 10.0.0.1",
    "10.0.0.1 ",
    "256.0.0.1",
    "-1.2.3.4",
    "10.0.0.1/8",
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    ":::",
    "12345::",
    "g::1",
    "::g",
    ":1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:",
    "1:2:3:4:5:6:7:8::",
    "::1:2:3:4:5:6:7:8",
    "1::2:3:4:5:6:7:8",
    "::ffff:256.1.1.1",
    "::ffff:1.2.3.4:5",
    "1:2:3:4:5:6:7:1.2.3.4",
    "1.2.3.4::",
    "fe80::1%eth0",
    "[::1]",
    "localhost",
  ];
  for (const text of bad) assert.equal(parseAddress(text), undefined, JSON.stringify(text));
});

// Dotted text that is not an IPv4 address, with nothing but hex digits, colons and dots: the
// dotted tail is parsed by calling parseAddress on the text after the last colon, which is the
// whole text when there is no colon, so the call recurses on the same string until the stack
// overflows (RangeError) instead of returning undefined.
Deno.test("parseAddress returns undefined, does not throw, for dotted non-addresses", () => {
  for (const text of ["1.2.3", "1.2.3.4.5", "1.2.3.1000", "1..2.3", ".", "a.b", "::ffff:1.2.3"]) {
    let result: Uint8Array | undefined | Error;
    try {
      result = parseAddress(text);
    } catch (e) {
      result = e as Error;
    }
    assert.equal(result, undefined, `${JSON.stringify(text)}: ${result}`);
  }
});
