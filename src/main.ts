/**
 * The pulso command: counts new TCP connections per source and destination port.
 *
 * Exit status: 0 when a limit was reached, the file ended or a signal stopped the capture;
 * 1 on a runtime error (device, permission, libpcap, damaged file); 2 on a usage error.
 *
 * @module
 */
// First: a stop signal that comes while pulso starts must not kill it.
import { receivedSignal, stopSignal } from "./stop_signals.ts";
import denoJson from "../deno.json" with { type: "json" };
import {
  LibpcapLoadError,
  libraryVersion,
  listDevices,
  PcapError,
  PcapStatus,
  takeLoadWarnings,
} from "../ffi/libpcap.ts";
import { environmentBytes, processAgeMs } from "../ffi/libc.ts";
import {
  CaptureSession,
  type CaptureSummary,
  FilterError,
  FINAL_DRAIN_MS,
  StoppedError,
  UnsupportedLinkTypeError,
} from "./capture.ts";
import { EnvironmentError, readVariable, safeEnvironment, VARIABLES } from "./environment.ts";
import { quote } from "./quote.ts";
import { type CountOptions, HELP, parseCommandLine, USAGE, UsageError } from "./cli.ts";
import { DEDUPE_SECONDS, RetransmissionFilter } from "./dedupe.ts";
import { clearSource, type SourceNamer } from "./digest.ts";
import { CaptureTotals } from "./capture_totals.ts";
import { Collector } from "./collector.ts";
import { MetricsExposition, type MetricsSnapshot } from "./metrics.ts";
import {
  formatListen,
  ListenError,
  ListenUsageError,
  MetricsServer,
  parseListen,
} from "./metrics_server.ts";
import type { CaptureCounters, CaptureProgress } from "./windows.ts";
import { beforeLogLine, flushLogs, log, logsAt, setupLogging } from "./log.ts";
import { Stdout, writeAll } from "./stdout.ts";
import {
  InlineSink,
  type WindowMeta,
  WindowRotation,
  type WindowSink,
  WindowWriter,
} from "./window_output.ts";
import { WorkerSink } from "./output_thread.ts";
import { StatusLine } from "./status_line.ts";

/** Exit statuses. */
export const Exit = { OK: 0, FAILURE: 1, USAGE: 2 } as const;

/** Writes to stderr; a closed or full stderr is ignored: it never changes the exit status. */
function tell(text: string): void {
  try {
    writeAll(Deno.stderr, text);
  } catch {
    // Nowhere left to say it.
  }
}

function fail(message: string): number {
  tell(`error: ${message}\n`);
  return Exit.FAILURE;
}

function usageError(message: string): number {
  tell(`error: ${message}\n\n${USAGE}\n\nFor more information, try '--help'.\n`);
  return Exit.USAGE;
}

const stdout = new Stdout();

/** Writes to stdout; false when it cannot (a full disk: said on stderr), true otherwise. */
function output(text: string): boolean {
  if (stdout.write(text)) return true;
  fail(stdout.error!);
  return false;
}

/** Runs pulso with `args`; resolves to the exit status. */
export async function main(args: readonly string[]): Promise<number> {
  let command;
  try {
    command = parseCommandLine(args);
  } catch (e) {
    if (e instanceof UsageError) return usageError(e.message);
    throw e;
  }
  switch (command.kind) {
    case "help":
      return output(HELP) ? Exit.OK : Exit.FAILURE;
    case "version":
      return output(`pulso ${denoJson.version}\n`) ? Exit.OK : Exit.FAILURE;
  }
  // Every variable is checked before any is used: a value that is not UTF-8 is named, never
  // shown.
  try {
    for (const name of VARIABLES) if (name !== "PULSO_SECRET") readVariable(name);
  } catch (e) {
    if (e instanceof EnvironmentError) return usageError(e.message);
    throw e;
  }
  setupLogging(safeEnvironment());
  if (command.kind === "list-devices") return printDevices();
  return await count(command.options);
}

function printDevices(): number {
  try {
    const devices = listDevices();
    for (const warning of takeLoadWarnings()) log.info(warning);
    let out = "";
    devices.forEach((d, i) => {
      const flags = [d.up ? "Up, Running" : undefined, d.loopback ? "Loopback" : undefined]
        .filter(Boolean).join(", ");
      out += `${i + 1}.${d.name}${d.description ? ` (${d.description})` : ""}` +
        `${flags ? ` [${flags}]` : ""}\n`;
    });
    return output(out) ? Exit.OK : Exit.FAILURE;
  } catch (e) {
    if (e instanceof LibpcapLoadError || e instanceof PcapError) return fail(e.message);
    throw e;
  }
}

