/**
 * The benchmark's own logic: parsing each tool's output, the pair-by-pair agreement check, and
 * the targets and live medians written to BENCHMARKS.md.
 */
import assert from "node:assert/strict";
import type { LiveResult, OfflineResult } from "./bench_run.ts";
import type { MemoryResult } from "./bench_memory.ts";
import {
  differences,
  floodArgs,
  heavyInDigest,
  heavySources,
  parseConnections,
  parseDigest,
  parseLongestGap,
  parseTriples,
  scenarios,
} from "./bench_run.ts";
import {
  flatness,
  gap,
  keepSection,
  liveScenarios,
  liveSummary,
  liveTable,
  notes,
  type Report,
  SOAK_HEADING,
  type SoakResult,
  soakSection,
  spliceSection,
  targets,
} from "./bench_report.ts";

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

Deno.test("bench: the longest gap between drains, with or without decimals, or none", () => {
  const log = "pulso: [info] 5 connections (stopped)\n" +
    "pulso: [debug] Longest gap between drains: 12.75 ms\n";
  assert.equal(parseLongestGap(log), 12.75);
  assert.equal(
    parseLongestGap("[debug] Longest gap between drains: 40.00 ms under load (8192 packets)"),
    40,
  );
  assert.equal(parseLongestGap("pulso: [info] 5 connections (stopped)\n"), undefined);
  assert.equal(parseConnections(log), 5);
  assert.equal(parseConnections("7 packets decoded, 0 malformed, 3 connections (time-limit)"), 3);
  assert.equal(parseConnections("nothing"), undefined);
  assert.equal(gap(undefined), "n/a");
  assert.equal(gap(4.25), "4.3 ms");
  assert.equal(gap(104.6), "105 ms");
});

Deno.test("bench: the sweep keeps its 7 floods, adds the spoofed ones; --tiny stays short", () => {
  const full = scenarios(false);
  assert.equal(full.length, 13);
  assert.deepEqual(full.slice(0, 7).map((s) => s.sources), Array(7).fill(4096));
  const spoofed = full.filter((s) => s.spoofed);
  assert.deepEqual(spoofed.map((s) => [s.rate, !!s.collector, s.onset]), [
    [200_000, false, "idle"],
    [400_000, false, "idle"],
    [0, false, "idle"],
    [200_000, true, "idle"],
    [0, true, "idle"],
    [0, false, "running"],
  ]);
  assert.ok(spoofed.every((s) => s.sources === 1_000_000 && s.spoofed!.mix < 1));
  const tiny = scenarios(true);
  assert.equal(tiny.length, 3);
  assert.ok(tiny.some((s) => s.spoofed && s.sources >= 100_000 && !s.collector));
  assert.ok(tiny.some((s) => s.collector));
  // The generator's command line: options first, the positional arguments as before.
  assert.deepEqual(floodArgs(full[6], 10), ["lo", "0", "10", "4096", "9999", "200", "200"]);
  assert.deepEqual(floodArgs(spoofed[0], 10), [
    ...["--sources", "1000000", "--mix", "0.5", "--heavy", "4", "--heavy-share", "0.01"],
    ...["lo", "200000", "10", "4096", "9999"],
  ]);
});

Deno.test("bench: the heavy sources are found in a digest, approximate counts taken as given", () => {
  const heavy = heavySources(scenarios(false)[7]);
  assert.deepEqual(heavy, ["127.0.100.1", "fd70:756c:0:1::2", "127.0.100.3", "fd70:756c:0:1::4"]);
  const digest = "127.0.100.1:100 9999:100\n[fd70:756c:0:1::2]:~98 9999:~98\n" +
    "127.1.0.9:1 9999:1\nother:5 9999:5\n";
  assert.deepEqual(heavyInDigest(digest, heavy), { found: 2, syns: 198 });
  assert.deepEqual(heavySources(scenarios(false)[0]), []);
});

function spoofedRun(name: string, gapMs?: number): LiveResult {
  return {
    ...live(name, 0, 1.1, 1000, 990, "1M spoofed, max"),
    sources: 1_000_000,
    heavy: 4,
    mode: "collector",
    ...(gapMs === undefined ? {} : { longestGapMs: gapMs }),
  };
}

