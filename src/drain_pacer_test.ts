import assert from "node:assert/strict";
import { DrainPacer, PACER, POLL } from "./drain_pacer.ts";

const RING = 8 * 1024 * 1024;
/** A SYN on lo: 54 captured bytes, stored twice with the frame overhead. */
const SYN_BYTES = 54;
const IN_RING = PACER.copies * (SYN_BYTES + PACER.overhead);

Deno.test("DrainPacer: the shortest wait after poll(2), then within its bounds, then poll(2) when idle", () => {
  const pacer = new DrainPacer(RING);
  assert.equal(pacer.next(0, 0, 0), POLL, "idle: poll(2)");
  assert.equal(pacer.next(100, 500, 500 * SYN_BYTES), PACER.minMs, "no rate is known after poll");
  // 1000 SYN/s: 8192 packets would take 8 s; the longest wait is 100 ms.
  assert.equal(pacer.next(105, 5, 5 * SYN_BYTES), PACER.maxMs);
  // Three waits in all without a packet: back to poll(2).
  assert.equal(pacer.next(205, 0, 0), PACER.maxMs);
  assert.equal(pacer.next(305, 0, 0), PACER.maxMs);
  assert.equal(pacer.next(405, 0, 0), POLL);
  assert.equal(pacer.next(905, 0, 0), POLL);
});

Deno.test("DrainPacer: a wait never lets a quarter of the buffer fill at the highest recent rate", () => {
  const pacer = new DrainPacer(RING);
  pacer.next(0, 0, 0);
  let now = 0;
  let wait = pacer.next(now, 1, SYN_BYTES);
  // A million SYN/s for 1 s, then 10 000 SYN/s: the peak keeps the waits short, fading by half
  // every 10 s, while 10 000 SYN/s alone would allow the longest wait.
  const waits: number[] = [];
  for (const [rate, ms] of [[1_000_000, 1000], [10_000, 30_000]] as const) {
    for (let t = 0; t < ms; t += wait) {
      const packets = Math.round(rate * wait / 1000);
      now += wait;
      wait = pacer.next(now, packets, packets * SYN_BYTES);
      assert.notEqual(wait, POLL);
      assert.ok(wait >= PACER.minMs && wait <= PACER.maxMs, `${wait} ms`);
      assert.ok(
        wait === PACER.minMs || wait * pacer.peak(now) <= RING * PACER.ringShare,
        `${wait} ms at ${pacer.peak(now)} bytes/ms`,
      );
      waits.push(wait);
    }
  }
  const budgetMs = (RING * PACER.ringShare) / (1_000_000 * IN_RING / 1000);
  assert.equal(waits[5], Math.floor(budgetMs), "under the flood, as long as the budget allows");
  assert.ok(waits.at(-1)! < PACER.maxMs, "30 s later the peak still bounds the wait");
  assert.ok(waits.at(-1)! > waits[5] * 4, "but less and less");
});

/**
 * Runs a rate profile (SYN/s as a function of ms) against a simulated kernel buffer drained
 * entirely at each wake-up (a drain takes `drainNsPerSyn` ns per SYN): the most the buffer
 * held, in bytes.
 */
function simulate(rate: (ms: number) => number, ms: number, drainNsPerSyn = 150): number {
  const pacer = new DrainPacer(RING);
  let held = 0;
  let most = 0;
  let now = 0;
  let next = pacer.next(0, 0, 0);
  let pending = 0; // SYNs in the buffer
  while (now < ms) {
    // Wait: poll(2) returns at once when a block is ready (10 ms block timeout) or after 500 ms.
    const step = next === POLL ? 1 : next;
    let waited = 0;
    while (waited < step) {
      pending += rate(now + waited) / 1000;
      waited++;
      held = pending * IN_RING;
      most = Math.max(most, held);
      if (next === POLL && pending >= 1 && waited >= 10) break;
      if (next === POLL && pending < 1 && waited >= step) break;
    }
    now += waited;
    if (next === POLL && pending < 1) {
      next = pacer.next(now, 0, 0);
      continue;
    }
    const got = Math.floor(pending);
    const drainMs = got * drainNsPerSyn / 1e6;
    pending -= got;
    now += drainMs;
    pending += rate(now) * drainMs / 1000;
    next = pacer.next(now, got, got * SYN_BYTES);
  }
  return most;
}

Deno.test("DrainPacer: the buffer never overflows at the onset, in on/off pulses or a steep ramp", () => {
  const profiles: [string, (ms: number) => number][] = [
    ["onset of 1.1M SYN/s while idle", (t) => (t < 2000 ? 0 : 1_100_000)],
    ["200 ms on, 200 ms off at 1.1M SYN/s", (t) => (Math.floor(t / 200) % 2 === 0 ? 1_100_000 : 0)],
    [
      "a ramp doubling every 100 ms to 1.1M SYN/s",
      (t) => Math.min(1_100_000, 1000 * 2 ** (t / 100)),
    ],
    ["bursts of 10 ms at 1.1M SYN/s over 50k SYN/s", (t) => (t % 500 < 10 ? 1_100_000 : 50_000)],
    ["a steady 50k SYN/s", () => 50_000],
  ];
  for (const [name, rate] of profiles) {
    const most = simulate(rate, 5000);
    assert.ok(most < RING, `${name}: ${Math.round(most / RING * 100)}% of the buffer`);
  }
});
