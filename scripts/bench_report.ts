/**
 * Renders the benchmark results: BENCHMARKS.md (tables, ratios, targets) and benchmarks.svg (a
 * bar chart written by hand, no dependency).
 *
 * @module
 */
import type { LiveResult, OfflineResult } from "./bench_run.ts";
import type { MemoryResult } from "./bench_memory.ts";

/** Everything one run of the suite measured. */
export interface Report {
  date: string;
  tiny: boolean;
  frames: number;
  fileBytes: number;
  sources: number;
  ports: number[];
  runs: number;
  floodSeconds: number;
  /** Live rounds (each floods once per capturer). */
  rounds: number;
  floodPort: number;
  machine: Record<string, string>;
  filter: string;
  pairs: number;
  offline: OfflineResult[];
  /** The live results, or why there are none. */
  live: LiveResult[] | string;
  /** The bounded-memory results, or why there are none. */
  memory?: MemoryResult[] | string;
  /** The soak, when this run made it (`--soak` makes it alone). */
  soak?: SoakResult | string;
  command: string;
}

/** The soak's figures: a live run of pulso, and its RSS in KiB every second of the flood. */
export interface SoakResult extends LiveResult {
  seconds: number;
  rssKiB: number[];
}

/** The heading of the soak's section of BENCHMARKS.md. */
export const SOAK_HEADING = "## Soak: memory under a long spoofed flood";

interface Target {
  what: string;
  value: string;
  met: boolean;
}

function find(report: Report, label: string): OfflineResult {
  const r = report.offline.find((x) => x.label === label);
  if (!r) throw new Error(`no result for ${label}`);
  return r;
}

/** One capturer's live runs of a scenario (or of all), summed up: medians over the rounds. */
export interface LiveSummary {
  name: string;
  runs: LiveResult[];
  /** Median CPU seconds, whole process. */
  cpu: number;
  /** Median CPU seconds while the flood ran. */
  floodCpu: number;
  /** Median CPU per SYN counted while the flood ran. */
  floodCpuPerSyn: number;
  /** The largest peak RSS. */
  maxRssKiB: number;
  /** SYNs lost over the runs. */
  lost: number;
  /** No run lost a SYN. */
  complete: boolean;
  /** SYNs sent and counted over the runs. */
  sent: number;
  counted: number;
  /** The longest gap between drains of the runs, in ms; undefined when none logged it. */
  longestGapMs?: number;
}

/** The live runs of `name` (in `scenario`, or in all), summed up. */
export function liveSummary(live: LiveResult[], name: string, scenario?: string): LiveSummary {
  const runs = live.filter((r) =>
    r.name === name && (scenario === undefined || r.scenario === scenario)
  );
  const lost = runs.reduce((n, r) => n + r.lost, 0);
  const gaps = runs.map((r) => r.longestGapMs).filter((g): g is number => g !== undefined);
  return {
    name,
    runs,
    sent: runs.reduce((n, r) => n + r.sent, 0),
    counted: runs.reduce((n, r) => n + r.counted, 0),
    ...(gaps.length ? { longestGapMs: Math.max(...gaps) } : {}),
    cpu: median(runs.map((r) => r.cpu)),
    floodCpu: median(runs.map((r) => r.floodCpu)),
    floodCpuPerSyn: median(runs.map((r) => r.floodCpuPerSyn)),
    maxRssKiB: Math.max(...runs.map((r) => r.maxRssKiB)),
    lost,
    complete: lost === 0,
  };
}

/** The scenarios of the live runs, in their order. */
export function liveScenarios(live: LiveResult[]): string[] {
  return [...new Set(live.map((r) => r.scenario))];
}