/** The secret: text, or its bytes when it is not UTF-8 (as the original tool read it). */
function readSecret(): string | Uint8Array | undefined {
  try {
    return Deno.env.get("PULSO_SECRET");
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) throw e;
    // Not UTF-8 (Deno's error would quote the secret): the bytes, from the C library.
    const bytes = environmentBytes("PULSO_SECRET");
    if (bytes === undefined) throw new EnvironmentError("PULSO_SECRET");
    return bytes;
  }
}

async function count(options: CountOptions): Promise<number> {
  let secret: string | Uint8Array | undefined;
  if (!options.noHash) {
    try {
      secret = readSecret();
    } catch (e) {
      if (e instanceof EnvironmentError) return usageError(e.message);
      throw e;
    }
    if (!secret || secret.length === 0) {
      return usageError(
        "the environment variable PULSO_SECRET must be set to a non-empty secret " +
          "(or use --no-hash to print addresses in clear)",
      );
    }
  }
  // The stop signals stay caught until the process exits: a second one, while the digest is
  // written, must not kill pulso either.
  return await countUntilStopped(options, secret);
}

async function countUntilStopped(
  options: CountOptions,
  secret: string | Uint8Array | undefined,
): Promise<number> {
  const live = options.read === undefined;
  const dedupe = options.dedupe ? new RetransmissionFilter() : undefined;
  // Exact totals per destination port, for the metrics: counted only when they are served.
  const ports = options.listen !== undefined ? new Float64Array(65536) : undefined;
  // The status line, once shown, is cleared before anything else is written.
  const status: { line?: StatusLine } = {};
  // What the metrics show of the last window, from the windows' writer.
  const collector = new Collector({
    format: options.format,
    windowed: options.interval !== undefined,
    write: () => true,
  });
  const capture: CaptureView = { session: undefined, totals: new CaptureTotals(), live };
  let server: MetricsServer | undefined;
  if (options.listen !== undefined) {
    // Before the capture: a port in use or a bad address stops pulso before it counts.
    const started = await serveMetrics(options, () =>
      collector.snapshot({
        connections: capture.session?.connections ?? 0,
        malformed: capture.session?.malformed ?? 0,
        distinctSources: () => capture.session?.distinctSources() ?? { count: 0, exact: true },
        ...optional("capture", captureTotals(capture)),
        ...optional("retransmissions", dedupe?.retransmissions),
      }, ports!));
    if (typeof started === "number") return started;
    server = started;
  }
  try {
    return await capture_(options, secret, { dedupe, ports, collector, capture, status });
  } finally {
    status.line?.close();
    beforeLogLine(undefined);
    await server?.close();
  }
}

/** The capture being counted, for the metrics, which may be read before it is open. */
interface CaptureView {
  session: CaptureSession | undefined;
  /** libpcap's counters as 64-bit totals (its own are 32-bit, and wrap). */
  totals: CaptureTotals;
  live: boolean;
}

/** libpcap's counters now, as monotonic totals (live captures). */
function captureTotals(view: CaptureView): CaptureCounters | undefined {
  if (!view.live) return undefined;
  const stats = view.session?.stats();
  if (stats) view.totals.update(stats);
  const { received, dropped, ifDropped } = view.totals;
  return { received, dropped, ifDropped };
}

/** `{ [key]: value }`, or nothing when the value is undefined. */
function optional<K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [k in K]?: V };
}

/** Starts the metrics endpoint; an exit status when it cannot. */
async function serveMetrics(
  options: CountOptions,
  snapshot: () => MetricsSnapshot,
): Promise<MetricsServer | number> {
  let address;
  try {
    address = parseListen(options.listen!);
  } catch (e) {
    if (e instanceof ListenUsageError) return usageError(e.message);
    throw e;
  }
  let version: string;
  try {
    version = libraryVersion();
  } catch (e) {
    if (e instanceof LibpcapLoadError) return fail(e.message);
    throw e;
  }
  const exposition = new MetricsExposition({
    version: denoJson.version,
    libpcap: version,
    maxPortSeries: options.metricsPorts,
    maxSourceSeries: options.metricsSources,
  });
  try {
    const server = await MetricsServer.start(
      address,
      (format) => exposition.render(snapshot(), format),
    );
    // The port bound, when 0 asked for any.
    log.info(`Serving metrics on ${formatListen({ ...address, port: server.port })} (/metrics)`);
    return server;
  } catch (e) {
    if (e instanceof ListenError) return fail(e.message);
    throw e;
  }
}

