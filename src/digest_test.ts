import assert from "node:assert/strict";
import { ConnectionCounter, type CounterEntry } from "./counter.ts";
import { buildDigest, clearSource, type DigestLine, formatDigest } from "./digest.ts";
import { KeyedHasher } from "./keyed_hash.ts";

function entry(address: number[], port: number, count: number): CounterEntry {
  return {
    family: address.length === 4 ? 4 : 6,
    address: new Uint8Array(address),
    port,
    count,
  };
}

const V6_LOOPBACK = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

function key16(address: number[]): Uint8Array {
  const out = new Uint8Array(16);
  out.set(address);
  return out;
}

Deno.test("the issue's example line, from a counter and the keyed hash of ::1", () => {
  const counter = new ConnectionCounter();
  const loopback = key16(V6_LOOPBACK);
  for (let i = 0; i < 9; i++) counter.add(6, loopback, 9306);
  counter.add(6, loopback, 9056);
  const hasher = new KeyedHasher("test");
  const text = formatDigest(buildDigest(counter.entries(), (a) => hasher.hash(a)));
  assert.equal(text, "e3b4bdc68b94c649:10 9306:9 9056:1\n");
});

Deno.test("an empty digest is the empty string", () => {
  assert.deepEqual(buildDigest([], clearSource), []);
  assert.equal(formatDigest([]), "");
  assert.equal(formatDigest(buildDigest(new ConnectionCounter().entries(), clearSource)), "");
});

Deno.test("clearSource: IPv4 dotted, IPv6 in brackets and RFC 5952 form", () => {
  assert.equal(clearSource(new Uint8Array([10, 0, 0, 1])), "10.0.0.1");
  assert.equal(clearSource(new Uint8Array(V6_LOOPBACK)), "[::1]");
  assert.equal(
    clearSource(new Uint8Array([0xfd, 0x99, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2])),
    "[fd99:2::2]",
  );
  assert.equal(
    clearSource(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1])),
    "[::ffff:192.0.2.1]",
  );
});

Deno.test("sources by total descending; ports by count descending, then port ascending", () => {
  const lines = buildDigest([
    entry([10, 0, 0, 1], 80, 1),
    entry([10, 0, 0, 2], 22, 5),
    entry([10, 0, 0, 1], 443, 3),
    entry([10, 0, 0, 3], 8080, 2),
    entry([10, 0, 0, 1], 25, 3),
    entry([10, 0, 0, 2], 21, 1),
    entry([10, 0, 0, 1], 1, 1),
  ], clearSource);
  assert.deepEqual(lines, [
    { source: "10.0.0.1", total: 8, ports: [[25, 3], [443, 3], [1, 1], [80, 1]] },
    { source: "10.0.0.2", total: 6, ports: [[22, 5], [21, 1]] },
    { source: "10.0.0.3", total: 2, ports: [[8080, 2]] },
  ]);
  assert.equal(
    formatDigest(lines),
    "10.0.0.1:8 25:3 443:3 1:1 80:1\n10.0.0.2:6 22:5 21:1\n10.0.0.3:2 8080:2\n",
  );
});

Deno.test("in clear, ties go by address order (numeric, IPv4 before IPv6), not text", () => {
  const lines = buildDigest([
    entry(V6_LOOPBACK, 1, 4),
    entry([10, 0, 0, 2], 1, 4),
    entry([9, 0, 0, 1], 1, 4),
    entry([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 1, 4),
    entry([255, 255, 255, 255], 1, 4),
    entry([10, 0, 0, 10], 1, 4),
    entry([1, 1, 1, 1], 1, 5),
  ], clearSource);
  assert.deepEqual(lines.map((l) => l.source), [
    "1.1.1.1", // largest total first
    "9.0.0.1", // "10.0.0.2" < "9.0.0.1" as text, but not as addresses
    "10.0.0.2",
    "10.0.0.10",
    "255.255.255.255",
    "[::1]",
    "[fe80::1]",
  ]);
});

Deno.test("hashed, ties go by the source text ascending", () => {
  const names = new Map([["1,1,1,1", "ffff"], ["2,2,2,2", "0000"], ["3,3,3,3", "8888"]]);
  const lines = buildDigest([
    entry([1, 1, 1, 1], 80, 2),
    entry([2, 2, 2, 2], 80, 2),
    entry([3, 3, 3, 3], 80, 2),
    entry([4, 4, 4, 4], 80, 3),
  ], (a) => names.get(a.join(",")) ?? "zzzz");
  assert.deepEqual(lines.map((l) => `${l.source}:${l.total}`), [
    "zzzz:3",
    "0000:2",
    "8888:2",
    "ffff:2",
  ]);
});

Deno.test("the namer is called once per distinct address", () => {
  const counter = new ConnectionCounter();
  const a = key16([10, 0, 0, 1]);
  const b = key16([0x20, 0x01, 0x0d, 0xb8]);
  const c = key16([10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  for (const port of [1, 2, 3, 4, 5]) {
    counter.add(4, a, port);
    counter.add(6, b, port);
    counter.add(6, c, port); // same 16 bytes as a, but IPv6: a different source
  }
  counter.add(4, a, 1);
  const calls: string[] = [];
  const lines = buildDigest(counter.entries(), (address) => {
    calls.push(address.join(","));
    return `h${calls.length}`;
  });
  assert.equal(calls.length, 3);
  assert.equal(new Set(calls).size, 3);
  assert.equal(lines.length, 3);
  assert.deepEqual(lines.map((l) => l.total).sort(), [5, 5, 6]);
  // Each line has its five ports.
  for (const line of lines) assert.equal(line.ports.length, 5);
  // The namer sees the address bytes (4 for IPv4, 16 for IPv6).
  assert.ok(calls.includes("10,0,0,1"));
  assert.ok(calls.includes([...c].join(",")));
});

Deno.test("formatDigest writes one newline-terminated line per source", () => {
  const lines: DigestLine[] = [
    { source: "[2001:db8::1]", total: 3, ports: [[443, 2], [80, 1]] },
    { source: "192.0.2.1", total: 1, ports: [[22, 1]] },
  ];
  assert.equal(formatDigest(lines), "[2001:db8::1]:3 443:2 80:1\n192.0.2.1:1 22:1\n");
});

Deno.test("a digest built from a counter in clear, end to end", () => {
  const counter = new ConnectionCounter();
  const v4 = key16([192, 0, 2, 7]);
  const v6 = key16([0xfd, 0x99, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
  counter.add(4, v4, 22);
  counter.add(6, v6, 443);
  counter.add(6, v6, 443);
  counter.add(6, v6, 80);
  counter.add(4, v4, 23);
  assert.equal(
    formatDigest(buildDigest(counter.entries(), clearSource)),
    "[fd99:2::2]:3 443:2 80:1\n192.0.2.7:2 22:1 23:1\n",
  );
});
