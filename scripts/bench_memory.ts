/**
 * The bounded-memory part of the benchmark: pulso --read, hashed and with its default bounds,
 * on a spoofed flood (many distinct sources), on the worst case for the bounds (every tracked
 * source with every tracked port), and on a flood of the same size from 1000 sources; peak RSS
 * and time of each, side by side. Then how long the digest takes after a stop: pulso reads the
 * file from a pipe that stays open, and once it has counted everything (its CPU time stops
 * growing) it gets SIGTERM; the time until it has written the digest and exited is measured.
 *
 * @module
 */
import { fill, flood } from "./gen_flood.ts";
import { DEFAULT_MAX_PORTS, DEFAULT_MAX_SOURCES } from "../src/summary.ts";
import { DENO, processCpu, PULSO_FLAGS, ROOT } from "./_bench_common.ts";

const TIME = "/usr/bin/time";
/** Bump when the generator changes, so that old files are not reused. */
const VERSION = 1;

/** One workload's figures. */
export interface MemoryResult {
  /** What the workload is. */
  name: string;
  /** File name in bench-out/. */
  file: string;
  syns: number;
  sources: number;
  /** Median wall seconds and the largest peak RSS over the runs. */
  wall: number;
  maxRssKiB: number;
  /** Lines of the digest, and whether it had approximate numbers. */
  lines: number;
  approximate: boolean;
  /** The distinct sources as the log gave them (`~N` when estimated). */
  distinct: string;
  /** Seconds from SIGTERM to exit with the digest written, when measured. */
  stopToDigest?: number;
}

/** The workloads: full size or tiny. */
export function workloads(tiny: boolean) {
  const scale = tiny ? 100 : 1;
  const fillSources = tiny ? 400 : DEFAULT_MAX_SOURCES + 7232;
  const fillPorts = tiny ? 70 : DEFAULT_MAX_PORTS + 6;
  return [
    {
      name: `spoofed flood: ${5_000_000 / scale} SYNs from ${2_000_000 / scale} sources`,
      file: `flood-v${VERSION}-${5_000_000 / scale}-${2_000_000 / scale}.pcap`,
      syns: 5_000_000 / scale,
      sources: 2_000_000 / scale + 10,
      write: (path: string) => flood(path, 5_000_000 / scale, 2_000_000 / scale, 10),
      stop: true,
    },
    {
      name: `every bound full: ${fillSources} sources × ${fillPorts} ports`,
      file: `fill-v${VERSION}-${fillSources}-${fillPorts}.pcap`,
      syns: fillSources * fillPorts,
      sources: fillSources,
      write: (path: string) => fill(path, fillSources, fillPorts),
      stop: true,
    },
    {
      name: `${5_000_000 / scale} SYNs from 1000 sources`,
      file: `few-v${VERSION}-${5_000_000 / scale}-1000.pcap`,
      syns: 5_000_000 / scale,
      sources: 1000,
      write: (path: string) => flood(path, 5_000_000 / scale, 990, 10),
      stop: false,
    },
  ];
}

const PULSO = [DENO, ...PULSO_FLAGS];
const ENV = { PULSO_SECRET: "bench", PULSO_LOG: "info" };
const decoder = new TextDecoder();

function say(message: string): void {
  console.error(`bench: ${message}`);
}

