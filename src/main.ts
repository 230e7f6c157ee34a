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
  type Edges,
  FilterError,
  FINAL_DRAIN_MS,
  StoppedError,
  UnsupportedLinkTypeError,
} from "./capture.ts";
import { EnvironmentError, readVariable, safeEnvironment, VARIABLES } from "./environment.ts";
import { quote, systemMessage } from "./quote.ts";
import { type CountOptions, HELP, parseCommandLine, USAGE, UsageError } from "./cli.ts";
import { ConnectionCounter } from "./counter.ts";
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
import {
  type CaptureCounters,
  type CaptureProgress,
  WindowRecorder,
  type WindowReport,
} from "./windows.ts";
import { beforeLogLine, flushLogs, log, logsAt, setupLogging } from "./log.ts";
import { StatusLine } from "./status_line.ts";

/** Exit statuses. */
export const Exit = { OK: 0, FAILURE: 1, USAGE: 2 } as const;

const encoder = new TextEncoder();

/**
 * Writes all of `text` to a stream; false when the reader is gone (closed pipe). Other write
 * errors (a full disk) are thrown.
 */
function writeAll(stream: { writeSync(p: Uint8Array): number }, text: string): boolean {
  let bytes = encoder.encode(text);
  try {
    while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.BrokenPipe) return false;
    throw e;
  }
}

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

/** Whether stdout's reader has gone (`pulso … | head -1`). */
let stdoutClosed = false;

/** Writes to stdout; false when it cannot (a full disk: said on stderr), true otherwise. */
function output(text: string): boolean {
  try {
    if (!stdoutClosed && !writeAll(Deno.stdout, text)) stdoutClosed = true;
    return true;
  } catch (e) {
    fail(`Cannot write to stdout: ${systemMessage(e)}`);
    return false;
  }
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
  const collector = new Collector({
    format: options.format,
    windowed: options.interval !== undefined,
    write: (text) => {
      status.line?.clear();
      return output(text);
    },
    topSources: options.listen !== undefined ? options.metricsSources : 0,
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
  const counter = new ConnectionCounter(bounds);
  const live = capture.live;
  // Stops the capture: a signal, or the live time limit.
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  stopSignal.addEventListener("abort", onSignal, { once: true });
  if (stopSignal.aborted) stop.abort();
  let timedOut = false;
  const namer = live && secret !== undefined ? await hashedSource(secret) : undefined;
  let session: CaptureSession;
  try {
    session = !live
      ? await CaptureSession.openFile(options.read!, counter, {
        ...(options.filter !== undefined ? { filter: options.filter } : {}),
        timed: options.timeLimit !== undefined,
        signal: stop.signal,
      })
      : CaptureSession.openLive(options.device!, counter, options.filter);
  } catch (e) {
    stopSignal.removeEventListener("abort", onSignal);
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
  for (const warning of takeLoadWarnings()) log.info(warning);
  // Ready before the capture runs: the digest must not wait for it after a stop. (Live, it is
  // made before the device opens: from then on the kernel's buffer fills.)
  let name: SourceNamer;
  try {
    name = namer ?? (secret === undefined ? clearSource : await hashedSource(secret));
  } catch (e) {
    stopSignal.removeEventListener("abort", onSignal);
    session.close();
    throw e;
  }

  const source = !live ? `file ${quote(options.read!)}` : `device ${quote(options.device!)}`;
  log.info(
    `Capturing on ${source}${
      session.streamed ? " (a stream)" : ""
    }, link type ${session.linkTypeName}, ${libraryVersion()}`,
  );
  log.info(`Filter: ${session.filter}`);
  if (session.warning) log.warn(`libpcap: ${session.warning}`);

  // Whole microseconds: at least 1000, as the command line allows no less than 1 ms.
  const intervalUs = options.interval === undefined
    ? undefined
    : Math.round(options.interval * 1e6);
  const windows = new WindowRecorder(intervalUs, name, optional("top", options.top));
  const progress = (): CaptureProgress => ({
    packets: session.packets,
    malformed: session.malformed,
    ...optional("capture", captureTotals(capture)),
    ...optional("retransmissions", dedupe?.retransmissions),
  });
  // stdout could not be written: the capture stops, and pulso fails.
  let unwritable = false;
  const publish = (report: WindowReport) => {
    if (!unwritable && !collector.publish(report)) {
      unwritable = true;
      stop.abort();
    }
    // Nobody reads the windows any more: pulso ends quietly, as a one-shot digest would.
    if (stdoutClosed && !stop.signal.aborted) stop.abort();
  };
  // Two counters take turns: the one of the window that ended is cleared once its digest is
  // written, and counts the window after next in the same memory.
  let spare: ConnectionCounter | undefined;
  const edges: Edges | undefined = intervalUs === undefined ? undefined : {
    begin: (timeUs) => windows.begin(timeUs),
    cross: (edgeUs) => {
      const finished = session.swapCounter(spare ?? new ConnectionCounter(bounds));
      publish(windows.close(edgeUs, finished, progress()));
      finished.clear();
      spare = finished;
      return windows.edge;
    },
  };
  // Without windows, a live capture's one digest spans from now to the stop.
  if (!edges && live) windows.begin(Date.now() * 1000);

  let cancelTimer = () => {};
  if (options.timeLimit !== undefined && live) {
    // The time limit counts from the start of the process. Stopping ends with a last drain
    // that waits for the kernel's buffer timeout: start it that much earlier.
    const age = Math.max(processAgeMs() ?? 0, performance.now());
    cancelTimer = setLongTimeout(
      () => {
        timedOut = true;
        stop.abort();
      },
      options.timeLimit * 1000 - age - FINAL_DRAIN_MS,
    );
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
  const reason = summary.reason === "stopped" && timedOut ? "time-limit" : summary.reason;
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

  // The last window: from the last edge (or the start) to where the capture stopped.
  if (!edges && !live && session.firstTimeUs !== undefined) windows.begin(session.firstTimeUs);
  const finished = session.swapCounter(new ConnectionCounter(bounds));
  const end = live ? Date.now() * 1000 : session.lastTimeUs;
  const report = windows.close(end, finished, last, true);
  if (!edges || report.start !== undefined) {
    const digest = report.digest;
    log.info(
      `${digest.distinctSourcesExact ? "" : "~"}${digest.distinctSources} distinct sources` +
        (digest.distinctSourcesExact ? "" : " (estimated)") + (edges ? " in the last window" : ""),
    );
    if (!digest.exact) {
      log.info(
        `Bounds reached (--max-sources ${bounds.maxSources}, --max-ports ${bounds.maxPorts}): ` +
          `${report.replacedSources} sources and ${report.replacedPorts} ports lost their place; ` +
          "'~' marks lower bounds, 'other' what no listed source or port is credited with",
      );
    }
    publish(report);
  }
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
