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
import { quote, systemMessage } from "./quote.ts";
import { type CountOptions, HELP, parseCommandLine, USAGE, UsageError } from "./cli.ts";
import { ConnectionCounter } from "./counter.ts";
import { DEDUPE_SECONDS, RetransmissionFilter } from "./dedupe.ts";
import { buildDigest, clearSource, digestText, type SourceNamer } from "./digest.ts";
import { flushLogs, log, setupLogging } from "./log.ts";

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

/** Writes to stdout; false when it cannot (a full disk: said on stderr), true otherwise. */
function output(text: string): boolean {
  try {
    writeAll(Deno.stdout, text);
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
  const counter = new ConnectionCounter({
    maxSources: options.maxSources,
    maxPorts: options.maxPorts,
  });
  const dedupe = options.dedupe ? new RetransmissionFilter() : undefined;
  // Stops the capture: a signal, or the live time limit.
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  stopSignal.addEventListener("abort", onSignal, { once: true });
  if (stopSignal.aborted) stop.abort();
  let timedOut = false;
  const namer = options.read === undefined && secret !== undefined
    ? await hashedSource(secret)
    : undefined;
  let session: CaptureSession;
  try {
    session = options.read !== undefined
      ? await CaptureSession.openFile(options.read, counter, {
        ...(options.filter !== undefined ? { filter: options.filter } : {}),
        timed: options.timeLimit !== undefined,
        signal: stop.signal,
      })
      : CaptureSession.openLive(options.device!, counter, options.filter);
  } catch (e) {
    for (const warning of takeLoadWarnings()) log.info(warning);
    if (e instanceof StoppedError) {
      log.info(`Stopped by ${receivedSignal() ?? "a signal"} before the capture was open`);
      return Exit.OK;
    }
    if (e instanceof FilterError) return usageError(e.message);
    if (e instanceof PcapError) return fail(explainOpenError(e, options.read === undefined));
    if (e instanceof LibpcapLoadError || e instanceof UnsupportedLinkTypeError) {
      return fail(`${e.message}${options.read ? ` in ${quote(options.read)}` : ""}`);
    }
    throw e;
  }
  for (const warning of takeLoadWarnings()) log.info(warning);
  // Ready before the capture runs: the digest must not wait for it after a stop. (Live, it is
  // made before the device opens: from then on the kernel's buffer fills.)
  let name: SourceNamer;
  try {
    name = namer ?? (secret === undefined ? clearSource : await hashedSource(secret));
  } catch (e) {
    session.close();
    throw e;
  }

  const source = options.read !== undefined
    ? `file ${quote(options.read)}`
    : `device ${quote(options.device!)}`;
  log.info(
    `Capturing on ${source}${
      session.streamed ? " (a stream)" : ""
    }, link type ${session.linkTypeName}, ${libraryVersion()}`,
  );
  log.info(`Filter: ${session.filter}`);
  if (session.warning) log.warn(`libpcap: ${session.warning}`);

  let cancelTimer = () => {};
  if (options.timeLimit !== undefined && options.read === undefined) {
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

  let summary: CaptureSummary;
  try {
    summary = await session.run({
      ...(options.connectionLimit !== undefined
        ? { connectionLimit: options.connectionLimit }
        : {}),
      ...(options.read !== undefined && options.timeLimit !== undefined
        ? { timeLimit: options.timeLimit }
        : {}),
      signal: stop.signal,
      ...(dedupe ? { dedupe } : {}),
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
    session.close();
  }
  const reason = summary.reason === "stopped" && timedOut ? "time-limit" : summary.reason;

  if (summary.stats) {
    const { received, dropped, ifDropped } = summary.stats;
    const text =
      `${received} packets received by filter, ${dropped} dropped by kernel, ${ifDropped} dropped by interface`;
    // A loss is never silent.
    if (dropped + ifDropped > 0) log.warn(`${text}: the digest is short of them`);
    else log.info(text);
  }
  log.info(
    `${summary.packets} packets decoded, ${summary.malformed} malformed, ${counter.total} connections (${reason})`,
  );
  if (dedupe) {
    log.info(
      `${dedupe.retransmissions} retransmitted SYNs not counted, ` +
        `${dedupe.forgotten} attempts forgotten within ${DEDUPE_SECONDS} s for want of room`,
    );
  }

  const bounded = counter.summarize();
  const digest = buildDigest(bounded, name);
  log.info(
    `${digest.distinctSourcesExact ? "" : "~"}${digest.distinctSources} distinct sources` +
      (digest.distinctSourcesExact ? "" : " (estimated)"),
  );
  if (!digest.exact) {
    log.info(
      `Bounds reached (--max-sources ${bounded.maxSources}, --max-ports ${bounded.maxPorts}): ` +
        `${bounded.replacedSources} sources and ${bounded.replacedPorts} ports lost their place; ` +
        "'~' marks lower bounds, 'other' what no listed source or port is credited with",
    );
  }
  for (const text of digestText(digest)) if (!output(text)) return Exit.FAILURE;
  if (summary.error) {
    return fail(
      options.read !== undefined
        ? `Damaged capture file ${quote(options.read)}: ${summary.error.message}`
        : `Capture on ${quote(options.device!)} failed: ${summary.error.message}`,
    );
  }
  return Exit.OK;
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