Deno.test("bench: the live table: sources, mode, pulso / tcpdump, peak RSS, gap or n/a", () => {
  const runs = [
    live("pulso", 0, 0.5, 100),
    live("tcpdump", 0, 0.2, 100),
    spoofedRun("pulso", 31.5),
    spoofedRun("pulso", 12),
    spoofedRun("tcpdump"),
  ];
  const table = liveTable(runs);
  assert.equal(table.length, 4);
  assert.match(
    table[0],
    /^\| Flood \| Sources \| Mode \| SYN\/s \| SYNs sent \| Counted \| Lost \|/,
  );
  assert.match(table[0], /pulso peak RSS \| pulso longest gap \|$/);
  assert.match(
    table[2],
    /^\| 200k, onset while idle \| 4,096 \| one digest \| 10 \| 100 \/ 100 \|/,
  );
  assert.match(table[2], /\| n\/a \|$/);
  assert.match(
    table[3],
    /^\| 1M spoofed, max \| 1,000,000 \(v4\+v6\) \+ 4 heavy \| collector \| 100 \| 2,000 \/ 1,000 \| 1,980 \/ 990 \| 20 \/ 10 \|/,
  );
  assert.match(table[3], /\| \*\*1\.00\*\* \| 1\.0 MiB \| 32 ms \|$/);
  assert.equal(liveSummary(runs, "pulso", "1M spoofed, max").longestGapMs, 31.5);
  assert.equal(liveSummary(runs, "tcpdump", "1M spoofed, max").longestGapMs, undefined);
  // A tcpdump flood too short for a CPU tick gives no ratio.
  assert.match(
    liveTable([live("pulso", 0, 0.5, 100), live("tcpdump", 0, 0.1, 100)])[2],
    /\| n\/a \|/,
  );
  assert.equal(
    notes({ ...spoofedRun("pulso"), heavyFound: 4, heavySent: 200, heavyCounted: 199 }),
    "heavy sources in the digest: 4 of 4 (99.5 % of their 200 SYNs)",
  );
  assert.equal(
    notes({ ...spoofedRun("pulso"), scrapes: 10, scrapesOk: 9 }),
    "scrapes answered: 9 of 10",
  );
});

function soakRun(rssKiB: number[]): SoakResult {
  return {
    ...live("pulso", 0, 100, 120_000_000, 120_000_000, "soak"),
    seconds: rssKiB.length,
    rssKiB,
    maxRssKiB: Math.max(...rssKiB),
  };
}

Deno.test("bench: the soak's section: peak, at 1 min, at the end, flat or not", () => {
  assert.equal(flatness(100_000, 105_000), "flat (+5.0 %)");
  assert.equal(flatness(100_000, 130_000), "grows (+30.0 %)");
  assert.equal(flatness(100_000, 80_000), "-20.0 %");
  assert.equal(flatness(undefined, 80_000), "n/a");
  const rss = Array.from({ length: 120 }, (_, i) => 100_000 + i * 100);
  const section = soakSection(soakRun(rss), "2026-12-01T10:00:00Z", "scripts/bench --soak 120");
  assert.equal(section[1], SOAK_HEADING);
  const row = section.find((l) => l.startsWith("| 120 s"))!;
  // Peak and end 111 900 KiB (114.6 MB), at 1 min (the 60th sample) 105 900 KiB (108.4 MB).
  assert.match(row, /\| 114\.6 MB \| 108\.4 MB \| 114\.6 MB \| flat \(\+5\.7 %\) \| n\/a \|$/);
  assert.ok(section.some((l) => l.startsWith("RSS at the end of each minute: 108.4 MB, 114.6 MB")));
  // Shorter than a minute: no figure at 1 min.
  assert.match(soakSection(soakRun([1000, 2000]), "")[7], /\| n\/a \| 2\.0 MB \| n\/a \|/);
  assert.match(soakSection(undefined)[3], /^Soak not run: `scripts\/bench --soak 600`/);
});

Deno.test("bench: the soak's section is spliced in, and kept by runs without a soak", () => {
  const fresh = [
    "# t",
    "",
    "## Live",
    "",
    "x",
    "",
    ...soakSection(undefined).slice(1),
    "## Targets",
    "",
  ]
    .join("\n");
  const figures = soakSection(soakRun([1000, 1000]), "2026-12-01T10:00:00Z");
  const spliced = spliceSection(fresh, figures);
  assert.equal(spliced.split(SOAK_HEADING).length, 2);
  assert.ok(!spliced.includes("Soak not run"));
  assert.ok(spliced.indexOf(SOAK_HEADING) < spliced.indexOf("## Targets"));
  assert.ok(spliced.includes("| 2 s |"));
  // A later run without a soak keeps the figures; a placeholder does not replace them.
  assert.equal(keepSection(spliced, fresh), spliced);
  assert.equal(keepSection(fresh, fresh), fresh);
  assert.equal(keepSection("", fresh), fresh);
  // Without a soak section, it goes before the targets, or at the end.
  const none = "# t\n\n## Targets\n";
  assert.ok(
    spliceSection(none, figures).indexOf(SOAK_HEADING) <
      spliceSection(none, figures).indexOf("## Targets"),
  );
  assert.ok(spliceSection("# t\n", figures).endsWith("\n"));
});
