/**
 * pulso's benchmark suite, run by `scripts/bench` (which installs the tools and builds the C
 * reference first). Offline, on a generated workload: pulso, a C libpcap loop, tcpdump | awk
 * and tshark | sort | uniq -c, timed as whole processes, their counts checked against each
 * other. Live, under SYN floods on `lo` (the generator scripts/syn_flood.c, in a network
 * namespace): pulso and `tcpdump -w /dev/null` with the same filter, their CPU time, peak RSS,
 * counts and drops. Bounded memory (scripts/bench_memory.ts):
 * peak RSS and digest latency on floods of distinct sources. Then BENCHMARKS.md and
 * benchmarks.svg.
 *
 * Usage: scripts/bench [--tiny] [--frames N] [--runs N] [--flood SECONDS] [--rounds N]
 *        [--no-live] [--no-memory] [--out DIR]
 *        scripts/bench --soak SECONDS [--out DIR]
 *
 * `--soak SECONDS` runs only the soak (pulso `-i 1` under a spoofed flood, its RSS every
 * second) and replaces the soak's section of BENCHMARKS.md; the other runs keep that section.
 *
 * Exits 1 when the tools disagree on the counts (or a tool fails), 2 on a usage error.
 *
 * @module
 */
import { captureFilter } from "../src/bpf_filter.ts";
import { LinkType } from "../src/decode.ts";
import { generate, PORTS } from "./gen_workload.ts";
import {
  keepSection,
  median,
  renderMarkdown,
  renderSvg,
  type Report,
  type SoakResult,
  soakSection,
  spliceSection,
} from "./bench_report.ts";
import { memory } from "./bench_memory.ts";
import { DENO, processCpu, PULSO_FLAGS, readProc, ROOT } from "./_bench_common.ts";

const TIME = "/usr/bin/time";
/** The SYN generator, built by scripts/bench from scripts/syn_flood.c. */
const GENERATOR = `${ROOT}/bench-out/syn_flood`;
/** The destination port of the live flood. */
const FLOOD_PORT = 9999;
/** Bump when the workload generator changes, so that old files are not reused. */
const WORKLOAD_VERSION = 1;

interface Options {
  tiny: boolean;
  frames: number;
  runs: number;
  floodSeconds: number;
  /** Live rounds: each runs the flood once against each capturer. */
  rounds: number;
  live: boolean;
  /** Run the bounded-memory part. */
  memory: boolean;
  out: string;
  /** Run only the soak, this many seconds long. */
  soak?: number;
}

function parseOptions(args: string[]): Options {
  const tiny = args.includes("--tiny");
  const options: Options = {
    tiny,
    frames: tiny ? 20_000 : 2_000_000,
    runs: tiny ? 1 : 10,
    floodSeconds: tiny ? 1 : 10,
    rounds: tiny ? 1 : 2,
    live: true,
    memory: true,
    out: tiny ? `${ROOT}/bench-out/tiny` : ROOT,
  };
  for (let i = 0; i < args.length; i++) {
    const value = () => {
      const v = args[++i];
      if (v === undefined) usage(`${args[i - 1]} needs a value`);
      return v;
    };
    const number = () => {
      const n = Number(value());
      if (!Number.isFinite(n) || n <= 0) usage(`${args[i - 1]} needs a positive number`);
      return n;
    };
    switch (args[i]) {
      case "--tiny":
        break;
      case "--frames":
        options.frames = Math.round(number());
        break;
      case "--runs":
        options.runs = Math.round(number());
        break;
      case "--flood":
        options.floodSeconds = number();
        break;
      case "--rounds":
        options.rounds = Math.round(number());
        break;
      case "--no-live":
        options.live = false;
        break;
      case "--no-memory":
        options.memory = false;
        break;
      case "--out":
        options.out = value();
        break;
      case "--soak":
        options.soak = number();
        break;
      default:
        usage(`unknown argument '${args[i]}'`);
    }
  }
  return options;
}

function usage(message: string): never {
  console.error(`bench: ${message}`);
  console.error(
    "usage: scripts/bench [--tiny] [--frames N] [--runs N] [--flood SECONDS] [--rounds N] " +
      "[--no-live] [--no-memory] [--out DIR] [--soak SECONDS]",
  );
  Deno.exit(2);
}

function say(message: string): void {
  console.error(`bench: ${message}`);
}

// ---------------------------------------------------------------------------------------------
// Running processes.

interface Run {
  /** Wall-clock seconds, process start to exit. */
  wall: number;
  /** CPU seconds in user and kernel mode (the process and its children). */
  user: number;
  sys: number;
  /** Peak resident set size in KiB. */
  maxRssKiB: number;
  stdout: string;
  stderr: string;
}

const decoder = new TextDecoder();