/** Runs pulso --read on `path` under GNU time. */
async function readRun(path: string) {
  const timeFile = await Deno.makeTempFile({ prefix: "pulso-bench-time-" });
  try {
    const start = performance.now();
    const out = await new Deno.Command(TIME, {
      args: ["-f", "%M", "-o", timeFile, "--", ...PULSO, "--read", path],
      env: ENV,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const wall = (performance.now() - start) / 1000;
    const stderr = decoder.decode(out.stderr);
    if (!out.success) throw new Error(`pulso --read ${path} failed:\n${stderr.slice(-2000)}`);
    const rss = Number((await Deno.readTextFile(timeFile)).trim().split("\n").at(-1));
    return { wall, rss, stdout: decoder.decode(out.stdout), stderr };
  } finally {
    await Deno.remove(timeFile).catch(() => {});
  }
}

/**
 * Feeds `path` to pulso through a pipe left open, waits until pulso has counted it all, sends
 * SIGTERM, and measures the seconds until pulso has exited.
 */
async function stopRun(path: string, expected: number): Promise<number> {
  const child = new Deno.Command(PULSO[0], {
    args: [...PULSO.slice(1), "--read", "-"],
    env: ENV,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = new Response(child.stdout).text();
  const stderr = new Response(child.stderr).text();
  const writer = child.stdin.getWriter();
  using file = await Deno.open(path);
  for await (const chunk of file.readable) await writer.write(chunk);
  // Counted everything: its CPU time stands still for a second.
  let last = -1;
  for (let still = 0; still < 5;) {
    await new Promise((r) => setTimeout(r, 200));
    const now = processCpu(child.pid);
    still = now === last ? still + 1 : 0;
    last = now;
  }
  const start = performance.now();
  child.kill("SIGTERM");
  const status = await child.status;
  const seconds = (performance.now() - start) / 1000;
  await writer.close().catch(() => {});
  const log = await stderr;
  const digest = await stdout;
  if (status.code !== 0) {
    throw new Error(`pulso -r - failed (${status.code}):\n${log.slice(-2000)}`);
  }
  const counted = Number(/(\d+) connections \(stopped\)/.exec(log)?.[1]);
  if (counted !== expected) {
    throw new Error(`pulso -r - counted ${counted} of ${expected} SYNs before the stop:\n${log}`);
  }
  if (digest.length === 0) throw new Error("pulso -r - wrote no digest");
  return seconds;
}

/** Runs the memory benchmark; `runs` runs of each workload, alternating. */
export async function memory(tiny: boolean, runs: number): Promise<MemoryResult[]> {
  const work = `${ROOT}/bench-out`;
  const list = workloads(tiny);
  for (const w of list) {
    const path = `${work}/${w.file}`;
    try {
      await Deno.stat(path);
    } catch {
      say(`writing ${w.syns} SYNs to ${path}`);
      w.write(`${path}.part`);
      await Deno.rename(`${path}.part`, path);
    }
  }
  const walls = list.map(() => [] as number[]);
  const rss = list.map(() => 0);
  const last: { stdout: string; stderr: string }[] = [];
  for (let round = 0; round < runs; round++) {
    for (const [i, w] of list.entries()) {
      const run = await readRun(`${work}/${w.file}`);
      walls[i].push(run.wall);
      rss[i] = Math.max(rss[i], run.rss);
      last[i] = run;
      say(`memory: ${w.name}: run ${round + 1}, ${run.wall.toFixed(2)} s, ${run.rss} KiB`);
    }
  }
  const results: MemoryResult[] = [];
  for (const [i, w] of list.entries()) {
    const { stdout, stderr } = last[i];
    const counted = Number(/(\d+) connections \(end-of-file\)/.exec(stderr)?.[1]);
    if (counted !== w.syns) throw new Error(`${w.name}: pulso counted ${counted} SYNs\n${stderr}`);
    const result: MemoryResult = {
      name: w.name,
      file: w.file,
      syns: w.syns,
      sources: w.sources,
      wall: walls[i].sort((a, b) => a - b)[walls[i].length >> 1],
      maxRssKiB: rss[i],
      lines: stdout.trimEnd().split("\n").length,
      approximate: /~|other/.test(stdout),
      distinct: /\] (~?\d+) distinct sources/.exec(stderr)?.[1] ?? "?",
    };
    if (w.stop) {
      result.stopToDigest = await stopRun(`${work}/${w.file}`, w.syns);
      say(`memory: ${w.name}: digest ${result.stopToDigest.toFixed(3)} s after SIGTERM`);
    }
    results.push(result);
  }
  return results;
}
