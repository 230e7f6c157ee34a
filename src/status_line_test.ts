import assert from "node:assert/strict";
import { duration, formatStatus, StatusLine } from "./status_line.ts";

Deno.test("duration: seconds, then minutes, then hours", () => {
  assert.equal(duration(12_345), "12.3s");
  assert.equal(duration(185_000), "3m05s");
  assert.equal(duration(3_725_000), "1h02m");
  assert.equal(duration(-5), "0.0s");
});

Deno.test("formatStatus: the figures, drops live only, the share read and time left of a file", () => {
  const exact = { count: 37, exact: true };
  assert.equal(
    formatStatus({ elapsedMs: 12_300, connections: 4512, dropped: 0 }, exact, 1200.4, 200),
    "pulso 12.3s · 4512 connections · 37 sources · 1200 SYN/s · 0 dropped",
  );
  assert.equal(
    formatStatus(
      { elapsedMs: 10_000, connections: 9, read: 0.25 },
      { count: 5, exact: false },
      0,
      200,
    ),
    "pulso 10.0s · 9 connections · ~5 sources · 0 SYN/s · 25% read · 30.0s left",
  );
  const narrow = formatStatus({ elapsedMs: 0, connections: 1 }, exact, 0, 20);
  assert.equal(narrow.length, 20);
  assert.ok(narrow.endsWith("…"));
});

Deno.test("StatusLine: draws in place, clears before other output, and stops on close", () => {
  const written: string[] = [];
  let connections = 0;
  let counted = 0;
  const line = new StatusLine(
    { write: (t) => written.push(t), columns: () => 0 },
    () => ({ elapsedMs: 1000, connections: connections += 10 }),
    () => ({ count: ++counted, exact: true }),
    60_000,
  );
  line.clear();
  assert.equal(written.length, 0, "nothing to clear before the first draw");
  line.refresh();
  line.refresh();
  assert.equal(written.length, 2);
  assert.ok(written.every((t) => t.startsWith("\r\x1b[2Kpulso ")));
  assert.equal(counted, 1, "sources are counted at most once a second");
  line.clear();
  assert.equal(written.at(-1), "\r\x1b[2K");
  line.clear();
  assert.equal(written.length, 3, "cleared once");
  line.close();
  line.close();
  line.refresh();
  assert.equal(written.length, 3, "nothing after close");
});