/** Runs `command` under GNU time; throws with its stderr when it fails. */
async function timed(command: string[], env: Record<string, string> = {}): Promise<Run> {
  const timeFile = await Deno.makeTempFile({ prefix: "pulso-bench-time-" });
  try {
    const start = performance.now();
    const output = await new Deno.Command(TIME, {
      args: ["-f", "%e %U %S %M", "-o", timeFile, "--", ...command],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const wall = (performance.now() - start) / 1000;
    const stdout = decoder.decode(output.stdout);
    const stderr = decoder.decode(output.stderr);
    if (!output.success) {
      throw new Error(`${command.join(" ")} failed (${output.code}):\n${stderr.slice(-2000)}`);
    }
    return { wall, ...parseTime(await Deno.readTextFile(timeFile)), stdout, stderr };
  } finally {
    await Deno.remove(timeFile).catch(() => {});
  }
}

function parseTime(text: string): { user: number; sys: number; maxRssKiB: number } {
  const last = text.trim().split("\n").at(-1) ?? "";
  const [, user, sys, rss] = last.split(" ").map(Number);
  if ([user, sys, rss].some((n) => !Number.isFinite(n))) {
    throw new Error(`cannot read GNU time's output: '${text}'`);
  }
  return { user, sys, maxRssKiB: rss };
}

async function capture(command: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(command[0], {
      args: command.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return (decoder.decode(out.stdout) + decoder.decode(out.stderr)).trim();
  } catch {
    return "";
  }
}

// ---------------------------------------------------------------------------------------------
// Counts: every tool's output becomes "source port" -> count.

type Counts = Map<string, number>;

/** pulso's `--no-hash` digest: `SOURCE:TOTAL PORT:COUNT ...`, IPv6 sources in brackets. */
export function parseDigest(text: string): Counts {
  const counts: Counts = new Map();
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const [head, ...ports] = line.trim().split(" ");
    const cut = head.lastIndexOf(":");
    const source = head.slice(0, cut).replace(/^\[(.*)\]$/, "$1");
    const total = Number(head.slice(cut + 1));
    let sum = 0;
    for (const pair of ports) {
      const [port, count] = pair.split(":").map(Number);
      counts.set(`${source} ${port}`, count);
      sum += count;
    }
    if (sum !== total) throw new Error(`digest line '${line}': ports add up to ${sum}`);
  }
  return counts;
}

/** Lines of `SOURCE PORT COUNT` (the C loop, tcpdump | awk) or `COUNT SOURCE PORT` (uniq -c). */
export function parseTriples(text: string, countFirst: boolean): Counts {
  const counts: Counts = new Map();
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields.length !== 3) continue;
    const [source, port, count] = countFirst ? [fields[1], fields[2], fields[0]] : fields;
    const key = `${source} ${Number(port)}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(count));
  }
  return counts;
}

/** `{ [key]: value }`, or nothing when the value is undefined. */
function optional<K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [k in K]?: V };
}

function total(counts: Counts): number {
  let n = 0;
  for (const c of counts.values()) n += c;
  return n;
}

/** Differences between two count tables, at most `limit` of them, for the report. */
export function differences(expected: Counts, actual: Counts, limit = 5): string[] {
  const out: string[] = [];
  for (const [key, count] of expected) {
    if (actual.get(key) !== count) out.push(`${key}: ${count} vs ${actual.get(key) ?? "none"}`);
  }
  for (const [key, count] of actual) {
    if (!expected.has(key)) out.push(`${key}: none vs ${count}`);
  }
  return out.slice(0, limit);
}

// ---------------------------------------------------------------------------------------------
// Offline.

/** The aggregation of tcpdump's text: field 3 is SRC.SPORT, 5 DST.DPORT:, 7 the flags. */
const AWK_PROGRAM = `$6 == "Flags" && $7 ~ /S/ && $7 !~ /\\./ {
  src = $3; sub(/\\.[0-9]+$/, "", src)
  dport = $5; sub(/:$/, "", dport); sub(/^.*\\./, "", dport)
  n[src " " dport]++
}
END { for (k in n) print k, n[k] }`;

const TSHARK_FILTER = "tcp.flags.syn == 1 && tcp.flags.ack == 0";

interface Tool {
  name: string;
  /** Short label for the chart. */
  label: string;
  command: (file: string, filter: string) => string[];
  counts: (run: Run) => Counts;
  /** Repetitions relative to the others: the slow tools run fewer times. */
  runs: (runs: number) => number;
}

function tools(cLoop: string): Tool[] {
  return [
    {
      name: "pulso --read",
      label: "pulso",
      command: (file) => [DENO, ...PULSO_FLAGS, "--no-hash", "--read", file],
      counts: (run) => parseDigest(run.stdout),
      runs: (n) => n,
    },
    {
      name: "C libpcap loop",
      label: "C loop",
      command: (file, filter) => [cLoop, file, filter],
      counts: (run) => {
        const counts = parseTriples(run.stdout, false);
        const events = Number(/events (\d+)/.exec(run.stderr)?.[1]);
        if (events !== total(counts)) throw new Error(`C loop: ${events} events, table differs`);
        return counts;
      },
      runs: (n) => n,
    },
    {
      name: "tcpdump | awk",
      label: "tcpdump|awk",
      command: (file, filter) => [
        "bash",
        "-c",
        'set -o pipefail; tcpdump -nn -r "$1" "$2" 2>/dev/null | awk "$3"',
        "bash",
        file,
        filter,
        AWK_PROGRAM,
      ],
      counts: (run) => parseTriples(run.stdout, false),
      runs: (n) => Math.min(n, 5),
    },
    {
      name: "tshark | sort | uniq -c",
      label: "tshark",
      command: (file) => [
        "bash",
        "-c",
        'set -o pipefail; tshark -n -r "$1" -Y "$2" -T fields -e ip.src -e ipv6.src ' +
        "-e tcp.dstport 2>/dev/null | sort | uniq -c",
        "bash",
        file,
        TSHARK_FILTER,
      ],
      counts: (run) => parseTriples(run.stdout, true),
      runs: (n) => Math.min(n, 3),
    },
  ];
}

export interface OfflineResult {
  name: string;
  label: string;
  runs: number;
  /** Wall seconds of each run, in order (round by round), then median, min, max. */
  walls: number[];
  median: number;
  min: number;
  max: number;
  /** Median CPU seconds (user + sys). */
  cpu: number;
  maxRssKiB: number;
  /** Frames per second of the median run. */
  framesPerSecond: number;
  events: number;
  agrees: boolean;
  disagreement: string[];
}

async function offline(options: Options, workload: string, cLoop: string) {
  const filter = captureFilter(LinkType.EN10MB);
  const list = tools(cLoop);
  // Warm the page cache: every tool reads the file from memory.
  await new Deno.Command("cat", { args: [workload], stdout: "null" }).output();
  const runs = new Map<Tool, Run[]>(list.map((t) => [t, []]));
  const counts = new Map<Tool, Counts>();
  const problems = new Map<Tool, string[]>();
  // Rounds of one run per tool, so that a slow spell of the machine hits all tools alike.
  for (let round = 0; round < options.runs; round++) {
    for (const tool of list) {
      if (round >= tool.runs(options.runs)) continue;
      const run = await timed(tool.command(workload, filter));
      runs.get(tool)!.push(run);
      const c = tool.counts(run);
      const first = counts.get(tool);
      if (!first) counts.set(tool, c);
      else if (differences(first, c).length > 0) {
        problems.set(tool, [`run ${round + 1} differs from run 1`, ...differences(first, c)]);
      }
      say(`${tool.name}: run ${round + 1}, ${run.wall.toFixed(3)} s`);
    }
  }
  const reference = counts.get(list[0])!;
  const results: OfflineResult[] = list.map((tool) => {
    const r = runs.get(tool)!;
    const walls = r.map((x) => x.wall);
    const c = counts.get(tool)!;
    const disagreement = tool === list[0]
      ? problems.get(tool) ?? []
      : [...(problems.get(tool) ?? []), ...differences(reference, c)];
    return {
      name: tool.name,
      label: tool.label,
      runs: r.length,
      walls,
      median: median(walls),
      min: Math.min(...walls),
      max: Math.max(...walls),
      cpu: median(r.map((x) => x.user + x.sys)),
      maxRssKiB: Math.max(...r.map((x) => x.maxRssKiB)),
      framesPerSecond: options.frames / median(walls),
      events: total(c),
      agrees: disagreement.length === 0,
      disagreement,
    };
  });
  return { filter, results, pairs: reference.size };
}

// ---------------------------------------------------------------------------------------------
// Live.

/** A flood of the rate sweep. */
export interface Scenario {
  /** How the report names it. */
  name: string;
  /** SYNs per second asked of the generator; 0 for as fast as it can. */
  rate: number;
  /** "idle": the flood starts while the capturer waits; "running": before it starts. */
  onset: "idle" | "running";
  /** On/off pulses in milliseconds, if any. */
  pulse?: [on: number, off: number];
  /** Distinct sources (IPv4 ones in turn, unless spoofed). */
  sources: number;
  /** Spoofed: the sources in a mixed order, a share `mix` IPv4 and the rest IPv6. */
  spoofed?: Spoofed;
  /** pulso as a collector: `-i 1 --format json --listen`, scraped every second. */
  collector?: boolean;
}

/** The generator's spoofed sources, besides their number. */
export interface Spoofed {
  /** The share of IPv4 sources. */
  mix: number;
  /** Heavy sources, each sending `heavyShare` of the flood. */
  heavy: number;
  heavyShare: number;
}

/** The spoofed floods: half IPv6, 4 heavy sources at 1 % of the flood each. */
const SPOOFED: Spoofed = { mix: 0.5, heavy: 4, heavyShare: 0.01 };

/** How the report names a scenario's mode. */
export function mode(scenario: Pick<Scenario, "onset" | "collector">): string {
  if (scenario.collector) return "collector";
  return scenario.onset === "running" ? "started into flood" : "one digest";
}

/** The rate sweep: full size, or the short points of `--tiny`. */
export function scenarios(tiny: boolean): Scenario[] {
  const plain = { sources: 4096 };
  if (tiny) {
    const spoofed = { sources: 100_000, spoofed: SPOOFED };
    return [
      { name: "50k, onset while idle", rate: 50_000, onset: "idle", ...plain },
      { name: "100k spoofed, 50k", rate: 50_000, onset: "idle", ...spoofed },
      {
        name: "100k spoofed, 50k, collector",
        rate: 50_000,
        onset: "idle",
        ...spoofed,
        collector: true,
      },
    ];
  }
  const spoofed = { sources: 1_000_000, spoofed: SPOOFED };
  const k = (rate: number) => rate ? `${rate / 1000}k` : "max";
  return [
    ...[50_000, 100_000, 200_000, 400_000].map((rate) => ({
      name: `${k(rate)}, onset while idle`,
      rate,
      onset: "idle" as const,
      ...plain,
    })),
    { name: "max, onset while idle", rate: 0, onset: "idle", ...plain },
    { name: "max, already running", rate: 0, onset: "running", ...plain },
    { name: "max, 200 ms on / 200 ms off", rate: 0, onset: "idle", pulse: [200, 200], ...plain },
    ...[200_000, 400_000, 0].map((rate) => ({
      name: `1M spoofed, ${k(rate)}`,
      rate,
      onset: "idle" as const,
      ...spoofed,
    })),
    ...[200_000, 0].map((rate) => ({
      name: `1M spoofed, ${k(rate)}, collector`,
      rate,
      onset: "idle" as const,
      ...spoofed,
      collector: true,
    })),
    { name: "1M spoofed, max, already running", rate: 0, onset: "running", ...spoofed },
  ];
}

/** The soak: pulso `-i 1` under a spoofed flood of 1M sources at 200k SYN/s. */
export const SOAK: Scenario = {
  name: "soak: 1M spoofed, 200k, -i 1",
  rate: 200_000,
  onset: "idle",
  sources: 1_000_000,
  spoofed: SPOOFED,
};

/** The generator's arguments for `scenario`, `seconds` long. */
export function floodArgs(scenario: Scenario, seconds: number): string[] {
  const s = scenario.spoofed;
  const options = s
    ? [
      ...["--sources", String(scenario.sources), "--mix", String(s.mix)],
      ...["--heavy", String(s.heavy), "--heavy-share", String(s.heavyShare)],
    ]
    : [];
  return [
    ...options,
    "lo",
    String(scenario.rate),
    String(seconds),
    String(s ? 4096 : scenario.sources),
    String(FLOOD_PORT),
    ...(scenario.pulse ? scenario.pulse.map(String) : []),
  ];
}

/** pulso's "Longest gap between drains: N ms" (logged at debug), in ms; undefined without. */
export function parseLongestGap(stderr: string): number | undefined {
  const m = /Longest gap between drains: (\d+(?:\.\d+)?) ms/.exec(stderr);
  return m ? Number(m[1]) : undefined;
}

/** The connections pulso counted in all, from its log ("… C connections (reason)"). */
export function parseConnections(stderr: string): number | undefined {
  const m = /(\d+) connections \([a-z-]+\)/.exec(stderr);
  return m ? Number(m[1]) : undefined;
}

/** The heavy sources of a spoofed flood as the text digest names them (see syn_flood.c). */
export function heavySources(scenario: Scenario): string[] {
  const s = scenario.spoofed;
  if (!s) return [];
  return Array.from(
    { length: s.heavy },
    (_, h) =>
      s.mix < 1 && h % 2 === 1 ? `fd70:756c:0:1::${(h + 1).toString(16)}` : `127.0.100.${h + 1}`,
  );
}

/**
 * How many of `heavy` a text digest lists, and the SYNs it credits them with (a `~` count, a
 * lower bound, taken as it is).
 */
export function heavyInDigest(digest: string, heavy: string[]): { found: number; syns: number } {
  const wanted = new Set(heavy);
  let found = 0, syns = 0;
  for (const line of digest.split("\n")) {
    const head = line.split(" ")[0];
    const cut = head.lastIndexOf(":");
    if (cut < 0) continue;
    const source = head.slice(0, cut).replace(/^\[(.*)\]$/, "$1");
    if (!wanted.has(source)) continue;
    found++;
    syns += Number(head.slice(cut + 1).replace(/^~/, ""));
  }
  return { found, syns };
}

/** The network interfaces up here besides `lo` (none in the bench's namespace). */
async function otherInterfaces(): Promise<string[]> {
  const out = await capture(["ip", "-o", "link", "show", "up"]);
  return out.split("\n").map((l) => l.split(":")[1]?.trim().replace(/@.*/, "") ?? "")
    .filter((name) => name !== "" && name !== "lo");
}

export interface LiveResult {
  name: string;
  /** The scenario's name (see {@link scenarios}). */
  scenario: string;
  /** The round (0, 1, …): each round floods once per capturer. */
  round: number;
  /** SYNs the generator sent (with onset "running", also before the capture began). */
  sent: number;
  /** SYNs the capturing process counted. */
  counted: number;
  /** libpcap's figures. */
  received: number;
  dropped: number;
  ifDropped: number;
  /** CPU seconds of the capturing process (user + sys), start to exit. */
  cpu: number;
  cpuPerSyn: number;
  /** CPU seconds of the capturing process while the flood ran (to 10 ms), and per SYN counted. */
  floodCpu: number;
  floodCpuPerSyn: number;
  maxRssKiB: number;
  floodRate: number;
  /** SYNs lost: libpcap's drops, and (onset "idle") SYNs sent but not counted. */
  lost: number;
  /** Distinct sources of the flood (besides heavy ones), and the mode (see {@link mode}). */
  sources?: number;
  heavy?: number;
  mode?: string;
  /** pulso's longest gap between drains in ms, when it logged it. */
  longestGapMs?: number;
  /** Heavy sources of a spoofed flood: SYNs they sent, and those the digest lists. */
  heavySent?: number;
  heavyFound?: number;
  heavyCounted?: number;
  /** Collector: scrapes of /metrics answered 200, of all tried. */
  scrapesOk?: number;
  scrapes?: number;
}

/** The port pulso serves metrics on in the collector mode, in the namespace. */
const COLLECTOR_PORT = 9464;

async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  pattern: RegExp,
  sink: { text: string },
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(sink.text)) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const chunk = await Promise.race([
      reader.read(),
      new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), left)),
    ]);
    clearTimeout(timer);
    if (chunk === null) return false;
    if (chunk.done) return pattern.test(sink.text);
    sink.text += decoder.decode(chunk.value);
  }
  return true;
}

/** The pid of the only child of `pid` (the program that GNU time runs). */
function childOf(pid: number): number {
  // pgrep, since Deno grants reading /proc/PID/ only with every permission.
  const out = new Deno.Command("pgrep", { args: ["-P", String(pid)], stdout: "piped" })
    .outputSync();
  const child = Number(new TextDecoder().decode(out.stdout).trim().split(/\s+/)[0]);
  if (!child) throw new Error(`no child process under ${pid}`);
  return child;
}

async function liveRun(
  name: string,
  round: number,
  scenario: Scenario,
  command: string[],
  ready: RegExp,
  env: Record<string, string>,
  seconds: number,
  rssSamples?: number[],
): Promise<LiveResult & { stdout: string; stderr: string }> {
  const timeFile = await Deno.makeTempFile({ prefix: "pulso-bench-time-" });
  // The capturer on core 0, the generator on core 1 (where the kernel then does most of lo's
  // work).
  const spawnFlood = (duration: number) =>
    new Deno.Command("taskset", {
      args: ["-c", "1", GENERATOR, ...floodArgs(scenario, duration)],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  // Already running: the flood starts 1 s before the capturer and outlasts it.
  const early = scenario.onset === "running" ? spawnFlood(seconds + 4) : undefined;
  if (early) await new Promise((resolve) => setTimeout(resolve, 1000));
  const child = new Deno.Command(TIME, {
    args: ["-f", "%e %U %S %M", "-o", timeFile, "--", "taskset", "-c", "0", ...command],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // The digest, or (collector) the windows' JSON, which is only counted.
  const stdoutText = scenario.collector && name === "pulso"
    ? (async () => {
      let bytes = 0;
      for await (const chunk of child.stdout) bytes += chunk.length;
      return `${bytes} bytes of JSON`;
    })()
    : new Response(child.stdout).text();
  const errReader = child.stderr.getReader();
  const err = { text: "" };
  let scraper: Deno.ChildProcess | undefined;
  let sampler: ReturnType<typeof setInterval> | undefined;
  try {
    if (!await readUntil(errReader, ready, err, 15_000)) {
      throw new Error(`${name} did not start capturing:\n${err.text}`);
    }
    // taskset execs the capturer: GNU time's child is the capturer.
    const capturer = childOf(child.pid);
    const cpuBefore = processCpu(capturer);
    if (scenario.collector && name === "pulso") {
      // Scrapes every second, on the generator's core, from inside the namespace.
      scraper = new Deno.Command("taskset", {
        args: [
          "-c",
          "1",
          "bash",
          "-c",
          'while :; do curl -s -o /dev/null -w "%{http_code}\\n" --max-time 2 "$1"; sleep 1; done',
          "bash",
          `http://127.0.0.1:${COLLECTOR_PORT}/metrics`,
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "null",
      }).spawn();
    }
    if (rssSamples) {
      sampler = setInterval(() => {
        const kib = Number(/VmRSS:\s*(\d+)/.exec(readProc(`/proc/${capturer}/status`))?.[1]);
        if (Number.isFinite(kib)) rssSamples.push(kib);
      }, 1000);
    }
    let sent: number;
    let heavySent: number | undefined;
    if (early) {
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    } else {
      const out = await spawnFlood(seconds).output();
      const text = decoder.decode(out.stdout) + decoder.decode(out.stderr);
      sent = Number(/sent (\d+)/.exec(text)?.[1]);
      if (!out.success || !Number.isFinite(sent)) throw new Error(`The generator said:\n${text}`);
      heavySent = Number(/heavy (\d+)/.exec(text)?.[1] ?? NaN);
    }
    clearInterval(sampler);
    const floodCpu = processCpu(capturer) - cpuBefore;
    // Let the capturer drain what is buffered (tcpdump's buffer timeout is 1 s), then stop it
    // as a user would.
    if (!early) await new Promise((resolve) => setTimeout(resolve, 1500));
    Deno.kill(capturer, "SIGINT");
    // Read the rest of stderr while waiting for the exit.
    const rest = (async () => {
      for (;;) {
        const { done, value } = await errReader.read();
        if (done) break;
        err.text += decoder.decode(value);
      }
    })();
    const status = await child.status;
    await rest;
    let scrapes: string[] = [];
    if (scraper) {
      scraper.kill("SIGKILL");
      scrapes = (await new Response(scraper.stdout).text()).trim().split("\n").filter(Boolean);
      await scraper.status;
      scraper = undefined;
    }
    if (early) {
      const out = await early.output();
      const text = decoder.decode(out.stdout);
      sent = Number(/sent (\d+)/.exec(text)?.[1]);
      heavySent = Number(/heavy (\d+)/.exec(text)?.[1] ?? NaN);
    }
    const stdout = await stdoutText;
    const t = parseTime(await Deno.readTextFile(timeFile));
    // pulso: "N packets received by filter, D dropped by kernel, I dropped by interface";
    // tcpdump: one "N packets ..." line each, "dropped by interface" only when not zero.
    const stats = (label: string, missing = NaN) =>
      Number(new RegExp(`(\\d+) (?:packets? )?${label}`).exec(err.text)?.[1] ?? missing);
    let counted: number;
    if (name === "pulso") {
      // Its filter lets only the flood's port through: every connection it counted is one.
      counted = parseConnections(err.text) ?? NaN;
    } else {
      counted = stats("captured");
    }
    if (!status.success && !(name === "tcpdump" && Number.isFinite(counted))) {
      throw new Error(`${name} failed (${status.code}):\n${err.text}`);
    }
    const cpu = t.user + t.sys;
    const dropped = stats("dropped by kernel");
    const ifDropped = stats("dropped by interface", name === "tcpdump" ? 0 : NaN);
    const lost = early ? dropped + ifDropped : Math.max(sent! - counted, dropped + ifDropped);
    const heavy = name === "pulso" && !scenario.collector && scenario.spoofed
      ? heavyInDigest(stdout, heavySources(scenario))
      : undefined;
    return {
      name,
      scenario: scenario.name,
      round,
      sent: sent!,
      counted,
      received: stats("received by filter"),
      dropped,
      ifDropped,
      cpu,
      cpuPerSyn: cpu / Math.max(1, counted),
      floodCpu,
      floodCpuPerSyn: floodCpu / Math.max(1, counted),
      maxRssKiB: t.maxRssKiB,
      floodRate: sent! / (early ? seconds + 4 : seconds),
      lost,
      sources: scenario.sources,
      heavy: scenario.spoofed?.heavy ?? 0,
      mode: mode(scenario),
      ...(name === "pulso" ? optional("longestGapMs", parseLongestGap(err.text)) : {}),
      ...(heavySent !== undefined && Number.isFinite(heavySent) ? { heavySent } : {}),
      ...(heavy ? { heavyFound: heavy.found, heavyCounted: heavy.syns } : {}),
      ...(scenario.collector && name === "pulso"
        ? { scrapes: scrapes.length, scrapesOk: scrapes.filter((c) => c === "200").length }
        : {}),
      stdout,
      stderr: err.text,
    };
  } finally {
    clearInterval(sampler);
    if (scraper) {
      try {
        scraper.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await scraper.status.catch(() => {});
    }
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await child.status.catch(() => {});
    if (early) {
      try {
        early.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await early.status.catch(() => {});
    }
    await Deno.remove(timeFile).catch(() => {});
  }
}

/** pulso's command line in `scenario` (collector: windows of 1 s as JSON, metrics served). */
function pulsoCommand(scenario: Scenario): string[] {
  return [
    DENO,
    ...PULSO_FLAGS,
    "--no-hash",
    ...(scenario.collector
      ? ["-i", "1", "--format", "json", "--listen", `127.0.0.1:${COLLECTOR_PORT}`]
      : []),
    "-d",
    "lo",
    "-f",
    `tcp dst port ${FLOOD_PORT}`,
  ];
}

/** Why the live part cannot flood here, if it cannot. */
async function liveBlocked(): Promise<string | undefined> {
  if (Deno.uid() !== 0) return "skipped: capturing on lo and flooding need root";
  const others = await otherInterfaces();
  if (others.length > 0) {
    // Floods (and any reply to a spoofed source) must stay on this namespace's lo.
    throw new Error(
      `Refusing to flood: interfaces other than lo are up here (${others.join(", ")}); ` +
        "scripts/bench runs the live part in a network namespace of its own",
    );
  }
  return undefined;
}

async function live(options: Options): Promise<LiveResult[] | string> {
  const blocked = await liveBlocked();
  if (blocked) return blocked;
  const filter = captureFilter(LinkType.EN10MB, `tcp dst port ${FLOOD_PORT}`);
  const results: LiveResult[] = [];
  for (const scenario of scenarios(options.tiny)) {
    for (let round = 0; round < options.rounds; round++) {
      // The order alternates, so that neither capturer always runs on a warmer machine.
      const order = round % 2 === 0 ? ["pulso", "tcpdump"] : ["tcpdump", "pulso"];
      for (const name of order) {
        const run = name === "pulso"
          ? await liveRun(
            name,
            round,
            scenario,
            pulsoCommand(scenario),
            scenario.collector
              ? /Capturing on device[^]*Serving metrics|Serving metrics[^]*Capturing on device/
              : /Capturing on device/,
            { PULSO_LOG: "debug" },
            options.floodSeconds,
          )
          : await liveRun(
            name,
            round,
            scenario,
            ["tcpdump", "-i", "lo", "-B", "8192", "-n", "-w", "/dev/null", filter],
            /listening on/,
            {},
            options.floodSeconds,
          );
        const { stdout: _o, stderr: _e, ...result } = run;
        say(
          `live ${scenario.name}, round ${round + 1}, ${name}: ${result.sent} sent, ` +
            `${result.counted} counted, ${result.lost} lost, ` +
            `${(result.floodCpuPerSyn * 1e6).toFixed(3)} µs per SYN during the flood`,
        );
        results.push(result);
      }
    }
  }
  return results;
}

/** The soak: pulso `-i 1`, hashed, default bounds, under {@link SOAK}; RSS every second. */
async function soak(seconds: number): Promise<SoakResult | string> {
  const blocked = await liveBlocked();
  if (blocked) return blocked;
  const samples: number[] = [];
  say(`soak: ${seconds} s of ${SOAK.name}`);
  const run = await liveRun(
    "pulso",
    0,
    SOAK,
    [DENO, ...PULSO_FLAGS, "-i", "1", "-d", "lo", "-f", `tcp dst port ${FLOOD_PORT}`],
    /Capturing on device/,
    { PULSO_LOG: "debug", PULSO_SECRET: "bench" },
    seconds,
    samples,
  );
  const { stdout: _o, stderr: _e, ...result } = run;
  return { ...result, seconds, rssKiB: samples };
}

// ---------------------------------------------------------------------------------------------
// Machine and versions.

async function machine(): Promise<Record<string, string>> {
  const cpuinfo = readProc("/proc/cpuinfo");
  const meminfo = readProc("/proc/meminfo");
  const first = (text: string) => text.split("\n")[0].trim();
  const awk = await capture(["awk", "-W", "version"]);
  return {
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown",
    cores: String(navigator.hardwareConcurrency),
    memory: `${Math.round(Number(/MemTotal:\s*(\d+)/.exec(meminfo)?.[1] ?? 0) / 1048576)} GiB`,
    kernel: first(await capture(["uname", "-sr"])),
    deno: `Deno ${Deno.version.deno} (V8 ${Deno.version.v8})`,
    libpcap: /libpcap version [^\n]*/.exec(await capture(["tcpdump", "--version"]))?.[0] ?? "",
    tcpdump: first(await capture(["tcpdump", "--version"])),
    tshark: first(await capture(["tshark", "--version"])),
    awk: first(awk.includes("illegal") ? await capture(["awk", "--version"]) : awk),
    gcc: first(await capture(["gcc", "--version"])),
  };
}

// ---------------------------------------------------------------------------------------------

/** `--soak`: the soak alone, its section spliced into BENCHMARKS.md. */
async function soakOnly(options: Options): Promise<number> {
  const work = `${ROOT}/bench-out`;
  await Deno.mkdir(work, { recursive: true });
  await Deno.mkdir(options.out, { recursive: true });
  const result = await soak(options.soak!);
  const date = new Date().toISOString();
  const jsonDir = options.out === ROOT ? work : options.out;
  if (typeof result !== "string") {
    await Deno.writeTextFile(`${jsonDir}/soak.json`, JSON.stringify(result, null, 2));
  }
  const section = soakSection(result, date, `scripts/bench --soak ${options.soak}`);
  const file = `${options.out}/BENCHMARKS.md`;
  const old = await Deno.readTextFile(file).catch(() => "# pulso benchmarks\n");
  await Deno.writeTextFile(file, spliceSection(old, section));
  await formatIfRoot(options);
  say(`wrote the soak's section of ${file}`);
  console.log(section.join("\n"));
  if (typeof result === "string") return 1;
  if (!(result.counted > 0)) {
    say("FAILED: pulso counted no SYN of the soak's flood");
    return 1;
  }
  return 0;
}

/** As `deno fmt --check` (scripts/test) wants them, when written into the repository. */
async function formatIfRoot(options: Options): Promise<void> {
  if (options.out !== ROOT) return;
  await new Deno.Command(DENO, {
    args: ["fmt", "--quiet", "BENCHMARKS.md", "benchmarks.svg"],
    cwd: ROOT,
  }).output();
}

async function main(): Promise<number> {
  const options = parseOptions(Deno.args);
  if (options.soak !== undefined) return await soakOnly(options);
  const work = `${ROOT}/bench-out`;
  await Deno.mkdir(options.out, { recursive: true });
  const cLoop = `${work}/c_loop`;
  const workload = `${work}/workload-v${WORKLOAD_VERSION}-${options.frames}.pcap`;
  try {
    await Deno.stat(workload);
    say(`reusing ${workload}`);
  } catch {
    say(`writing ${options.frames} frames to ${workload}`);
    generate(`${workload}.part`, options.frames, 5000);
    await Deno.rename(`${workload}.part`, workload);
  }
  const started = new Date();
  const off = await offline(options, workload, cLoop);
  const memoryResults = options.memory
    ? await memory(options.tiny, options.tiny ? 1 : 3)
    : "skipped (--no-memory)";
  const liveResults = options.live ? await live(options) : "skipped (--no-live)";
  const report: Report = {
    date: started.toISOString(),
    tiny: options.tiny,
    frames: options.frames,
    fileBytes: (await Deno.stat(workload)).size,
    sources: 5000,
    ports: [...PORTS],
    runs: options.runs,
    floodSeconds: options.floodSeconds,
    rounds: options.rounds,
    floodPort: FLOOD_PORT,
    machine: await machine(),
    filter: off.filter,
    pairs: off.pairs,
    offline: off.results,
    live: liveResults,
    memory: memoryResults,
    command: `scripts/bench${options.tiny ? " --tiny" : ""}`,
  };
  // The raw figures stay out of the repository (bench-out/ is ignored).
  const jsonDir = options.out === ROOT ? work : options.out;
  await Deno.writeTextFile(`${jsonDir}/benchmarks.json`, JSON.stringify(report, null, 2));
  // The soak's section, from its own run (`--soak`), stays.
  const old = await Deno.readTextFile(`${options.out}/BENCHMARKS.md`).catch(() => "");
  await Deno.writeTextFile(
    `${options.out}/BENCHMARKS.md`,
    keepSection(old, renderMarkdown(report)),
  );
  await Deno.writeTextFile(`${options.out}/benchmarks.svg`, renderSvg(report));
  await formatIfRoot(options);
  say(`wrote ${options.out}/BENCHMARKS.md and benchmarks.svg`);
  let ok = true;
  for (const r of off.results) {
    if (!r.agrees) {
      ok = false;
      say(`DISAGREEMENT: ${r.name} vs pulso: ${r.disagreement.join("; ")}`);
    }
  }
  if (typeof liveResults !== "string") {
    for (const p of liveResults.filter((r) => r.name === "pulso")) {
      if (!(p.counted > 0)) {
        ok = false;
        say(`DISAGREEMENT: pulso counted no SYN of the live flood (round ${p.round + 1})`);
      }
    }
  } else {
    say(`live benchmark ${liveResults}`);
  }
  console.log(renderMarkdown(report).split("\n## Reproduce")[0]);
  if (!ok) say("FAILED: the tools disagree");
  return ok ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
