import assert from "node:assert/strict";
import { Collector } from "./collector.ts";
import { ConnectionCounter } from "./counter.ts";
import { clearSource } from "./digest.ts";
import { WindowRecorder } from "./windows.ts";

function windowOf(hosts: number[]) {
  const windows = new WindowRecorder(1_000_000, clearSource);
  windows.begin(5_000_000);
  const counter = new ConnectionCounter();
  for (const host of hosts) counter.add(4, new Uint8Array([10, 0, 0, host, ...Array(12)]), 80);
  return windows.close(6_000_000, counter, { packets: hosts.length, malformed: 0 });
}

Deno.test("Collector: writes each window in its format; stops at the first failed write", () => {
  const written: string[] = [];
  const text = new Collector({ format: "text", windowed: true, write: (t) => !!written.push(t) });
  assert.ok(text.publish(windowOf([1, 1, 2])));
  assert.equal(
    written.join(""),
    "# 1970-01-01T00:00:05.000Z 1970-01-01T00:00:06.000Z connections=3 sources=2 malformed=0\n" +
      "10.0.0.1:2 80:2\n10.0.0.2:1 80:1\n",
  );
  written.length = 0;
  const plain = new Collector({ format: "text", windowed: false, write: (t) => !!written.push(t) });
  plain.publish(windowOf([1]));
  assert.equal(written.join(""), "10.0.0.1:1 80:1\n", "no header without --interval");
  written.length = 0;
  const json = new Collector({ format: "json", windowed: false, write: (t) => !!written.push(t) });
  json.publish(windowOf([1]));
  assert.equal(JSON.parse(written.join("")).connections, 1);
  const full = new Collector({ format: "text", windowed: true, write: () => false });
  assert.equal(full.publish(windowOf([1])), false);
});

Deno.test("Collector.snapshot: running totals, then the last window's top sources and distinct count", () => {
  const collector = new Collector({
    format: "text",
    windowed: true,
    write: () => true,
    topSources: 2,
  });
  const ports = new Float64Array(65536);
  let asked = 0;
  const live = {
    connections: 7,
    malformed: 1,
    distinctSources: () => (asked++, { count: 4, exact: true }),
  };
  const before = collector.snapshot(live, ports);
  assert.deepEqual(
    [before.connections, before.distinctSources, before.lastWindow, before.capture, asked],
    [7, 4, undefined, undefined, 1],
  );
  collector.publish(windowOf([3, 1, 1, 2, 2, 2]));
  const after = collector.snapshot(
    { ...live, capture: { received: 9, dropped: 0, ifDropped: 0 } },
    ports,
  );
  assert.equal(asked, 1, "once a window is complete, its count is shown");
  assert.equal(after.distinctSources, 3);
  assert.deepEqual(after.lastWindow, {
    end: 6000,
    connections: 6,
    topSources: [{ source: "10.0.0.2", connections: 3 }, { source: "10.0.0.1", connections: 2 }],
  });
  assert.deepEqual(after.capture, { received: 9, dropped: 0, ifDropped: 0 });
});