/** The issue's targets, evaluated on this run. */
export function targets(report: Report): Target[] {
  const pulso = find(report, "pulso");
  const c = find(report, "C loop");
  const tcpdump = find(report, "tcpdump|awk");
  const ratio = pulso.median / c.median;
  const out: Target[] = [
    {
      what: "pulso's time at most 2.0× the C loop's (aim 1.5×)",
      value: `${ratio.toFixed(2)}×`,
      met: ratio <= 2.0,
    },
    {
      what: "tcpdump | awk takes at least 10× pulso's time",
      value: `${(tcpdump.median / pulso.median).toFixed(1)}×`,
      met: tcpdump.median / pulso.median >= 10,
    },
  ];
  if (Array.isArray(report.memory) && report.memory.length >= 3) {
    const [floodRun, fillRun, fewRun] = report.memory;
    const worst = Math.max(floodRun.maxRssKiB, fillRun.maxRssKiB);
    out.push({
      what: "bounded memory: peak RSS at most 150 MB with the default bounds (flood, full bounds)",
      value: `${mb(floodRun.maxRssKiB)}, ${mb(fillRun.maxRssKiB)}`,
      met: worst * 1024 <= 150e6,
    }, {
      what: "bounded memory: peak RSS within 2× the 1000-source run's",
      value: `${(worst / fewRun.maxRssKiB).toFixed(2)}×`,
      met: worst <= 2 * fewRun.maxRssKiB,
    }, {
      what: "the hashed digest of a full summary within 1 s of SIGTERM",
      value: `${s(floodRun.stopToDigest ?? NaN, 2)} s, ${s(fillRun.stopToDigest ?? NaN, 2)} s`,
      met: Math.max(floodRun.stopToDigest ?? Infinity, fillRun.stopToDigest ?? Infinity) <= 1,
    });
  }
  if (typeof report.live !== "string") {
    const live = report.live;
    const names = liveScenarios(live);
    // Zero loss wherever tcpdump, with the same buffer, lost nothing.
    const clean = names.filter((n) => liveSummary(live, "tcpdump", n).complete);
    const lossy = clean.filter((n) => !liveSummary(live, "pulso", n).complete);
    const lost = clean.reduce((sum, n) => sum + liveSummary(live, "pulso", n).lost, 0);
    out.push({
      what: "live: pulso loses no SYN in every flood where tcpdump loses none",
      value: `${clean.length - lossy.length} of ${clean.length} floods` +
        (lossy.length ? `; ${lost} lost in: ${lossy.join("; ")}` : ""),
      met: lossy.length === 0,
    });
    // Floods too short for tcpdump to use a 10 ms tick of CPU are not judged.
    const ratios = names.map((n) => [
      liveSummary(live, "pulso", n).floodCpuPerSyn,
      liveSummary(live, "tcpdump", n).floodCpuPerSyn,
    ]).filter(([, t]) => t > 0).map(([p, t]) => p / t);
    const worst = Math.max(...ratios);
    out.push({
      what: "live: pulso's CPU per SYN during the flood at most 2× tcpdump's, every flood " +
        "(aim 1.5×)",
      value: ratios.length
        ? `${Math.min(...ratios).toFixed(2)}× to ${worst.toFixed(2)}×`
        : "floods too short to measure",
      met: ratios.length > 0 && worst <= 2,
    });
  }
  return out;
}