/** What the capture hands its windows and counts to. */
interface Outputs {
  dedupe: RetransmissionFilter | undefined;
  ports: Float64Array | undefined;
  collector: Collector;
  capture: CaptureView;
  status: { line?: StatusLine };
}

async function capture_(
  options: CountOptions,
  secret: string | Uint8Array | undefined,
  { dedupe, ports, collector, capture, status }: Outputs,
): Promise<number> {
  const bounds = { maxSources: options.maxSources, maxPorts: options.maxPorts };
  const live = capture.live;
  // Stops the capture: a signal, or the live time limit.
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  stopSignal.addEventListener("abort", onSignal, { once: true });
  if (stopSignal.aborted) stop.abort();
  let timedOut = false;
  // Whole microseconds: at least 1000, as the command line allows no less than 1 ms.
  const intervalUs = options.interval === undefined
    ? undefined
    : Math.round(options.interval * 1e6);
  const sink = await windowSink(options, secret, intervalUs, live);
  if (typeof sink === "number") {
    stopSignal.removeEventListener("abort", onSignal);
    return sink;
  }
  try {
    return await captureInto(options, { dedupe, ports, collector, capture, status }, {
      bounds,
      intervalUs,
      sink,
      stop,
      onSignal,
      timedOut: () => timedOut,
      onTimeout: () => {
        timedOut = true;
        stop.abort();
      },
    });
  } finally {
    stopSignal.removeEventListener("abort", onSignal);
    sink.close();
  }
}

/**
 * Where windows are written: live, the output worker, started (its hasher made) before the
 * device opens, since from then on the kernel's buffer fills; a file, the capture's own thread.
 * An exit status when the worker cannot start.
 */
async function windowSink(
  options: CountOptions,
  secret: string | Uint8Array | undefined,
  intervalUs: number | undefined,
  live: boolean,
): Promise<WindowSink | number> {
  const writer = {
    ...(intervalUs !== undefined ? { intervalUs } : {}),
    format: options.format,
    topSources: options.listen !== undefined ? options.metricsSources : 0,
    ...optional("top", options.top),
  };
  if (live) {
    try {
      return await WorkerSink.start(writer, secret);
    } catch (e) {
      return fail(e instanceof Error ? e.message : String(e));
    }
  }
  return new InlineSink(async () => {
    const name = secret === undefined ? clearSource : await hashedSource(secret);
    return new WindowWriter(writer, name, stdout);
  });
}

/** How a capture is run and stopped. */
interface RunControl {
  bounds: { maxSources: number; maxPorts: number };
  intervalUs: number | undefined;
  sink: WindowSink;
  stop: AbortController;
  onSignal: () => void;
  timedOut: () => boolean;
  onTimeout: () => void;
}

