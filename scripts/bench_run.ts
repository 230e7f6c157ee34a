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
 *
 * Exits 1 when the tools disagree on the counts (or a tool fails), 2 on a usage error.
 *
 * @module
 */
import { captureFilter } from "../src/bpf_filter.ts";
import { LinkType } from "../src/decode.ts";
import { generate, PORTS } from "./gen_workload.ts";
import { median, renderMarkdown, renderSvg, type Report } from "./bench_report.ts";
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
      "[--no-live] [--no-memory] [--out DIR]",
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
}

/** The rate sweep: full size, or the one short point of `--tiny`. */
export function scenarios(tiny: boolean): Scenario[] {
  if (tiny) return [{ name: "50k, onset while idle", rate: 50_000, onset: "idle" }];
  return [
    ...[50_000, 100_000, 200_000, 400_000].map((rate) => ({
      name: `${rate / 1000}k, onset while idle`,
      rate,
      onset: "idle" as const,
    })),
    { name: "max, onset while idle", rate: 0, onset: "idle" },
    { name: "max, already running", rate: 0, onset: "running" },
    { name: "max, 200 ms on / 200 ms off", rate: 0, onset: "idle", pulse: [200, 200] },
  ];
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
}

/** A file of /proc, read through cat: Deno grants reading /proc only with every permission. */

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
): Promise<LiveResult & { stdout: string; stderr: string }> {
  const timeFile = await Deno.makeTempFile({ prefix: "pulso-bench-time-" });
  // The capturer on core 0, the generator on core 1 (where the kernel then does most of lo's
  // work).
  const floodArgs = (duration: number) => [
    "-c",
    "1",
    GENERATOR,
    "lo",
    String(scenario.rate),
    String(duration),
    "4096",
    String(FLOOD_PORT),
    ...(scenario.pulse ? scenario.pulse.map(String) : []),
  ];
  const spawnFlood = (duration: number) =>
    new Deno.Command("taskset", {
      args: floodArgs(duration),
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
  const stdoutText = new Response(child.stdout).text();
  const errReader = child.stderr.getReader();
  const err = { text: "" };
  try {
    if (!await readUntil(errReader, ready, err, 15_000)) {
      throw new Error(`${name} did not start capturing:\n${err.text}`);
    }
    // taskset execs the capturer: GNU time's child is the capturer.
    const capturer = childOf(child.pid);
    const cpuBefore = processCpu(capturer);
    let sent: number;
    if (early) {
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    } else {
      const out = await spawnFlood(seconds).output();
      const text = decoder.decode(out.stdout) + decoder.decode(out.stderr);
      sent = Number(/sent (\d+)/.exec(text)?.[1]);
      if (!out.success || !Number.isFinite(sent)) throw new Error(`the generator said:\n${text}`);
    }
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
    if (early) {
      const out = await early.output();
      sent = Number(/sent (\d+)/.exec(decoder.decode(out.stdout))?.[1]);
    }
    const stdout = await stdoutText;
    const t = parseTime(await Deno.readTextFile(timeFile));
    // pulso: "N packets received by filter, D dropped by kernel, I dropped by interface";
    // tcpdump: one "N packets ..." line each, "dropped by interface" only when not zero.
    const stats = (label: string, missing = NaN) =>
      Number(new RegExp(`(\\d+) (?:packets? )?${label}`).exec(err.text)?.[1] ?? missing);
    let counted: number;
    if (name === "pulso") {
      counted = 0;
      for (const [key, count] of parseDigest(stdout)) {
        if (key.endsWith(` ${FLOOD_PORT}`)) counted += count;
      }
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
      stdout,
      stderr: err.text,
    };
  } finally {
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

async function live(options: Options): Promise<LiveResult[] | string> {
  if (Deno.uid() !== 0) return "skipped: capturing on lo and flooding need root";
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
            [DENO, ...PULSO_FLAGS, "--no-hash", "-d", "lo", "-f", `tcp dst port ${FLOOD_PORT}`],
            /Capturing on device/,
            { PULSO_LOG: "info" },
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

async function main(): Promise<number> {
  const options = parseOptions(Deno.args);
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
  await Deno.writeTextFile(`${options.out}/BENCHMARKS.md`, renderMarkdown(report));
  await Deno.writeTextFile(`${options.out}/benchmarks.svg`, renderSvg(report));
  if (options.out === ROOT) {
    // As `deno fmt --check` (scripts/test) wants them.
    await new Deno.Command(DENO, {
      args: ["fmt", "--quiet", "BENCHMARKS.md", "benchmarks.svg"],
      cwd: ROOT,
    }).output();
  }
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