/** The median of `values`. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const s = (x: number, digits = 3) => x.toFixed(digits);
const thousands = (x: number) => Math.round(x).toLocaleString("en-US");
const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
const mb = (kib: number) => `${(kib * 1024 / 1e6).toFixed(1)} MB`;
/** Text for a Markdown table cell. */
const cell = (text: string) => text.replace(/\|/g, "\\|");
/** A longest gap between drains, or "n/a" when pulso did not log it. */
export const gap = (ms: number | undefined) =>
  ms === undefined ? "n/a" : `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;

/** A flood's sources: how many, the families, the heavy ones. */
export function sourcesText(r: Pick<LiveResult, "sources" | "heavy" | "mode">): string {
  if (r.sources === undefined) return "4,096";
  const heavy = r.heavy ? ` + ${r.heavy} heavy` : "";
  return `${thousands(r.sources)}${heavy ? " (v4+v6)" : ""}${heavy}`;
}

/** The soak's section of BENCHMARKS.md (see {@link SOAK_HEADING}). */
export function soakSection(
  soak: SoakResult | string | undefined,
  date?: string,
  command = "scripts/bench --soak 600",
): string[] {
  const lines = ["", SOAK_HEADING, ""];
  if (soak === undefined || typeof soak === "string") {
    lines.push(
      `Soak ${soak ?? "not run"}: \`scripts/bench --soak 600\` runs it and writes this section ` +
        "alone (the other runs keep it).",
      "",
    );
    return lines;
  }
  const samples = soak.rssKiB;
  const peak = Math.max(soak.maxRssKiB, ...samples);
  const atMinute = samples.length >= 60 ? samples[59] : undefined;
  const end = samples.at(-1);
  lines.push(
    `Measured ${(date ?? "").slice(0, 16).replace("T", " ")} UTC by \`${command}\`: ` +
      `\`pulso -i 1 -d lo -f 'tcp dst port 9999'\` (hashed, default bounds) under a spoofed ` +
      `flood of ${thousands(soak.floodRate)} SYN/s from ${sourcesText(soak)} sources for ` +
      `${soak.seconds} s, in the live benchmark's namespace, on its cores; pulso's RSS ` +
      "(`VmRSS`) every second of the flood, its peak from GNU time.",
    "",
    "| Duration | SYNs sent | Counted | Lost | Peak RSS | RSS at 1 min | RSS at the end | " +
      "End vs 1 min | Longest gap |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    `| ${soak.seconds} s | ${thousands(soak.sent)} | ${thousands(soak.counted)} | ` +
      `${thousands(soak.lost)} | ${mb(peak)} | ${
        atMinute === undefined ? "n/a" : mb(atMinute)
      } | ` +
      `${end === undefined ? "n/a" : mb(end)} | ${flatness(atMinute, end)} | ` +
      `${gap(soak.longestGapMs)} |`,
    "",
  );
  const minutes = samples.filter((_, i) => (i + 1) % 60 === 0);
  if (minutes.length > 1) {
    lines.push(`RSS at the end of each minute: ${minutes.map(mb).join(", ")}.`, "");
  }
  return lines;
}

/** Whether RSS stayed flat from 1 min to the end: within 10 %. */
export function flatness(atMinute: number | undefined, end: number | undefined): string {
  if (atMinute === undefined || end === undefined) return "n/a";
  const change = (end - atMinute) / atMinute;
  const text = `${change >= 0 ? "+" : ""}${(change * 100).toFixed(1)} %`;
  return Math.abs(change) <= 0.1 ? `flat (${text})` : change > 0 ? `grows (${text})` : text;
}

/** `markdown` with its soak section replaced by `section` (added before the targets if none). */
export function spliceSection(markdown: string, section: string[]): string {
  const lines = markdown.split("\n");
  const start = lines.indexOf(SOAK_HEADING);
  // The section's lines begin with an empty one, before the heading.
  const body = section[0] === "" ? section.slice(1) : section;
  if (start >= 0) {
    let end = lines.findIndex((l, i) => i > start && l.startsWith("## "));
    if (end < 0) end = lines.length;
    return [...lines.slice(0, start), ...body, ...lines.slice(end)].join("\n");
  }
  const targets = lines.indexOf("## Targets");
  if (targets < 0) return [...lines, ...body].join("\n");
  return [...lines.slice(0, targets), ...body, ...lines.slice(targets)].join("\n");
}

/** `fresh` with the soak section of `old`, when `old` has one with figures. */
export function keepSection(old: string, fresh: string): string {
  const lines = old.split("\n");
  const start = lines.indexOf(SOAK_HEADING);
  if (start < 0) return fresh;
  let end = lines.findIndex((l, i) => i > start && l.startsWith("## "));
  if (end < 0) end = lines.length;
  const section = lines.slice(start, end);
  if (!section.some((l) => l.startsWith("| "))) return fresh;
  return spliceSection(fresh, section);
}

function memorySection(memory: MemoryResult[] | string | undefined): string[] {
  const lines = ["", "## Bounded memory: floods of distinct sources", ""];
  if (memory === undefined || typeof memory === "string") {
    lines.push(`Memory benchmark ${memory ?? "not run"}.`);
    return lines;
  }
  lines.push(
    "`pulso --read FILE` with `PULSO_SECRET` set (hashed) and the default bounds " +
      "(`--max-sources 32768 --max-ports 64`), on files of Ethernet SYNs written by " +
      "`scripts/gen_flood.ts`; median wall time and the largest peak RSS (GNU time's `%M`) of " +
      "the runs, interleaved. Digest after SIGTERM: pulso reads the same file from a pipe that " +
      "stays open; once it has counted every SYN (its CPU time has stood still for 1 s) it gets " +
      "SIGTERM, and the time until it has written the digest and exited is measured.",
    "",
    "| Workload | SYNs | Sources | Wall | Peak RSS | Digest lines | Distinct (log) | Approximate | Digest after SIGTERM |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | :---: | ---: |",
  );
  for (const r of memory) {
    lines.push(
      `| ${cell(r.name)} | ${thousands(r.syns)} | ${thousands(r.sources)} | ${s(r.wall, 2)} s | ` +
        `${mb(r.maxRssKiB)} | ${thousands(r.lines)} | ${r.distinct} | ${
          r.approximate ? "yes" : "no"
        } | ` +
        `${r.stopToDigest === undefined ? "" : `${s(r.stopToDigest, 2)} s`} |`,
    );
  }
  return lines;
}

