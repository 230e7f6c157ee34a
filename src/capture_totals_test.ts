import assert from "node:assert/strict";
import { CaptureTotals } from "./capture_totals.ts";

const MAX = 2 ** 32 - 1;

Deno.test("CaptureTotals: zero before any sample, the first sample as it is", () => {
  const totals = new CaptureTotals();
  assert.equal(totals.sampled, false);
  assert.deepEqual(totals.snapshot(), { received: 0, dropped: 0, ifDropped: 0 });
  totals.update({ received: 100, dropped: 2, ifDropped: 1 });
  assert.equal(totals.sampled, true);
  assert.deepEqual(totals.snapshot(), { received: 100, dropped: 2, ifDropped: 1 });
  assert.equal(totals.received, 100);
  assert.equal(totals.dropped, 2);
  assert.equal(totals.ifDropped, 1);
});

Deno.test("CaptureTotals: deltas accumulate; an unchanged sample adds nothing", () => {
  const totals = new CaptureTotals();
  totals.update({ received: 10, dropped: 0, ifDropped: 0 });
  totals.update({ received: 25, dropped: 3, ifDropped: 1 });
  totals.update({ received: 25, dropped: 3, ifDropped: 1 });
  totals.update({ received: 40, dropped: 5, ifDropped: 1 });
  assert.deepEqual(totals.snapshot(), { received: 40, dropped: 5, ifDropped: 1 });
});

Deno.test("CaptureTotals: a wrap between two samples is counted right, in each counter", () => {
  const totals = new CaptureTotals();
  totals.update({ received: MAX - 5, dropped: MAX, ifDropped: 7 });
  // received: 6 to reach 0, then 4; dropped: 1 to reach 0; ifDropped: from 7 round to 3.
  totals.update({ received: 4, dropped: 0, ifDropped: 3 });
  assert.deepEqual(totals.snapshot(), {
    received: MAX - 5 + 10,
    dropped: MAX + 1,
    ifDropped: 7 + (2 ** 32 - 4),
  });
  // A second wrap keeps adding: totals go past 2^33 exactly.
  totals.update({ received: MAX, dropped: 0, ifDropped: 3 });
  totals.update({ received: 0, dropped: 0, ifDropped: 3 });
  assert.equal(totals.received, 2 * 2 ** 32);
});

Deno.test("CaptureTotals: monotonic over many wraps (64-bit-safe totals)", () => {
  const totals = new CaptureTotals();
  let raw = 0;
  let expected = 0;
  totals.update({ received: raw, dropped: 0, ifDropped: 0 });
  const step = 3_000_000_007; // under 2^32, so every second step wraps
  for (let i = 0; i < 1000; i++) {
    const before = totals.received;
    raw = (raw + step) % 2 ** 32;
    expected += step;
    totals.update({ received: raw, dropped: 0, ifDropped: 0 });
    assert.ok(totals.received > before);
  }
  assert.equal(totals.received, expected);
  assert.ok(Number.isSafeInteger(totals.received));
});

Deno.test("CaptureTotals: counters that are not unsigned 32-bit are refused, state kept", () => {
  const totals = new CaptureTotals();
  totals.update({ received: 5, dropped: 0, ifDropped: 0 });
  for (const bad of [-1, 2 ** 32, 1.5, NaN, Infinity]) {
    assert.throws(
      () => totals.update({ received: 6, dropped: 0, ifDropped: bad }),
      (e: unknown) =>
        e instanceof RangeError && /^Invalid libpcap counter ifDropped '/.test(e.message),
    );
  }
  assert.deepEqual(totals.snapshot(), { received: 5, dropped: 0, ifDropped: 0 });
});