async function captureInto(
  options: CountOptions,
  { dedupe, ports, collector, capture, status }: Outputs,
  { bounds, intervalUs, sink, stop, onSignal, timedOut, onTimeout }: RunControl,
): Promise<number> {
  const live = capture.live;
  // stdout could not be written: the capture stops, and pulso fails.
  let unwritable = false;
  const written = (meta: WindowMeta) => {
    collector.adopt(meta.kept);
    if (meta.error !== undefined && !unwritable) {
      unwritable = true;
      fail(meta.error);
      stop.abort();
    }
    // Nobody reads the windows any more: pulso ends quietly, as a one-shot digest would.
    if (meta.stdoutClosed && !stop.signal.aborted) stop.abort();
  };
  let session: CaptureSession | undefined;
  const progress = (): CaptureProgress => ({
    packets: session?.packets ?? 0,
    malformed: session?.malformed ?? 0,
    ...optional("capture", captureTotals(capture)),
    ...optional("retransmissions", dedupe?.retransmissions),
  });
  const rotation = new WindowRotation({
    sink,
    bounds,
    intervalUs,
    progress,
    onWindow: written,
    beforeWrite: () => status.line?.clear(),
  });
  if (sink instanceof WorkerSink) {
    sink.onFailure = (e) => {
      if (unwritable) return;
      unwritable = true;
      fail(e.message);
      stop.abort();
    };
  }
  try {
    session = !live
      ? await CaptureSession.openFile(options.read!, rotation.counter, {
        ...(options.filter !== undefined ? { filter: options.filter } : {}),
        timed: options.timeLimit !== undefined,
        signal: stop.signal,
      })
      : CaptureSession.openLive(options.device!, rotation.counter, options.filter);
  } catch (e) {
    for (const warning of takeLoadWarnings()) log.info(warning);
    if (e instanceof StoppedError) {
      log.info(`Stopped by ${receivedSignal() ?? "a signal"} before the capture was open`);
      return Exit.OK;
    }
    if (e instanceof FilterError) return usageError(e.message);
    if (e instanceof PcapError) return fail(explainOpenError(e, live));
    if (e instanceof LibpcapLoadError || e instanceof UnsupportedLinkTypeError) {
      return fail(`${e.message}${options.read ? ` in ${quote(options.read)}` : ""}`);
    }
    throw e;
  }
  capture.session = session;
  rotation.attach(session);
  // Ready before the capture runs: the digest must not wait for it after a stop.
  if (sink instanceof InlineSink) {
    try {
      await sink.prepare();
    } catch (e) {
      session.close();
      throw e;
    }
  }
  for (const warning of takeLoadWarnings()) log.info(warning);

  const source = !live ? `file ${quote(options.read!)}` : `device ${quote(options.device!)}`;
  log.info(
    `Capturing on ${source}${
      session.streamed ? " (a stream)" : ""
    }, link type ${session.linkTypeName}, ${libraryVersion()}`,
  );
  log.info(`Filter: ${session.filter}`);
  if (session.warning) log.warn(`libpcap: ${session.warning}`);

  const edges = rotation.edges;
  // Without windows, a live capture's one digest spans from now to the stop.
  if (!edges && live) rotation.begin(Date.now() * 1000);

  let cancelTimer = () => {};
  if (options.timeLimit !== undefined && live) {
    // The time limit counts from the start of the process. Stopping ends with a last drain
    // that waits for the kernel's buffer timeout: start it that much earlier.
    const age = Math.max(processAgeMs() ?? 0, performance.now());
    cancelTimer = setLongTimeout(onTimeout, options.timeLimit * 1000 - age - FINAL_DRAIN_MS);
  }

  status.line = await statusLine(options, session, capture);

  let summary: CaptureSummary;
  try {
    summary = await session.run({
      ...optional("connectionLimit", options.connectionLimit),
      ...optional("timeLimit", live ? undefined : options.timeLimit),
      signal: stop.signal,
      ...optional("dedupe", dedupe),
      ...optional("ports", ports),
      ...optional("edges", edges),
      // A JSON digest gives the capture's span: a file's first and last packets' times.
      timed: options.format === "json",
      onDrops: once(({ dropped, ifDropped }) =>
        log.warn(
          `Packets are being dropped (${dropped} by the kernel, ${ifDropped} by the interface ` +
            "so far): pulso is not keeping up, and its counts will be short",
        )
      ),
    });
  } finally {
    cancelTimer();
    stopSignal.removeEventListener("abort", onSignal);
  }
  status.line?.close();
  const reason = summary.reason === "stopped" && timedOut() ? "time-limit" : summary.reason;
  const last = progress();
  session.close();

  if (last.capture) {
    const { received, dropped, ifDropped } = last.capture;
    const text =
      `${received} packets received by filter, ${dropped} dropped by kernel, ${ifDropped} dropped by interface`;
    // A loss is never silent.
    if (dropped + ifDropped > 0) log.warn(`${text}: the digest is short of them`);
    else log.info(text);
  }
  log.info(
    `${summary.packets} packets decoded, ${summary.malformed} malformed, ${session.connections} connections (${reason})`,
  );
  if (dedupe) {
    log.info(
      `${dedupe.retransmissions} retransmitted SYNs not counted, ` +
        `${dedupe.forgotten} attempts forgotten within ${DEDUPE_SECONDS} s for want of room`,
    );
  }
  if (summary.longestGapMs !== undefined) {
    const bound = summary.gapBoundMs;
    log.debug(
      `Longest gap between drains: ${summary.longestGapMs.toFixed(2)} ms under load (` +
        (bound === undefined
          ? "no rate seen"
          : `the bound at the highest rate seen: ${bound.toFixed(2)} ms`) +
        ")",
    );
  }
  if (rotation.stalls > 0) {
    log.warn(
      `Windows came faster than they were written: the capture waited ${
        rotation.stalledMs.toFixed(0)
      } ms for the output at ${rotation.stalls} edges`,
    );
  }

  // The last window: from the last edge (or the start) to where the capture stopped.
  if (!edges && !live && session.firstTimeUs !== undefined) rotation.begin(session.firstTimeUs);
  const end = live ? Date.now() * 1000 : session.lastTimeUs;
  let meta: WindowMeta;
  try {
    meta = await rotation.finish(end, last);
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e));
  }
  if (meta.published) {
    log.info(
      `${meta.distinctSourcesExact ? "" : "~"}${meta.distinctSources} distinct sources` +
        (meta.distinctSourcesExact ? "" : " (estimated)") + (edges ? " in the last window" : ""),
    );
    if (!meta.exact) {
      log.info(
        `Bounds reached (--max-sources ${bounds.maxSources}, --max-ports ${bounds.maxPorts}): ` +
          `${meta.replacedSources} sources and ${meta.replacedPorts} ports lost their place; ` +
          "'~' marks lower bounds, 'other' what no listed source or port is credited with",
      );
    }
  }
  written(meta);
  if (unwritable) return Exit.FAILURE;
  if (summary.error) {
    return fail(
      !live
        ? `Damaged capture file ${quote(options.read!)}: ${summary.error.message}`
        : `Capture on ${quote(options.device!)} failed: ${summary.error.message}`,
    );
  }
  return Exit.OK;
}

