/**
 * The benchmark's own logic: parsing each tool's output, the pair-by-pair agreement check, and
 * the targets and live medians written to BENCHMARKS.md.
 */
import assert from "node:assert/strict";
import type { LiveResult, OfflineResult } from "./bench_run.ts";
import type { MemoryResult } from "./bench_memory.ts";
import { differences, parseDigest, parseTriples } from "./bench_run.ts";
import { liveScenarios, liveSummary, type Report, targets } from "./bench_report.ts";

Deno.test("bench: every tool's output becomes the same (source port) -> count table", () => {
  const digest = parseDigest("10.0.0.1:3 80:2 443:1\n[2001:db8::1]:1 22:1\n");
  assert.deepEqual([...digest], [["10.0.0.1 80", 2], ["10.0.0.1 443", 1], ["2001:db8::1 22", 1]]);
  assert.throws(() => parseDigest("10.0.0.1:4 80:2 443:1\n"), /add up to 3/);
  const triples = parseTriples("10.0.0.1 80 2\n10.0.0.1 443 1\n2001:db8::1 22 1\n", false);
  assert.deepEqual(triples, digest);
  // uniq -c puts the count first; a source seen on two lines adds up.
  const uniq = parseTriples(
    "   1 10.0.0.1 80\n   1 10.0.0.1 80\n 1 10.0.0.1 443\n1 2001:db8::1 22\n",
    true,
  );
  assert.deepEqual(uniq, digest);
});

Deno.test("bench: the agreement check reports changed, missing and extra pairs", () => {
  const expected = new Map([["10.0.0.1 80", 2], ["10.0.0.2 80", 1]]);
  assert.deepEqual(differences(expected, new Map(expected)), []);
  const actual = new Map([["10.0.0.1 80", 3], ["10.0.0.3 22", 1]]);
  assert.deepEqual(differences(expected, actual), [
    "10.0.0.1 80: 2 vs 3",
    "10.0.0.2 80: 1 vs none",
    "10.0.0.3 22: none vs 1",
  ]);
  assert.equal(differences(expected, new Map(), 1).length, 1);
});

function offline(label: string, median: number): OfflineResult {
  return {
    name: label,
    label,
    runs: 1,
    walls: [median],
    median,
    min: median,
    max: median,
    cpu: median,
    maxRssKiB: 1024,
    framesPerSecond: 1,
    events: 1,
    agrees: true,
    disagreement: [],
  };
}

function live(
  name: string,
  round: number,
  cpu: number,
  sent: number,
  counted = sent,
  scenario = "200k, onset while idle",
): LiveResult {
  return {
    name,
    scenario,
    round,
    sent,
    counted,
    received: counted,
    dropped: 0,
    ifDropped: 0,
    cpu,
    cpuPerSyn: cpu / counted,
    floodCpu: cpu - 0.1,
    floodCpuPerSyn: (cpu - 0.1) / counted,
    maxRssKiB: 1024 * (round + 1),
    floodRate: sent / 10,
    lost: sent - counted,
  };
}

function report(pulso: number, c: number, tcpdumpAwk: number, runs: LiveResult[]): Report {
  return {
    date: "2026-11-30T00:00:00.000Z",
    tiny: false,
    frames: 1,
    fileBytes: 1,
    sources: 1,
    ports: [80],
    runs: 1,
    floodSeconds: 10,
    rounds: 3,
    floodPort: 9999,
    machine: {},
    filter: "",
    pairs: 1,
    offline: [offline("pulso", pulso), offline("C loop", c), offline("tcpdump|awk", tcpdumpAwk)],
    live: runs,
    command: "scripts/bench",
  };
}

Deno.test("bench: live medians over the rounds, and whether every SYN was counted", () => {
  const runs = [
    live("pulso", 0, 0.5, 100),
    live("pulso", 1, 0.3, 100),
    live("pulso", 2, 0.4, 100),
    live("tcpdump", 0, 0.2, 100),
    live("pulso", 0, 0.9, 100, 90, "max"),
  ];
  const p = liveSummary(runs, "pulso", "200k, onset while idle");
  assert.equal(p.runs.length, 3);
  assert.equal(p.cpu, 0.4);
  assert.ok(Math.abs(p.floodCpu - 0.3) < 1e-9);
  assert.equal(p.maxRssKiB, 3 * 1024);
  assert.equal(p.complete, true);
  const all = liveSummary(runs, "pulso");
  assert.equal(all.runs.length, 4);
  assert.equal(all.lost, 10);
  assert.equal(all.complete, false);
  assert.deepEqual(liveScenarios(runs), ["200k, onset while idle", "max"]);
});

Deno.test("bench: the targets are met or missed on their thresholds", () => {
  const good = [live("pulso", 0, 0.28, 100), live("tcpdump", 0, 0.2, 100)];
  const met = targets(report(1.0, 0.55, 12, good));
  assert.deepEqual(met.map((t) => t.met), [true, true, true, true]);
  assert.equal(met[0].value, "1.82×");
  // pulso loses SYNs where tcpdump lost none; where tcpdump lost some too, it is not judged.
  const missed = targets(
    report(1.2, 0.55, 13, [
      live("pulso", 0, 0.5, 100, 99),
      live("tcpdump", 0, 0.2, 100),
      live("pulso", 0, 0.5, 100, 50, "max"),
      live("tcpdump", 0, 0.5, 100, 60, "max"),
    ]),
  );
  assert.deepEqual(missed.map((t) => t.met), [false, true, false, false]);
  assert.match(missed[2].value, /^0 of 1 floods; 1 lost in: 200k, onset while idle$/);
  assert.equal(missed[3].value, "1.20× to 4.04×");
  // Without a live run, only the offline targets are judged.
  assert.equal(targets({ ...report(1, 1, 10, []), live: "skipped (--no-live)" }).length, 2);
});

function memoryRun(name: string, maxRssKiB: number, stopToDigest?: number): MemoryResult {
  return {
    name,
    file: `${name}.pcap`,
    syns: 1,
    sources: 1,
    wall: 1,
    maxRssKiB,
    lines: 1,
    approximate: false,
    distinct: "1",
    ...(stopToDigest === undefined ? {} : { stopToDigest }),
  };
}

Deno.test("bench: the memory targets: 150 MB, 2× the 1000-source run, digest within 1 s", () => {
  const base = { ...report(1, 1, 10, []), live: "skipped (--no-live)" };
  const judged = (flood: number, fill: number, few: number, digest: number) =>
    targets({
      ...base,
      memory: [
        memoryRun("flood", flood, 0.3),
        memoryRun("fill", fill, digest),
        memoryRun("few", few),
      ],
    }).slice(2).map((t) => t.met);
  assert.deepEqual(judged(100_000, 130_000, 70_000, 0.4), [true, true, true]);
  assert.deepEqual(judged(100_000, 150_000, 70_000, 0.4), [false, false, true]);
  assert.deepEqual(judged(100_000, 140_000, 69_000, 1.2), [true, false, false]);
  assert.equal(targets({ ...base, memory: "skipped (--no-memory)" }).length, 2);
});
