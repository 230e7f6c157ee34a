import assert from "node:assert/strict";
import { ConnectionCounter } from "./counter.ts";
import { clearSource } from "./digest.ts";
import { nextEdge, WindowRecorder } from "./windows.ts";

const address = (host: number) => new Uint8Array([10, 0, 0, host, ...new Array(12).fill(0)]);

Deno.test("nextEdge: the next multiple of the interval in Unix time", () => {
  assert.equal(nextEdge(90_500_000, 60_000_000), 120_000_000);
  assert.equal(nextEdge(120_000_000, 60_000_000), 180_000_000, "a time on an edge starts there");
  assert.equal(nextEdge(119_999_999, 60_000_000), 120_000_000);
  // Exact in microseconds where seconds in binary are not (0.1 s).
  assert.equal(nextEdge(1_764_576_000_300_000, 100_000), 1_764_576_000_400_000);
  assert.equal(nextEdge(0, 1), 1);
});

Deno.test("WindowRecorder: spans tile the capture, and each report holds its window's share", () => {
  const windows = new WindowRecorder(1_000_000, clearSource);
  assert.equal(windows.begin(10_250_000), 11_000_000);
  assert.equal(windows.start, 10_250_000);
  const first = new ConnectionCounter();
  first.add(4, address(1), 80);
  first.add(4, address(1), 80);
  const a = windows.close(11_000_000, first, {
    packets: 3,
    malformed: 1,
    capture: { received: 10, dropped: 0, ifDropped: 0 },
    retransmissions: 0,
  });
  assert.deepEqual(
    { ...a, digest: undefined },
    {
      start: 10_250_000,
      end: 11_000_000,
      connections: 2,
      digest: undefined,
      packets: 3,
      malformed: 1,
      capture: { received: 10, dropped: 0, ifDropped: 0 },
      retransmissions: 0,
      replacedSources: 0,
      replacedPorts: 0,
      final: false,
    },
  );
  assert.deepEqual([...a.digest.lines()].map((l) => l.source), ["10.0.0.1"]);
  assert.equal(windows.edge, 12_000_000);
  // An empty window, then the last one, partial: deltas of the totals.
  const b = windows.close(12_000_000, new ConnectionCounter(), {
    packets: 3,
    malformed: 1,
    capture: { received: 12, dropped: 5, ifDropped: 1 },
    retransmissions: 2,
  });
  assert.equal(b.start, 11_000_000);
  assert.equal(b.connections, 0);
  assert.deepEqual([b.packets, b.malformed, b.retransmissions], [0, 0, 2]);
  assert.deepEqual(b.capture, { received: 2, dropped: 5, ifDropped: 1 });
  const last = new ConnectionCounter();
  last.add(4, address(2), 443);
  const c = windows.close(12_400_000, last, { packets: 4, malformed: 1 }, true);
  assert.deepEqual([c.start, c.end, c.connections, c.packets, c.final], [
    12_000_000,
    12_400_000,
    1,
    1,
    true,
  ]);
  assert.equal(c.capture, undefined);
});

Deno.test("WindowRecorder: one window without an interval; an end before the start is the start", () => {
  const whole = new WindowRecorder(undefined, clearSource);
  assert.equal(whole.begin(5), Infinity);
  const report = whole.close(3, new ConnectionCounter(), { packets: 0, malformed: 0 }, true);
  assert.deepEqual([report.start, report.end], [5, 5]);
  const none = new WindowRecorder(undefined, clearSource);
  const empty = none.close(undefined, new ConnectionCounter(), { packets: 0, malformed: 0 });
  assert.deepEqual([empty.start, empty.end], [undefined, undefined]);
  assert.throws(() => new WindowRecorder(0.5, clearSource), RangeError);
  assert.throws(() => new WindowRecorder(0, clearSource), RangeError);
});