/**
 * The status line on stderr, when it is a terminal and logging is at `warn` or quieter; with
 * the share read of a regular file.
 */
async function statusLine(
  options: CountOptions,
  session: CaptureSession,
  capture: CaptureView,
): Promise<StatusLine | undefined> {
  if (logsAt("info") || !Deno.stderr.isTerminal()) return undefined;
  let size: number | undefined;
  if (options.read !== undefined && session.fileOffset !== undefined) {
    try {
      const info = await Deno.stat(options.read);
      if (info.isFile && info.size > 0) size = info.size;
    } catch {
      // No share read, then.
    }
  }
  const started = performance.now();
  const line = new StatusLine(
    { write: tell, columns: () => Deno.consoleSize().columns },
    () => {
      const offset = size === undefined ? undefined : session.fileOffset;
      const totals = captureTotals(capture);
      return {
        elapsedMs: performance.now() - started,
        connections: session.connections,
        ...optional("dropped", totals && totals.dropped + totals.ifDropped),
        ...optional("read", offset === undefined ? undefined : Math.min(1, offset / size!)),
      };
    },
    () => session.distinctSources(),
  );
  beforeLogLine(() => line.clear());
  return line;
}

/** `f`, called at most once. */
function once<T>(f: (value: T) => void): (value: T) => void {
  let called = false;
  return (value) => {
    if (called) return;
    called = true;
    f(value);
  };
}

/** Names sources by their keyed hash; the hashing code is loaded only when a digest needs it. */
async function hashedSource(secret: string | Uint8Array): Promise<SourceNamer> {
  const { KeyedHasher } = await import("./keyed_hash.ts");
  const hasher = await KeyedHasher.create(secret);
  return (address) => hasher.hash(address);
}

function explainOpenError(e: PcapError, live: boolean): string {
  if (!live) return e.message;
  if (
    e.status === PcapStatus.PERM_DENIED || e.status === PcapStatus.PROMISC_PERM_DENIED ||
    /permission|not permitted/i.test(e.message)
  ) {
    return `${e.message}; capturing needs root, or the capabilities: ` +
      "setcap cap_net_raw,cap_net_admin=eip <pulso binary>";
  }
  if (e.status === PcapStatus.NO_SUCH_DEVICE) {
    return `${e.message}; 'pulso --list-devices' lists the devices`;
  }
  return e.message;
}

/** Calls `callback` after `ms` milliseconds, even beyond setTimeout's 24.8-day limit; returns
 * a function that cancels it. */
function setLongTimeout(callback: () => void, ms: number): () => void {
  const MAX = 2 ** 31 - 1;
  let id: ReturnType<typeof setTimeout>;
  const step = (left: number) => {
    id = left > MAX ? setTimeout(() => step(left - MAX), MAX) : setTimeout(callback, left);
  };
  step(Math.max(0, ms));
  return () => clearTimeout(id);
}

if (import.meta.main) {
  let status: number;
  try {
    status = await main(Deno.args);
  } catch (e) {
    status = fail(e instanceof Error ? e.message : String(e));
  }
  try {
    await flushLogs();
  } catch {
    // The log could not be written: it never changes the status.
  }
  Deno.exit(status);
}
