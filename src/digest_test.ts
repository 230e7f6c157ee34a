import assert from "node:assert/strict";
import { ConnectionCounter, type CounterEntry } from "./counter.ts";
import { buildDigest, clearSource, type Digest, digestText, formatDigest } from "./digest.ts";
import { KeyedHasher } from "./keyed_hash.ts";
import { ConnectionSummary, type SummaryBounds } from "./summary.ts";

/** A digest's lines in a compact form: source, total, [port, count] pairs. */
function simple(digest: Digest) {
  return [...digest.lines()].map((l) => ({
    source: l.source,
    total: l.connections,
    ports: l.ports.map((p) => [p.port, p.connections]),
  }));
}

function digestOf(
  entries: CounterEntry[],
  name: (a: Uint8Array) => string,
  bounds: SummaryBounds = {},
): Digest {
  return buildDigest(ConnectionSummary.fromCounts(entries, bounds), name);
}

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

Deno.test("the example line, from a counter and the keyed hash of ::1", async () => {
  const counter = new ConnectionCounter();
  const loopback = key16(V6_LOOPBACK);
  for (let i = 0; i < 9; i++) counter.add(6, loopback, 9306);
  counter.add(6, loopback, 9056);
  const hasher = await KeyedHasher.create("test");
  const text = formatDigest(buildDigest(counter.summarize(), (a) => hasher.hash(a)));
  assert.equal(text, "e3b4bdc68b94c649:10 9306:9 9056:1\n");
});

Deno.test("an empty digest is the empty string", () => {
  assert.deepEqual(simple(digestOf([], clearSource)), []);
  assert.equal(formatDigest(digestOf([], clearSource)), "");
  assert.deepEqual([...digestText(digestOf([], clearSource))], []);
  assert.equal(formatDigest(buildDigest(new ConnectionCounter().summarize(), clearSource)), "");
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
  const digest = digestOf([
    entry([10, 0, 0, 1], 80, 1),
    entry([10, 0, 0, 2], 22, 5),
    entry([10, 0, 0, 1], 443, 3),
    entry([10, 0, 0, 3], 8080, 2),
    entry([10, 0, 0, 1], 25, 3),
    entry([10, 0, 0, 2], 21, 1),
    entry([10, 0, 0, 1], 1, 1),
  ], clearSource);
  assert.deepEqual(simple(digest), [
    { source: "10.0.0.1", total: 8, ports: [[25, 3], [443, 3], [1, 1], [80, 1]] },
    { source: "10.0.0.2", total: 6, ports: [[22, 5], [21, 1]] },
    { source: "10.0.0.3", total: 2, ports: [[8080, 2]] },
  ]);
  assert.equal(
    formatDigest(digest),
    "10.0.0.1:8 25:3 443:3 1:1 80:1\n10.0.0.2:6 22:5 21:1\n10.0.0.3:2 8080:2\n",
  );
});

