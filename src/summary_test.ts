import assert from "node:assert/strict";
import { prng } from "../scripts/gen_workload.ts";
import {
  checkBounds,
  ConnectionSummary,
  DEFAULT_MAX_PORTS,
  DEFAULT_MAX_SOURCES,
} from "./summary.ts";

/** An event: source number (even: IPv4, odd: IPv6) and port. */
type Event = [source: number, port: number];

function wordsOf(source: number): [4 | 6, Int32Array] {
  const words = new Int32Array(4);
  if (source % 2 === 0) {
    words[0] = 0x0a000000 + source;
    return [4, words];
  }
  words[0] = 0x20010db8;
  words[3] = source;
  return [6, words];
}

function keyOf(family: number, address: Uint8Array): string {
  return `${family}/${address.join(".")}`;
}

/**
 * Feeds `events` to a summary and checks Space-Saving's guarantees against exact counts:
 * every listed count a lower bound and within its error of the truth, every source above
 * N / maxSources listed, every sum exact; exact output while no bound is passed.
 */
function check(events: Event[], maxSources: number, maxPorts: number): ConnectionSummary {
  const summary = new ConnectionSummary({ maxSources, maxPorts });
  const truth = new Map<string, Map<number, number>>();
  const keys = new Map<number, string>();
  for (const [source, port] of events) {
    const [family, words] = wordsOf(source);
    summary.addWords(family, words, port);
    let key = keys.get(source);
    if (key === undefined) {
      const address = new Uint8Array(family === 4 ? 4 : 16);
      for (let i = 0; i < address.length; i++) address[i] = words[i >> 2] >>> (24 - 8 * (i & 3));
      key = keyOf(family, address);
      keys.set(source, key);
    }
    let ports = truth.get(key);
    if (!ports) truth.set(key, ports = new Map());
    ports.set(port, (ports.get(port) ?? 0) + 1);
  }
  const n = events.length;
  assert.equal(summary.total, n);
  const totalOf = (ports: Map<number, number>) => [...ports.values()].reduce((a, b) => a + b, 0);
  let credited = 0;
  const listed = new Set<string>();
  let passed = truth.size > maxSources;
  for (const source of summary.sources()) {
    const key = keyOf(source.family, source.address);
    listed.add(key);
    const ports = truth.get(key);
    assert.ok(ports, `${key} listed but never seen`);
    const total = totalOf(ports);
    assert.ok(
      source.connections >= 1 && source.connections <= total,
      `${key}: ${source.connections} > ${total}`,
    );
    assert.ok(total <= source.connections + source.error, `${key}: ${total} > upper bound`);
    credited += source.connections;
    let portSum = 0;
    const seenPorts = new Set<number>();
    for (const p of summary.portsOf(source.id)) {
      const t = ports.get(p.port) ?? 0;
      assert.ok(!seenPorts.has(p.port), `${key}: port ${p.port} twice`);
      seenPorts.add(p.port);
      assert.ok(
        p.connections >= 1 && p.connections <= t,
        `${key}:${p.port}: ${p.connections} > ${t}`,
      );
      assert.ok(t <= p.connections + p.error, `${key}:${p.port}: ${t} > upper bound`);
      portSum += p.connections;
    }
    assert.ok(seenPorts.size <= maxPorts);
    assert.equal(portSum + source.untracked, source.connections, `${key}: ports do not add up`);
    if (ports.size > maxPorts) passed = true;
    if (source.error === 0) {
      // Tracked since its first event: every port above its share is listed.
      for (const [port, t] of ports) {
        if (t > source.connections / maxPorts) {
          assert.ok(seenPorts.has(port), `${key}:${port} (${t}) missing`);
        }
      }
      if (ports.size <= maxPorts) {
        assert.equal(source.untracked, 0);
        for (const p of summary.portsOf(source.id)) assert.equal(p.connections, ports.get(p.port));
      }
    }
  }
  assert.equal(credited + summary.untracked, n, "sources do not add up");
  assert.ok(summary.size <= maxSources);
  const floor = summary.errorFloor;
  for (const [key, ports] of truth) {
    const total = totalOf(ports);
    if (total > n / maxSources) assert.ok(listed.has(key), `${key} (${total} > N/m) missing`);
    // The error floor: no source that is not tracked made more.
    if (!listed.has(key)) assert.ok(total <= floor, `${key} (${total}) above the floor ${floor}`);
  }
  if (summary.replacedSources === 0) assert.equal(floor, 0);
  // Exact per-port totals, whatever the bounds.
  const portTotals = new Map<number, number>();
  for (const ports of truth.values()) {
    for (const [port, t] of ports) portTotals.set(port, (portTotals.get(port) ?? 0) + t);
  }
  assert.deepEqual(
    [...summary.countedPorts()].sort((a, b) => a - b),
    [...portTotals.keys()].sort((a, b) => a - b),
  );
  for (const [port, t] of portTotals) assert.equal(summary.connectionsTo(port), t, `port ${port}`);
  if (!passed) {
    // No bound passed: exact.
    assert.equal(summary.exact, true);
    assert.equal(summary.untracked, 0);
    assert.deepEqual(summary.distinctSources(), { count: truth.size, exact: true });
    for (const source of summary.sources()) {
      assert.equal(source.error, 0);
      assert.equal(source.connections, totalOf(truth.get(keyOf(source.family, source.address))!));
    }
  } else {
    assert.equal(summary.exact, false);
  }
  return summary;
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random() % (i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

Deno.test("summary: within the bounds every count is exact", () => {
  const random = prng(1);
  const events: Event[] = [];
  for (let i = 0; i < 20_000; i++) events.push([random() % 500, 1 + (random() % 8)]);
  const summary = check(events, 500, 8);
  assert.equal(summary.replacedSources, 0);
  assert.equal(summary.replacedPorts, 0);
});

Deno.test("summary: many light sources and a few heavy ones, shuffled", () => {
  const random = prng(2);
  const events: Event[] = [];
  for (let h = 0; h < 10; h++) for (let i = 0; i < 2000; i++) events.push([h, 443]);
  for (let i = 0; i < 30_000; i++) events.push([100 + (random() % 20_000), 80 + (random() % 3)]);
  const summary = check(shuffle(events, random), 100, 4);
  assert.ok(summary.replacedSources > 0);
  assert.equal(summary.distinctSources().exact, false);
});

Deno.test("summary: sources in rising order, each heavier than the last", () => {
  const events: Event[] = [];
  for (let s = 0; s < 2000; s++) for (let i = 0; i <= s / 100; i++) events.push([s, 22]);
  check(events, 64, 2);
});

Deno.test("summary: the heavy sources arrive last", () => {
  const random = prng(3);
  const events: Event[] = [];
  for (let i = 0; i < 40_000; i++) events.push([1000 + i, 80]);
  for (let h = 0; h < 20; h++) for (let i = 0; i < 600; i++) events.push([h, 443 + (i % 3)]);
  const summary = check(events, 256, 2);
  const heavy = summary.sources().filter((s) => s.connections >= 600);
  assert.equal(heavy.length, 20, "the late heavy sources are all listed with their counts");
  void random;
});

Deno.test("summary: one source scans every port, a few ports more than once", () => {
  const events: Event[] = [];
  for (let port = 0; port < 65536; port++) events.push([7, port]);
  for (let i = 0; i < 5000; i++) events.push([7, [22, 80, 443][i % 3]]);
  const summary = check(events, 16, 64);
  const [source] = summary.sources();
  const top = summary.portsOf(source.id).filter((p) => p.connections > 1000).map((p) => p.port);
  assert.deepEqual(top.sort((a, b) => a - b), [22, 80, 443]);
  assert.ok(source.untracked > 60_000);
});

Deno.test("summary: a distributed scan, many sources on many ports", () => {
  const random = prng(4);
  const events: Event[] = [];
  for (let s = 0; s < 3000; s++) for (let i = 0; i < 20; i++) events.push([s, random() % 1024]);
  check(shuffle(events, random), 1000, 8);
});

Deno.test("summary: random streams of every shape, small bounds", () => {
  const random = prng(5);
  for (let round = 0; round < 30; round++) {
    const sources = 1 + (random() % 300);
    const ports = 1 + (random() % 40);
    const skew = random() % 3;
    const events: Event[] = [];
    const length = 1 + (random() % 5000);
    for (let i = 0; i < length; i++) {
      let s = random() % sources;
      if (skew === 1) s = Math.min(s, random() % sources);
      if (skew === 2) s = Math.floor(Math.sqrt(s * sources));
      events.push([s, random() % ports]);
    }
    check(events, 1 + (random() % 64), 1 + (random() % 16));
  }
});

Deno.test("summary: weighted adds keep the guarantees", () => {
  const summary = new ConnectionSummary({ maxSources: 2, maxPorts: 2 });
  const a = new Uint8Array(16);
  a[0] = 10;
  summary.add(4, a, 1, 5);
  a[3] = 1;
  summary.add(4, a, 1, 3);
  a[3] = 2;
  summary.add(4, a, 2, 4); // takes the place of the 3
  assert.equal(summary.total, 12);
  const sources = summary.sources().sort((x, y) => y.connections - x.connections);
  assert.deepEqual(sources.map((s) => [s.connections, s.error]), [[5, 0], [4, 3]]);
  assert.equal(summary.untracked, 3);
});

Deno.test("fromCounts keeps the most counted, exactly; clear() empties", () => {
  const entry = (last: number, port: number, count: number) => ({
    family: 4 as const,
    address: new Uint8Array([10, 0, 0, last]),
    port,
    count,
  });
  const summary = ConnectionSummary.fromCounts([
    entry(1, 80, 1),
    entry(2, 80, 7),
    entry(3, 80, 7),
    entry(2, 81, 1),
    entry(2, 82, 2),
  ], { maxSources: 2, maxPorts: 2 });
  assert.equal(summary.total, 18);
  assert.equal(summary.untracked, 1);
  const [first, second] = summary.sources();
  assert.deepEqual([first.address, first.connections, first.error, first.untracked], [
    new Uint8Array([10, 0, 0, 2]),
    10,
    0,
    1,
  ]);
  assert.deepEqual(summary.portsOf(first.id).map((p) => [p.port, p.connections, p.error]), [
    [80, 7, 0],
    [82, 2, 0],
  ]);
  assert.equal(second.connections, 7);
  assert.deepEqual(summary.distinctSources().exact, false);
  assert.equal(summary.exact, false);
  summary.clear();
  assert.equal(summary.total, 0);
  assert.deepEqual(summary.sources(), []);
  assert.deepEqual(summary.distinctSources(), { count: 0, exact: true });
  summary.add(4, new Uint8Array(16), 9);
  assert.equal(summary.sources()[0].connections, 1);
});

Deno.test("errorFloor and the exact port totals: fromCounts, Space-Saving after it, clear()", () => {
  const entry = (last: number, port: number, count: number) => ({
    family: 4 as const,
    address: new Uint8Array([10, 0, 0, last]),
    port,
    count,
  });
  const exact = ConnectionSummary.fromCounts([entry(1, 80, 3), entry(2, 81, 1)]);
  assert.equal(exact.errorFloor, 0);
  // Three sources into two: 10.0.0.1 (1 connection) dropped; the floor is its total, not the
  // smallest count tracked (5).
  const summary = ConnectionSummary.fromCounts([
    entry(1, 80, 1),
    entry(2, 80, 5),
    entry(3, 443, 7),
    entry(3, 22, 2),
  ], { maxSources: 2 });
  assert.equal(summary.errorFloor, 1);
  assert.deepEqual([...summary.countedPorts()].sort((a, b) => a - b), [22, 80, 443]);
  assert.deepEqual([22, 80, 443, 9].map((p) => summary.connectionsTo(p)), [2, 6, 7, 0]);
  // Space-Saving from there: a new source takes 10.0.0.2's place (count 5): the floor is then
  // the smallest count tracked.
  summary.add(4, new Uint8Array([10, 0, 0, 9, ...new Array(12).fill(0)]), 25);
  assert.equal(summary.errorFloor, 6);
  assert.equal(summary.connectionsTo(25), 1);
  // Reused by fromPairs (cleared): only the new pairs' ports.
  const again = ConnectionSummary.fromPairs((add) => add(4, 0x0a000001, 0, 0, 0, 8080, 2), {
    maxSources: 2,
  }, summary);
  assert.equal(again, summary);
  assert.deepEqual([...summary.countedPorts()], [8080]);
  assert.deepEqual([22, 80, 443, 25, 8080].map((p) => summary.connectionsTo(p)), [0, 0, 0, 0, 2]);
  assert.equal(summary.errorFloor, 0);
  summary.clear();
  assert.deepEqual([...summary.countedPorts()], []);
  assert.equal(summary.connectionsTo(8080), 0);
});

Deno.test("a flood of new sources in a full summary: a bounded table, distinct estimated", () => {
  const summary = new ConnectionSummary({ maxSources: 1024, maxPorts: 4 });
  const words = new Int32Array(4);
  const heavy = new Int32Array([0x0a0000ff | 0x7f000000, 0, 0, 0]);
  for (let i = 0; i < 200_000; i++) {
    words[0] = 0x0b000000 + i;
    summary.addWords(4, words, 80);
    if (i % 10 === 0) summary.addWords(4, heavy, 443);
  }
  assert.equal(summary.size, 1024);
  const top = summary.sources().sort((a, b) => b.connections - a.connections)[0];
  assert.equal(top.connections + top.error >= 20_000, true);
  assert.ok(top.connections >= 20_000 - 200_000 / 1024);
  const { count, exact } = summary.distinctSources();
  assert.equal(exact, false);
  assert.ok(Math.abs(count - 200_001) < 200_001 * 0.03, `${count}`);
});

Deno.test("bounds: defaults, ranges", () => {
  assert.deepEqual(checkBounds({}), {
    maxSources: DEFAULT_MAX_SOURCES,
    maxPorts: DEFAULT_MAX_PORTS,
  });
  assert.throws(() => checkBounds({ maxSources: 0 }), RangeError);
  assert.throws(() => checkBounds({ maxPorts: 65537 }), RangeError);
  assert.throws(() => checkBounds({ maxSources: 1 << 24, maxPorts: 16 }), RangeError);
  assert.throws(() => checkBounds({ maxSources: 1.5 }), RangeError);
});