/** The live summary: a row per flood, pulso beside tcpdump. */
export function liveTable(live: LiveResult[]): string[] {
  const lines = [
    "| Flood | Sources | Mode | SYN/s | SYNs sent | Counted | Lost | pulso µs CPU/SYN | " +
    "tcpdump µs CPU/SYN | Ratio | pulso peak RSS | pulso longest gap |",
    "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const name of liveScenarios(live)) {
    const p = liveSummary(live, "pulso", name);
    const t = liveSummary(live, "tcpdump", name);
    const first = p.runs[0] ?? t.runs[0];
    const rate = median([...p.runs, ...t.runs].map((r) => r.floodRate));
    const both = (f: (x: LiveSummary) => number) =>
      `${thousands(f(p))} / ${t.runs.length ? thousands(f(t)) : "–"}`;
    lines.push(
      `| ${name} | ${sourcesText(first)} | ${first.mode ?? "one digest"} | ${thousands(rate)} | ` +
        `${both((x) => x.sent)} | ${both((x) => x.counted)} | ${both((x) => x.lost)} | ` +
        `${s(p.floodCpuPerSyn * 1e6, 3)} | ${s(t.floodCpuPerSyn * 1e6, 3)} | ` +
        `${ratioCell(p.floodCpuPerSyn, t.floodCpuPerSyn)} | ${mib(p.maxRssKiB)} | ` +
        `${gap(p.longestGapMs)} |`,
    );
  }
  return lines;
}

/** pulso's CPU per SYN over tcpdump's, bold; n/a when tcpdump's flood was too short to measure. */
const ratioCell = (pulso: number, tcpdump: number) =>
  tcpdump > 0 ? `**${s(pulso / tcpdump, 2)}**` : "n/a";

/** A live run's notes: the heavy sources in pulso's digest, the collector's scrapes. */
export function notes(r: LiveResult): string {
  const out: string[] = [];
  if (r.heavyFound !== undefined && r.heavy) {
    const share = r.heavySent
      ? ` (${s((r.heavyCounted ?? 0) / r.heavySent * 100, 1)} % of ` +
        `their ${thousands(r.heavySent)} SYNs)`
      : "";
    out.push(`heavy sources in the digest: ${r.heavyFound} of ${r.heavy}${share}`);
  }
  if (r.scrapes !== undefined) out.push(`scrapes answered: ${r.scrapesOk} of ${r.scrapes}`);
  return out.join("; ");
}

