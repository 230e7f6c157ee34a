import assert from "node:assert/strict";
import { ConnectionCounter, type CounterEntry, EXACT_PAIRS } from "./counter.ts";

/** A 16-byte key buffer as the decoder fills it: IPv4 in bytes 0-3, the rest zero. */
function v4(a: number, b: number, c: number, d: number): Uint8Array {
  const out = new Uint8Array(16);
  out.set([a, b, c, d]);
  return out;
}

function v6(...bytes: number[]): Uint8Array {
  const out = new Uint8Array(16);
  out.set(bytes);
  return out;
}

function keyOf(e: { family: number; address: Uint8Array; port: number }): string {
  return `${e.family}/${e.address.join(".")}/${e.port}`;
}

function table(counter: ConnectionCounter): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of counter.entries()) {
    const key = keyOf(e);
    assert.ok(!out.has(key), `duplicate entry ${key}`);
    out.set(key, e.count);
  }
  return out;
}

Deno.test("a new counter is empty", () => {
  const counter = new ConnectionCounter();
  assert.equal(counter.total, 0);
  assert.equal(counter.size, 0);
  assert.deepEqual([...counter.entries()], []);
});

Deno.test("counts, total and size", () => {
  const counter = new ConnectionCounter();
  const a = v4(10, 0, 0, 1);
  counter.add(4, a, 443);
  counter.add(4, a, 443);
  counter.add(4, a, 443);
  counter.add(4, v4(10, 0, 0, 2), 443);
  assert.equal(counter.total, 4);
  assert.equal(counter.size, 2);
  const entries = [...counter.entries()].sort((x, y) => x.address[3] - y.address[3]);
  assert.deepEqual(entries, [
    { family: 4, address: new Uint8Array([10, 0, 0, 1]), port: 443, count: 3 },
    { family: 4, address: new Uint8Array([10, 0, 0, 2]), port: 443, count: 1 },
  ]);
});

Deno.test("entries copy the address: later adds do not change yielded entries", () => {
  const counter = new ConnectionCounter();
  const buffer = v4(192, 0, 2, 1);
  counter.add(4, buffer, 80);
  const [entry] = [...counter.entries()];
  buffer.set([198, 51, 100, 9]);
  counter.add(4, buffer, 80);
  assert.deepEqual([...entry.address], [192, 0, 2, 1]);
  assert.equal(entry.count, 1);
  assert.equal(table(counter).get("4/192.0.2.1/80"), 1);
  assert.equal(table(counter).get("4/198.51.100.9/80"), 1);
});

Deno.test("IPv4 and IPv6 with the same leading bytes are distinct", () => {
  const counter = new ConnectionCounter();
  // 10.0.0.1 and a00:1:: share their 16 key bytes; only the family tells them apart.
  counter.add(4, v4(10, 0, 0, 1), 22);
  counter.add(6, v6(10, 0, 0, 1), 22);
  counter.add(6, v6(10, 0, 0, 1), 22);
  // All-zero addresses, port 0: the smallest possible keys.
  counter.add(4, v4(0, 0, 0, 0), 0);
  counter.add(6, v6(), 0);
  assert.equal(counter.size, 4);
  assert.equal(counter.total, 5);
  const entries = [...counter.entries()];
  const v4Entry = entries.find((e) => e.family === 4 && e.port === 22);
  const v6Entry = entries.find((e) => e.family === 6 && e.port === 22);
  assert.deepEqual(v4Entry, {
    family: 4,
    address: new Uint8Array([10, 0, 0, 1]),
    port: 22,
    count: 1,
  });
  assert.deepEqual(v6Entry, { family: 6, address: v6(10, 0, 0, 1), port: 22, count: 2 });
  assert.equal(v6Entry!.address.length, 16);
  const zeros = entries.filter((e) => e.port === 0);
  assert.deepEqual(zeros.map((e) => [e.family, e.address.length, e.count]).sort(), [
    [4, 4, 1],
    [6, 16, 1],
  ]);
});