Deno.test("in clear, ties go by address order (numeric, IPv4 before IPv6), not text", () => {
  const lines = simple(digestOf([
    entry(V6_LOOPBACK, 1, 4),
    entry([10, 0, 0, 2], 1, 4),
    entry([9, 0, 0, 1], 1, 4),
    entry([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 1, 4),
    entry([255, 255, 255, 255], 1, 4),
    entry([10, 0, 0, 10], 1, 4),
    entry([1, 1, 1, 1], 1, 5),
  ], clearSource));
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
  const lines = simple(digestOf([
    entry([1, 1, 1, 1], 80, 2),
    entry([2, 2, 2, 2], 80, 2),
    entry([3, 3, 3, 3], 80, 2),
    entry([4, 4, 4, 4], 80, 3),
  ], (a) => names.get(a.join(",")) ?? "zzzz"));
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
  const lines = simple(buildDigest(counter.summarize(), (address) => {
    calls.push(address.join(","));
    return `h${calls.length}`;
  }));
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
  const digest = digestOf([
    entry([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 443, 2),
    entry([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 80, 1),
    entry([192, 0, 2, 1], 22, 1),
  ], clearSource);
  assert.equal(formatDigest(digest), "[2001:db8::1]:3 443:2 80:1\n192.0.2.1:1 22:1\n");
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
    formatDigest(buildDigest(counter.summarize(), clearSource)),
    "[fd99:2::2]:3 443:2 80:1\n192.0.2.7:2 22:1 23:1\n",
  );
});

Deno.test("beyond the bounds: the most counted kept exactly, the rest as 'other'", () => {
  // Exact counts cut to the bounds: no '~', since every number listed is exact.
  const entries = [
    entry([10, 0, 0, 1], 80, 5),
    entry([10, 0, 0, 1], 443, 3),
    entry([10, 0, 0, 1], 22, 1),
    entry([10, 0, 0, 2], 80, 4),
    entry([10, 0, 0, 3], 80, 2),
    entry([10, 0, 0, 4], 80, 2),
  ];
  const digest = digestOf(entries, clearSource, { maxSources: 2, maxPorts: 2 });
  // The last line's ports: 80 (13 in all, 9 listed) and 22 (the first line's other:1).
  assert.equal(
    formatDigest(digest),
    "10.0.0.1:9 80:5 443:3 other:1\n10.0.0.2:4 80:4\nother:4 80:4 22:1\n",
  );
  assert.equal(digest.connections, 17);
  assert.equal(digest.untracked, 4);
  assert.equal(digest.exact, false);
  assert.equal(digest.distinctSourcesExact, false);
});

Deno.test("lower bounds are marked '~', and every line adds up", () => {
  const summary = new ConnectionSummary({ maxSources: 2, maxPorts: 1 });
  const address = (last: number) => new Uint8Array([10, 0, 0, last, ...new Array(12).fill(0)]);
  summary.add(4, address(1), 80);
  summary.add(4, address(3), 80, 5);
  summary.add(4, address(2), 443); // takes 10.0.0.1's place: count 2, error 1
  summary.add(4, address(2), 443, 9);
  summary.add(4, address(2), 22); // takes 443's place: count 11, error 10
  // The floor is 5 (10.0.0.3's count): 10.0.0.2 (11 or more) is listed, 10.0.0.3 (5) is not.
  assert.equal(summary.errorFloor, 5);
  const digest = buildDigest(summary, clearSource);
  assert.equal(formatDigest(digest), "10.0.0.2:~11 22:~1 other:10\nother:6 443:10 other:6\n");
  const [line] = digest.lines();
  assert.equal(line.error, 1);
  assert.deepEqual(line.ports, [{ port: 22, connections: 1, error: 11 }]);
  // The last line's ports: 443:10 and 80:6 (one fits), 16 in all: its 6 and the line's 10.
  assert.deepEqual(digest.other(), {
    connections: 6,
    ports: [{ port: 443, connections: 10 }],
    untracked: 6,
  });
});

Deno.test("with one source tracked and one dropped, no source can be vouched for", () => {
  const summary = new ConnectionSummary({ maxSources: 1, maxPorts: 1 });
  const a = new Uint8Array(16);
  a.set([10, 0, 0, 1]);
  const b = new Uint8Array(16);
  b.set([10, 0, 0, 2]);
  summary.add(4, a, 80);
  summary.add(4, b, 443); // takes a's place: count 2, error 1
  summary.add(4, b, 443);
  summary.add(4, b, 22); // takes 443's place: count 3, error 2
  // 10.0.0.2's lower bound (2) is not above the floor (its count, 3): 10.0.0.1 may have had 3.
  const digest = buildDigest(summary, clearSource);
  assert.equal(formatDigest(digest), "other:4 443:2 other:2\n");
  assert.equal(digest.sources, 0);
});

Deno.test("digestText comes in pieces that end with a line, and add up to formatDigest", () => {
  const counter = new ConnectionCounter();
  const a = new Uint8Array(16);
  for (let i = 0; i < 3000; i++) {
    a[2] = i >> 8;
    a[3] = i & 255;
    counter.add(4, a, 1 + (i % 7));
  }
  const digest = buildDigest(counter.summarize(), clearSource);
  const pieces = [...digestText(digest, 1000)];
  assert.ok(pieces.length > 10);
  for (const piece of pieces) assert.ok(piece.endsWith("\n") && piece.length < 1100);
  assert.equal(pieces.join(""), formatDigest(digest));
  assert.equal(formatDigest(digest).split("\n").length, 3001);
});

Deno.test("a spoofed flood: the three heavy sources named, 'other' with the rest and its port", () => {
  // 1M single-SYN sources to 9999, and three sources that each send 1 % of it to 443.
  const counter = new ConnectionCounter();
  const words = new Int32Array(4);
  const heavy = [0x0a000001, 0x0a000002, 0x0a000003].map((w) => new Int32Array([w, 0, 0, 0]));
  for (let i = 0; i < 1_000_000; i++) {
    words[0] = 0x40000000 + i;
    counter.addWords(4, words, 9999);
    if (i % 100 === 0) { for (const h of heavy) counter.addWords(4, h, 443); }
  }
  const summary = counter.summarize();
  assert.equal(summary.size, 32768, "the summary is full");
  const named: string[] = [];
  const digest = buildDigest(summary, (address) => {
    const text = clearSource(address);
    named.push(text);
    return text;
  });
  const text = formatDigest(digest);
  const lines = text.trimEnd().split("\n");
  assert.ok(lines.length <= 10, `${lines.length} lines`);
  assert.deepEqual(named.sort(), ["10.0.0.1", "10.0.0.2", "10.0.0.3"], "only those listed");
  assert.equal(digest.sources, 3);
  const listed = [...digest.lines()];
  assert.deepEqual(listed.map((l) => l.source).sort(), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
  for (const line of listed) {
    assert.ok(line.connections > 10_000 - 1_030_000 / 32768, `${line.connections}`);
    assert.equal(line.ports[0].port, 443);
  }
  const credited = listed.reduce((n, l) => n + l.connections, 0);
  assert.equal(credited + digest.untracked, 1_030_000, "the numbers add up");
  // The last line: every flood SYN went to 9999 (exact), and what the heavy sources' listed
  // lower bounds leave of their 30 000 to 443.
  const other = digest.other()!;
  assert.equal(other.connections, digest.untracked);
  assert.deepEqual(other.ports[0], { port: 9999, connections: 1_000_000 });
  assert.deepEqual(
    other.ports.slice(1),
    30_000 - credited > 0 ? [{ port: 443, connections: 30_000 - credited }] : [],
  );
  assert.equal(other.untracked, 0);
  assert.equal(
    lines.at(-1),
    `other:${digest.untracked} 9999:1000000` +
      (30_000 - credited > 0 ? ` 443:${30_000 - credited}` : ""),
  );
});

Deno.test("top: at most N sources, the rest in 'other' with its ports, exact and adding up", () => {
  const entries = [
    entry([10, 0, 0, 1], 80, 5),
    entry([10, 0, 0, 1], 443, 3),
    entry([10, 0, 0, 2], 80, 4),
    entry([10, 0, 0, 3], 22, 2),
    entry([10, 0, 0, 4], 25, 2),
  ];
  const summary = ConnectionSummary.fromCounts(entries);
  const all = formatDigest(buildDigest(summary, clearSource));
  assert.equal(all, "10.0.0.1:8 80:5 443:3\n10.0.0.2:4 80:4\n10.0.0.3:2 22:2\n10.0.0.4:2 25:2\n");
  assert.equal(formatDigest(buildDigest(summary, clearSource, { top: 4 })), all);
  assert.equal(formatDigest(buildDigest(summary, clearSource, { top: 100 })), all);
  const two = buildDigest(summary, clearSource, { top: 2 });
  assert.equal(formatDigest(two), "10.0.0.1:8 80:5 443:3\n10.0.0.2:4 80:4\nother:4 22:2 25:2\n");
  assert.equal(two.sources, 2);
  assert.equal(two.exact, true);
  assert.equal(
    formatDigest(buildDigest(summary, clearSource, { top: 1 })),
    "10.0.0.1:8 80:5 443:3\nother:8 80:4 22:2 25:2\n",
  );
  // A tie at the cut goes by digest order (here the address); the ports of 'other' bounded by
  // maxPorts as a line's are.
  assert.equal(
    formatDigest(buildDigest(summary, clearSource, { top: 3 })),
    "10.0.0.1:8 80:5 443:3\n10.0.0.2:4 80:4\n10.0.0.3:2 22:2\nother:2 25:2\n",
  );
  const narrow = ConnectionSummary.fromCounts(entries, { maxPorts: 1 });
  assert.equal(
    formatDigest(buildDigest(narrow, clearSource, { top: 1 })),
    "10.0.0.1:8 80:5 other:3\nother:8 80:4 other:7\n",
  );
});

Deno.test("top: the namer is called for the sources listed and those tied with the last", () => {
  const counter = new ConnectionCounter();
  for (let i = 0; i < 1000; i++) {
    const address = key16([10, 1, i >> 8, i & 255]);
    for (let n = 0; n < (i < 5 ? 10 + i : 1); n++) counter.add(4, address, 80);
  }
  const calls: string[] = [];
  const digest = buildDigest(counter.summarize(), (address) => {
    calls.push(clearSource(address));
    return `h${address[3].toString(16).padStart(2, "0")}`;
  }, { top: 3 });
  assert.deepEqual(calls.sort(), ["10.1.0.2", "10.1.0.3", "10.1.0.4"]);
  assert.equal(
    formatDigest(digest),
    "h04:14 80:14\nh03:13 80:13\nh02:12 80:12\nother:1016 80:1016\n",
  );
  // Hashed ties at the cut are ordered by name: those tied are named, the first kept.
  const tied: string[] = [];
  const names = ["zz", "aa", "mm"];
  const summary = ConnectionSummary.fromCounts([1, 2, 3].map((i) => entry([10, 0, 0, i], 80, 1)));
  const cut = buildDigest(summary, (address) => {
    tied.push(clearSource(address));
    return names[address[3] - 1];
  }, { top: 1 });
  assert.equal(tied.length, 3);
  assert.equal(formatDigest(cut), "aa:1 80:1\nother:2 80:2\n");
});
