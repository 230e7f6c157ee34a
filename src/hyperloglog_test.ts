import assert from "node:assert/strict";
import { HyperLogLog } from "./hyperloglog.ts";

Deno.test("HyperLogLog: an empty sketch estimates zero, one address one", () => {
  const hll = new HyperLogLog();
  assert.equal(hll.estimate(), 0);
  hll.add(4, 0x0a000001, 0, 0, 0);
  hll.add(4, 0x0a000001, 0, 0, 0);
  assert.equal(hll.estimate(), 1);
  hll.clear();
  assert.equal(hll.estimate(), 0);
});

Deno.test("HyperLogLog: within 3 standard errors from 10^3 to 10^7 distinct addresses", () => {
  // Each size is checked on IPv4 addresses in rising order, and on IPv6 addresses that differ
  // in one word only: the patterns of a sweep and of a spoofed flood. Fixed seeds keep the
  // test deterministic.
  const hll4 = new HyperLogLog(14, 1);
  const hll6 = new HyperLogLog(14, 2);
  const bound = 3 * hll4.standardError;
  let added = 0;
  for (const target of [1e3, 3e3, 1e4, 3e4, 1e5, 3e5, 1e6, 3e6, 1e7]) {
    for (; added < target; added++) {
      hll4.add(4, 0x0a000000 + added, 0, 0, 0);
      hll6.add(6, 0x20010db8 | 0, 0, added, 1);
    }
    for (const [name, hll] of [["IPv4", hll4], ["IPv6", hll6]] as const) {
      const error = Math.abs(hll.estimate() - target) / target;
      assert(error < bound, `${name} ${target}: relative error ${error} >= ${bound}`);
    }
  }
});

Deno.test("HyperLogLog: the same address added again changes nothing", () => {
  const hll = new HyperLogLog();
  for (let i = 0; i < 50_000; i++) hll.add(6, i, i, i, i);
  const once = hll.estimate();
  for (let i = 0; i < 50_000; i++) hll.add(6, i, i, i, i);
  assert.equal(hll.estimate(), once);
});

Deno.test("HyperLogLog: IPv4 and IPv6 addresses with equal words are distinct", () => {
  const hll = new HyperLogLog();
  for (let i = 0; i < 10_000; i++) {
    hll.add(4, i, 0, 0, 0);
    hll.add(6, i, 0, 0, 0);
  }
  const error = Math.abs(hll.estimate() - 20_000) / 20_000;
  assert(error < 3 * hll.standardError, `relative error ${error}`);
});

Deno.test("HyperLogLog: precision outside 4..18 is refused", () => {
  assert.throws(() => new HyperLogLog(3), RangeError);
  assert.throws(() => new HyperLogLog(19), RangeError);
  assert.equal(new HyperLogLog(4).standardError, 0.26);
});
