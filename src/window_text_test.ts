import assert from "node:assert/strict";
import { ConnectionCounter } from "./counter.ts";
import { clearSource } from "./digest.ts";
import { isoTime, windowHeader, windowText } from "./window_text.ts";
import { WindowRecorder } from "./windows.ts";

const T = Date.UTC(2026, 11, 1, 8) * 1000;

function report(live: boolean, dedupe: boolean, bounds = {}) {
  const windows = new WindowRecorder(60_000_000, clearSource);
  windows.begin(T);
  const counter = new ConnectionCounter(bounds);
  for (const [host, port] of [[1, 80], [1, 80], [2, 443], [1, 22]]) {
    counter.add(4, new Uint8Array([10, 0, 0, host, ...new Array(12).fill(0)]), port);
  }
  return windows.close(T + 60_000_000, counter, {
    packets: 5,
    malformed: 1,
    ...(live ? { capture: { received: 9, dropped: 1, ifDropped: 0 } } : {}),
    ...(dedupe ? { retransmissions: 3 } : {}),
  });
}

Deno.test("isoTime: ISO 8601 UTC to the millisecond", () => {
  assert.equal(isoTime(T), "2026-12-01T08:00:00.000Z");
  assert.equal(isoTime(T + 1_999), "2026-12-01T08:00:00.001Z", "truncated, not rounded");
});

Deno.test("windowHeader: times, counts, libpcap's counters live only, retransmissions with --dedupe", () => {
  assert.equal(
    windowHeader(report(true, false)),
    "# 2026-12-01T08:00:00.000Z 2026-12-01T08:01:00.000Z connections=4 sources=2 " +
      "received=9 dropped=1 ifdropped=0 malformed=1\n",
  );
  assert.equal(
    windowHeader(report(false, true)),
    "# 2026-12-01T08:00:00.000Z 2026-12-01T08:01:00.000Z connections=4 sources=2 malformed=1 " +
      "retransmissions=3\n",
  );
});

Deno.test("windowText: the header, then the digest as without windows", () => {
  const r = report(false, false);
  assert.equal(
    [...windowText(r, true)].join(""),
    windowHeader(r) + "10.0.0.1:3 80:2 22:1\n10.0.0.2:1 443:1\n",
  );
  assert.equal([...windowText(r, false)].join(""), "10.0.0.1:3 80:2 22:1\n10.0.0.2:1 443:1\n");
  // Beyond the bounds: '~' and 'other' as in any digest, the last line with its ports (22 and
  // 443, of which one fits in --max-ports 1).
  const bounded = [...windowText(report(false, false, { maxSources: 1, maxPorts: 1 }), true)];
  assert.match(bounded.join(""), /\n10\.0\.0\.1:3 80:2 other:1\nother:1 22:1 other:1\n$/);
});