/** BENCHMARKS.md. */
export function renderMarkdown(report: Report): string {
  const pulso = find(report, "pulso");
  const m = report.machine;
  const lines: string[] = [];
  lines.push("# pulso benchmarks", "");
  if (report.tiny) {
    lines.push(
      "**Tiny run** (`--tiny`): proves the suite works; the figures mean nothing.",
      "",
    );
  }
  lines.push(
    `Measured ${report.date.slice(0, 16).replace("T", " ")} UTC by \`${report.command}\`. ` +
      "Every process is timed whole, from its start to its exit (pulso's includes Deno's start, " +
      "loading libpcap and printing the digest).",
    "",
    "![Benchmarks](benchmarks.svg)",
    "",
    "## Machine",
    "",
    "| | |",
    "| --- | --- |",
    `| CPU | ${m.cpu}, ${m.cores} cores, ${m.memory} |`,
    `| Kernel | ${m.kernel} |`,
    `| Deno | ${m.deno} |`,
    `| libpcap | ${m.libpcap} |`,
    `| tcpdump | ${m.tcpdump} |`,
    `| tshark | ${m.tshark} |`,
    `| awk | ${m.awk} |`,
    `| C compiler | ${m.gcc} (\`-O2\`) |`,
    "",
    "## Workload",
    "",
    `\`scripts/gen_workload.ts\` writes ${thousands(report.frames)} Ethernet frames ` +
      `(${(report.fileBytes / 1e6).toFixed(1)} MB of pcap), the same bytes every time: 75 % IPv4 ` +
      "and 25 % IPv6, half of them SYNs (with MSS, SACK, timestamp and window-scale options) " +
      "and the rest SYN-ACK, ACK with 64 to 127 bytes of data and FIN-ACK, " +
      `from ${thousands(report.sources)} client addresses to ports ${report.ports.join(", ")}. ` +
      `${thousands(pulso.events)} connection events in ${thousands(report.pairs)} ` +
      "(source, port) pairs.",
    "",
    "## Offline: reading the file",
    "",
    `${report.runs} runs of the fast tools (fewer of the slow ones), interleaved, the file in ` +
      "the page cache. Each tool prints the count per (source, destination port) and the " +
      "script checks that all of them agree with pulso, pair by pair.",
    "",
    "- **pulso**: `pulso --no-hash --read FILE` (`deno run` with the flags of `scripts/pulso`).",
    "- **C loop**: `scripts/c_loop.c`, built with `gcc -O2`: `pcap_open_offline`, the same BPF " +
      "program as pulso (`pcap_compile` of pulso's filter, optimised), `pcap_loop`, then the " +
      "same decoding and a hash table per (source, port). The practical limit.",
    "- **tcpdump | awk**: `tcpdump -nn -r FILE FILTER | awk` (same filter as pulso), awk " +
      "keeps the lines with SYN and without ACK and counts them per (source, port).",
    "- **tshark**: `tshark -n -r FILE -Y 'tcp.flags.syn == 1 && tcp.flags.ack == 0' -T " +
      "fields -e ip.src -e ipv6.src -e tcp.dstport | sort | uniq -c`.",
    "",
    "| Tool | Runs | Median | Min – max | CPU (user+sys) | Frames/s | Peak RSS | " +
      "Ratio | Counts |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  );
  for (const r of report.offline) {
    const ratio = r.label === "pulso"
      ? "1"
      : r.label === "C loop"
      ? `pulso / C loop = **${s(pulso.median / r.median, 2)}**`
      : `${cell(r.label)} / pulso = **${s(r.median / pulso.median, 1)}**`;
    lines.push(
      `| ${cell(r.name)} | ${r.runs} | ${s(r.median)} s | ${s(r.min)} – ${s(r.max)} s | ` +
        `${s(r.cpu, 2)} s | ${thousands(r.framesPerSecond)} | ${mib(r.maxRssKiB)} | ${ratio} | ` +
        `${r.agrees ? `agree (${thousands(r.events)})` : "**DISAGREE**"} |`,
    );
  }
  const c = find(report, "C loop");
  const rounds = pulso.walls.map((w, i) => w / c.walls[i]).filter(Number.isFinite);
  if (rounds.length > 1) {
    lines.push(
      "",
      `pulso / C loop round by round (the two run one after the other): median ` +
        `${s(median(rounds), 2)}, from ${s(Math.min(...rounds), 2)} to ` +
        `${s(Math.max(...rounds), 2)}. This machine is a virtual one with 2 cores, whose speed ` +
        "drifts from one minute to the next: compare runs of the same round.",
    );
  }
  lines.push(...memorySection(report.memory));
  lines.push(
    "",
    "## Live: SYN floods on `lo`, a rate sweep",
    "",
  );
  if (typeof report.live === "string") {
    lines.push(`Live benchmark ${report.live}.`, "");
  } else {
    const live = report.live;
    lines.push(
      "`scripts/syn_flood.c` writes Ethernet frames of SYNs onto `lo` through an AF_PACKET " +
        "socket, in `sendmmsg` batches paced by a token bucket, for " +
        `${report.floodSeconds} s per flood, in a private network namespace whose only ` +
        "interface is `lo` (the TCP checksum is left at zero, so the stack drops the SYNs and " +
        "nothing answers): IPv4 SYNs from 4 096 sources in 127.1.0.0/16, in turn, or spoofed " +
        "floods (`--sources N --mix 0.5 --heavy 4 --heavy-share 0.01`) from N distinct sources " +
        "in an order that repeats only after all N, half of them IPv4 in 127.0.0.0/8 and half " +
        "IPv6 in fd70:756c::/32 (routed to `lo`), and 4 heavy sources sending 1 % of the flood " +
        "each. " +
        "The generator runs on core 1, the capturer on core 0 (`taskset`). Capturers: " +
        `\`pulso --no-hash -d lo -f 'tcp dst port ${report.floodPort}'\` and ` +
        "`tcpdump -i lo -B 8192 -n -w /dev/null` with pulso's filter and the port, each with an " +
        `8 MiB buffer; ${report.rounds} round${report.rounds === 1 ? "" : "s"} per flood, in ` +
        "alternating order. Modes: one digest, the capturer waits for packets when the flood " +
        "starts (pulsed: 200 ms of flood, 200 ms of silence); collector, pulso with " +
        "`-i 1 --format json --listen 127.0.0.1:9464` and `/metrics` scraped with curl every " +
        "second (tcpdump as always); started into flood, the flood starts 1 s before the " +
        "capturer. pulso runs with `PULSO_LOG=debug` and its count is the total it logs. " +
        "Lost: libpcap's drops, or (onset while idle) the SYNs sent and not counted if more. " +
        "Longest gap: the longest time between two drains that pulso logs at the end " +
        "(`Longest gap between drains`; n/a when it does not). CPU: user + sys of the " +
        "capturing process while the flood ran " +
        "(`/proc/PID/stat`, 10 ms ticks), per SYN counted. On `lo` the kernel hands every packet " +
        "to a capture socket twice, outgoing and incoming; libpcap drops the outgoing copies.",
      "",
      "Sums over the rounds; SYNs sent, counted and lost as pulso / tcpdump (each capturer " +
        "has floods of its own).",
      "",
      ...liveTable(live),
    );
    lines.push(
      "",
      "Every run:",
      "",
      "| Flood | Round | Capturer | SYNs sent | SYN/s | Counted | Dropped (kernel + interface) | " +
        "CPU, whole process | CPU during the flood | per SYN | Peak RSS | Longest gap | Notes |",
      "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    );
    for (const r of live) {
      lines.push(
        `| ${r.scenario} | ${r.round + 1} | ${r.name} | ${thousands(r.sent)} | ` +
          `${thousands(r.floodRate)} | ${thousands(r.counted)} | ${r.dropped} + ${r.ifDropped} | ` +
          `${s(r.cpu, 2)} s | ${s(r.floodCpu, 2)} s | ${s(r.floodCpuPerSyn * 1e6, 3)} µs | ` +
          `${mib(r.maxRssKiB)} | ${r.name === "pulso" ? gap(r.longestGapMs) : ""} | ` +
          `${cell(notes(r))} |`,
      );
    }
    lines.push("");
  }
  lines.push(...soakSection(report.soak).slice(1));
  lines.push("## Targets", "", "| Target | This run | Met |", "| --- | ---: | :---: |");

  for (const t of targets(report)) {
    lines.push(`| ${cell(t.what)} | ${t.value} | ${t.met ? "yes" : "**no**"} |`);
  }
  lines.push(
    "",
    "## Reproduce",
    "",
    "```sh",
    "scripts/bench            # or: deno task bench; full size, writes BENCHMARKS.md and " +
      "benchmarks.svg",
    "scripts/bench --tiny     # 20 000 frames, 1 run, 1 round of 1 s floods; writes to " +
      "bench-out/tiny/",
    "scripts/bench --frames N --runs N --flood SECONDS --rounds N --no-live --out DIR",
    "scripts/bench --soak 600 # the soak alone (600 s of flood); replaces its section here",
    "```",
    "",
    "`scripts/bench` installs what it needs with apt-get (gcc, libpcap-dev, tcpdump, tshark, " +
      "gawk, time), builds `scripts/c_loop.c` and `scripts/syn_flood.c` into `bench-out/`, writes the workloads " +
      "there once, and exits non-zero when the tools disagree. The live part needs root.",
    "",
    "pulso's BPF filter (Ethernet):",
    "",
    "```",
    report.filter,
    "```",
    "",
  );
  return lines.join("\n");
}

const escape = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** benchmarks.svg: offline times on a log scale, and live CPU per SYN. */
export function renderSvg(report: Report): string {
  const width = 820;
  const left = 190;
  const barWidth = width - left - 130;
  const rowHeight = 26;
  const out: string[] = [];
  let y = 0;
  const text = (x: number, yy: number, t: string, extra = "") =>
    out.push(`<text x="${x}" y="${yy}"${extra}>${escape(t)}</text>`);
  const colors: Record<string, string> = {
    "pulso": "#2b7bb9",
    "C loop": "#7a7a7a",
    "tcpdump|awk": "#d9822b",
    "tshark": "#9b59b6",
    "tcpdump": "#d9822b",
  };

  y += 28;
  text(
    12,
    y,
    `Offline: ${report.frames.toLocaleString("en-US")} frames, median wall time (log scale)`,
    ' font-weight="bold"',
  );
  y += 12;
  const times = report.offline.map((r) => r.median);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...times))));
  const hi = Math.max(...times) * 1.6;
  const scale = (v: number) => (Math.log10(v / lo) / Math.log10(hi / lo)) * barWidth;
  const top = y;
  const bottom = top + report.offline.length * rowHeight;
  // Decade grid lines first, under the bars.
  for (let d = lo; d <= hi; d *= 10) {
    const x = (left + scale(d)).toFixed(1);
    out.push(
      `<line x1="${x}" y1="${top + 4}" x2="${x}" y2="${bottom + 2}" stroke="#ccc" ` +
        `stroke-dasharray="3,3"/>`,
    );
    text(
      Number(x),
      bottom + 16,
      d >= 1 ? `${d} s` : `${Math.round(d * 1000)} ms`,
      ' text-anchor="middle" fill="#666"',
    );
  }
  const pulso = report.offline.find((r) => r.label === "pulso")!;
  const c = report.offline.find((r) => r.label === "C loop")!;
  for (const r of report.offline) {
    y += rowHeight;
    text(left - 8, y - 8, r.label, ' text-anchor="end"');
    const w = Math.max(2, scale(r.median));
    out.push(
      `<rect x="${left}" y="${y - rowHeight + 6}" width="${w.toFixed(1)}" height="${
        rowHeight - 10
      }" fill="${colors[r.label] ?? "#555"}"/>`,
    );
    const note = r === pulso
      ? `, ${(pulso.median / c.median).toFixed(2)}× the C loop`
      : r === c
      ? ""
      : `, ${(r.median / pulso.median).toFixed(1)}× pulso`;
    text(Math.round(left + w + 6), y - 8, `${r.median.toFixed(3)} s${note}`);
  }
  y += 24;

  if (typeof report.live !== "string") {
    const live = report.live;
    y += 28;
    text(
      12,
      y,
      `Live: SYN floods on lo, ${report.floodSeconds} s, median CPU per SYN during the flood`,
      ' font-weight="bold"',
    );
    y += 12;
    const rows = liveScenarios(live).flatMap((n) =>
      ["pulso", "tcpdump"].map((name) => ({ n, summary: liveSummary(live, name, n) }))
    );
    const max = Math.max(...rows.map((r) => r.summary.floodCpuPerSyn)) * 1.5;
    for (const { n, summary } of rows) {
      y += rowHeight - 6;
      if (summary.name === "pulso") text(left - 8, y - 6, n, ' text-anchor="end" font-size="11"');
      const w = Math.max(2, (summary.floodCpuPerSyn / max) * barWidth);
      out.push(
        `<rect x="${left}" y="${y - rowHeight + 10}" width="${w.toFixed(1)}" height="${
          rowHeight - 14
        }" fill="${colors[summary.name] ?? "#555"}"/>`,
      );
      text(
        Math.round(left + w + 6),
        y - 6,
        `${summary.name} ${(summary.floodCpuPerSyn * 1e6).toFixed(3)} µs` +
          (summary.lost ? `, ${summary.lost} lost` : ""),
        ' font-size="11"',
      );
    }
    y += 12;
  }
  y += 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" ` +
    `viewBox="0 0 ${width} ${y}" font-family="sans-serif" font-size="13">`,
    `<rect width="${width}" height="${y}" fill="#fff"/>`,
    ...out,
    "</svg>",
    "",
  ].join("\n");
}