Deno.test("the same address to different ports makes one entry per port", () => {
  const counter = new ConnectionCounter();
  const a = v6(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
  for (const port of [0, 1, 80, 443, 65535]) counter.add(6, a, port);
  counter.add(6, a, 443);
  assert.equal(counter.size, 5);
  assert.equal(counter.total, 6);
  const t = table(counter);
  assert.equal(t.get(`6/${a.join(".")}/443`), 2);
  for (const port of [0, 1, 80, 65535]) assert.equal(t.get(`6/${a.join(".")}/${port}`), 1);
});

Deno.test("addresses differing only in their last byte or word are distinct", () => {
  const counter = new ConnectionCounter();
  for (let i = 0; i < 16; i++) {
    const a = v6();
    a[i] = 1;
    counter.add(6, a, 9);
  }
  counter.add(4, v4(0, 0, 0, 1), 9);
  counter.add(4, v4(1, 0, 0, 0), 9);
  assert.equal(counter.size, 18);
  for (const e of counter.entries()) assert.equal(e.count, 1);
});

/** The i-th of many distinct keys, a mix of IPv4 and IPv6. */
function manyKey(i: number): { family: 4 | 6; address: Uint8Array; port: number } {
  if (i % 3 === 0) {
    return { family: 4, address: v4(10, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff), port: 443 };
  }
  if (i % 3 === 1) {
    // Same address for groups of 7 keys, different ports.
    return {
      family: 6,
      address: v6(0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (i >> 16) & 0xff, (i >> 8) & 0xff, 0),
      port: i & 0xffff,
    };
  }
  return { family: 4, address: v4(172, 16, (i >> 8) & 0xff, i & 0xff), port: (i >> 16) + 1 };
}

Deno.test("growth past 50 000 distinct keys keeps every count", () => {
  const counter = new ConnectionCounter();
  const N = 50_000;
  const expected = new Map<string, number>();
  const bump = (i: number) => {
    const k = manyKey(i);
    counter.add(k.family, k.address, k.port);
    const key = keyOf({ ...k, address: k.family === 4 ? k.address.subarray(0, 4) : k.address });
    expected.set(key, (expected.get(key) ?? 0) + 1);
  };
  // Each key is added (i % 4) + 1 times in a row, so that the table grows (several times)
  // while holding counts above 1; then every 7th key once more, after the last growth.
  for (let i = 0; i < N; i++) for (let k = 0; k <= i % 4; k++) bump(i);
  for (let i = 0; i < N; i += 7) bump(i);
  assert.equal(expected.size, N);
  assert.equal(counter.size, N);
  const expectedTotal = [...expected.values()].reduce((a, b) => a + b, 0);
  assert.equal(counter.total, expectedTotal);
  const got = table(counter);
  assert.equal(got.size, N);
  for (const [key, count] of expected) assert.equal(got.get(key), count, key);
  for (let i = 0; i < N; i += 997) {
    const k = manyKey(i);
    const key = keyOf({ ...k, address: k.family === 4 ? k.address.subarray(0, 4) : k.address });
    assert.equal(got.get(key), (i % 4) + 1 + (i % 7 === 0 ? 1 : 0), key);
  }
});

Deno.test("clear() forgets everything, and counting starts again", () => {
  const counter = new ConnectionCounter();
  for (let i = 0; i < 5000; i++) counter.add(4, v4(10, 0, i >> 8, i & 0xff), 80);
  assert.equal(counter.size, 5000);
  counter.clear();
  assert.equal(counter.total, 0);
  assert.equal(counter.size, 0);
  assert.deepEqual([...counter.entries()], []);
  counter.add(4, v4(10, 0, 0, 1), 80);
  counter.add(4, v4(10, 0, 0, 1), 80);
  counter.add(6, v6(0xfe, 0x80), 80);
  assert.equal(counter.total, 3);
  assert.equal(counter.size, 2);
  const entries: CounterEntry[] = [...counter.entries()].sort((a, b) => a.family - b.family);
  assert.deepEqual(entries, [
    { family: 4, address: new Uint8Array([10, 0, 0, 1]), port: 80, count: 2 },
    { family: 6, address: v6(0xfe, 0x80), port: 80, count: 1 },
  ]);
  // Growth again after a clear.
  for (let i = 0; i < 3000; i++) counter.add(6, v6(0xfe, 0x80, i >> 8, i & 0xff), 1);
  assert.equal(counter.size, 3002);
  assert.equal(counter.total, 3003);
});

/** The summary's pairs as `family/address/port` → count, checking that all are exact. */
function summaryTable(counter: ConnectionCounter): Map<string, number> {
  const summary = counter.summarize();
  const out = new Map<string, number>();
  for (const source of summary.sources()) {
    assert.equal(source.error, 0);
    assert.equal(source.untracked, 0);
    for (const p of summary.portsOf(source.id)) {
      assert.equal(p.error, 0);
      out.set(
        keyOf({ family: source.family, address: source.address, port: p.port }),
        p.connections,
      );
    }
  }
  return out;
}

Deno.test(`past ${EXACT_PAIRS} pairs a summary counts; within its bounds, just as exactly`, () => {
  const counter = new ConnectionCounter();
  const expected = new Map<string, number>();
  const add = (source: number, port: number) => {
    const address = v4(10, 1, source >> 8, source & 0xff);
    counter.add(4, address, port);
    const key = keyOf({ family: 4, address: address.subarray(0, 4), port });
    expected.set(key, (expected.get(key) ?? 0) + 1);
  };
  // 4096 sources with 40 ports each: 163 840 pairs, inside the default bounds.
  for (let port = 1; port <= 40; port++) for (let s = 0; s < 4096; s++) add(s, port);
  assert.ok(expected.size > EXACT_PAIRS);
  assert.equal(counter.size, 0, "the exact table is gone");
  for (let s = 0; s < 4096; s += 3) add(s, 7);
  assert.equal(counter.total, [...expected.values()].reduce((a, b) => a + b, 0));
  const summary = counter.summarize();
  assert.equal(summary, counter.summarize(), "the counter's own summary");
  assert.equal(summary.exact, true);
  assert.deepEqual(summary.distinctSources(), { count: 4096, exact: true });
  assert.deepEqual(summaryTable(counter), expected);
  counter.clear();
  assert.equal(counter.total, 0);
  counter.add(4, v4(10, 0, 0, 1), 80);
  assert.equal(counter.size, 1, "exact again after a clear");
});

Deno.test("summarize() of an exact counter leaves it counting exactly", () => {
  const counter = new ConnectionCounter({ maxSources: 2, maxPorts: 1 });
  for (let s = 0; s < 5; s++) {
    for (let i = 0; i <= s; i++) counter.add(4, v4(10, 0, 0, s), 80 + (i & 1));
  }
  const summary = counter.summarize();
  assert.equal(summary.size, 2);
  assert.equal(summary.total, 15);
  assert.equal(counter.size, 9, "the exact table stays");
  const second = counter.summarize();
  assert.notEqual(second, summary);
  assert.deepEqual(second.sources().map((s) => s.connections).sort(), [4, 5]);
});

Deno.test("bounds out of range are refused", () => {
  assert.throws(() => new ConnectionCounter({ maxSources: 0 }), RangeError);
  assert.throws(() => new ConnectionCounter({ maxPorts: 70_000 }), RangeError);
});

Deno.test("distinctSources: exact over the exact table, the summary's estimate past it", () => {
  const counter = new ConnectionCounter();
  assert.deepEqual(counter.distinctSources(), { count: 0, exact: true });
  const a = new Uint8Array(16);
  for (let i = 0; i < 300; i++) {
    a[0] = 10;
    a[2] = i >> 8;
    a[3] = i & 0xff;
    counter.add(4, a, 80);
    counter.add(4, a, 443);
  }
  const v6 = new Uint8Array(16);
  v6[0] = 10; // the same bytes as 10.0.0.0, but IPv6: another source
  counter.add(6, v6, 80);
  assert.deepEqual(counter.distinctSources(), { count: 301, exact: true });
  assert.equal(counter.distinctSources().count, counter.summarize().distinctSources().count);
  // Past the exact table (65 536 pairs): the summary's count.
  for (let i = 0; i < 70_000; i++) {
    a[1] = 1 + (i >> 16);
    a[2] = (i >> 8) & 0xff;
    a[3] = i & 0xff;
    counter.add(4, a, 22);
  }
  const past = counter.distinctSources();
  assert.deepEqual(past, counter.summarize().distinctSources());
  assert.ok(Math.abs(past.count - 70_301) < 70_301 * 0.03, `${past.count}`);
});

Deno.test("clear: a counter reused after its summary took over counts as a new one", async () => {
  const { buildDigest, clearSource, formatDigest } = await import("./digest.ts");
  const bounds = { maxSources: 50, maxPorts: 4 };
  const stream = (seed: number) => {
    const events: [number, number][] = [];
    for (let i = 0; i < 110_000; i++) {
      const x = Math.imul(i + seed * 1_000_003, 2654435761) >>> 0;
      events.push([x % 3 === 0 ? x % 40 : x, 80 + (x % 6)]);
    }
    return events;
  };
  const feed = (counter: ConnectionCounter, events: [number, number][]) => {
    const a = new Uint8Array(16);
    for (const [host, port] of events) {
      new DataView(a.buffer).setUint32(0, host);
      counter.add(4, a, port);
    }
  };
  const reused = new ConnectionCounter(bounds);
  for (const seed of [1, 2, 3]) {
    // Past the exact table (a summary counts), then within it (a summary is built from it).
    for (const events of [stream(seed), stream(seed).slice(0, 300)]) {
      const fresh = new ConnectionCounter(bounds);
      feed(fresh, events);
      feed(reused, events);
      assert.equal(reused.size, events.length > 300 ? 0 : fresh.size, "the summary took over");
      assert.equal(
        formatDigest(buildDigest(reused.summarize(), clearSource)),
        formatDigest(buildDigest(fresh.summarize(), clearSource)),
      );
      // Estimates (each summary's HyperLogLog has a seed of its own) agree within their error.
      const [r, f] = [reused.distinctSources(), fresh.distinctSources()];
      assert.equal(r.exact, f.exact);
      assert.ok(Math.abs(r.count - f.count) <= f.count * 0.03, `${r.count} against ${f.count}`);
      assert.equal(reused.total, fresh.total);
      reused.clear();
      assert.equal(reused.total, 0);
      assert.deepEqual([...reused.entries()], []);
    }
  }
});

Deno.test("state and fromState: another thread's view gives the same digest, without a copy", async () => {
  const { buildDigest, clearSource, formatDigest } = await import("./digest.ts");
  const exact = new ConnectionCounter();
  const summarized = new ConnectionCounter({ maxSources: 64 });
  for (let i = 0; i < 200_000; i++) {
    const host = i % 1000 === 0 ? 1 : (i * 7919) % 70_000;
    const address = v4(10, host >> 16, (host >> 8) & 0xff, host & 0xff);
    if (i < 5000) exact.add(4, address, 80 + (i % 3));
    summarized.add(4, address, 443);
  }
  summarized.add(6, v6(0xfd, 0, 1), 22);
  for (const counter of [exact, summarized]) {
    const state = counter.state();
    assert.ok(state.keys.buffer instanceof SharedArrayBuffer, "the table is shared");
    // As a worker receives it: structured clone keeps shared buffers shared.
    const received = structuredClone(state);
    const view = ConnectionCounter.fromState(received);
    assert.equal(view.total, counter.total);
    assert.equal(
      formatDigest(buildDigest(view.summarize(), clearSource)),
      formatDigest(buildDigest(counter.summarize(), clearSource)),
    );
    // The same memory: a count made after the state was taken shows in the view's table.
    if (!state.summary) {
      received.keys[0] = 12345;
      assert.equal(state.keys[0], 12345);
    }
  }
  assert.ok(summarized.state().summary, "past its exact table, the summary's state is given");
});

Deno.test("fromState: the view makes its summary once, and reuses a spare summary", () => {
  const counter = new ConnectionCounter();
  counter.add(4, v4(10, 0, 0, 1), 80);
  const spare = new ConnectionCounter().summarize();
  const view = ConnectionCounter.fromState(structuredClone(counter.state()), spare);
  const first = view.summarize();
  assert.equal(first, spare, "the spare summary is filled");
  assert.equal(view.summarize(), first, "made once");
  assert.equal(first.total, 1);
});
