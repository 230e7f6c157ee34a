/**
 * The pulso command: counts new TCP connections per source and destination port.
 *
 * Exit status: 0 when a limit was reached, the file ended or a signal stopped the capture;
 * 1 on a runtime error (device, permission, libpcap, damaged file); 2 on a usage error.
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };
import {
  LibpcapLoadError,
  libraryVersion,
  listDevices,
  PcapError,
  PcapStatus,
} from "../ffi/libpcap.ts";
import { processAgeMs } from "../ffi/libc.ts";
import {
  CaptureSession,
  type CaptureSummary,
  FilterError,
  FINAL_DRAIN_MS,
  UnsupportedLinkTypeError,
} from "./capture.ts";
import { type CountOptions, HELP, parseCommandLine, USAGE, UsageError } from "./cli.ts";
import { ConnectionCounter } from "./counter.ts";
import { buildDigest, clearSource, formatDigest, type SourceNamer } from "./digest.ts";
import { flushLogs, log, setupLogging } from "./log.ts";

/** Exit statuses. */
export const Exit = { OK: 0, FAILURE: 1, USAGE: 2 } as const;

const encoder = new TextEncoder();

/** Writes all of `text` to a stream; false when the reader is gone (closed pipe). */
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

function fail(message: string): number {
  writeAll(Deno.stderr, `error: ${message}\n`);
  return Exit.FAILURE;
}

function usageError(message: string): number {
  writeAll(Deno.stderr, `error: ${message}\n\n${USAGE}\n\nFor more information, try '--help'.\n`);
  return Exit.USAGE;
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
      writeAll(Deno.stdout, HELP);
      return Exit.OK;
    case "version":
      writeAll(Deno.stdout, `pulso ${denoJson.version}\n`);
      return Exit.OK;
    case "list-devices":
      return printDevices();
    case "count":
      return await count(command.options);
  }
}

function printDevices(): number {
  try {
    const devices = listDevices();
    let out = "";
    devices.forEach((d, i) => {
      const flags = [d.up ? "Up, Running" : undefined, d.loopback ? "Loopback" : undefined]
        .filter(Boolean).join(", ");
      out += `${i + 1}.${d.name}${d.description ? ` (${d.description})` : ""}` +
        `${flags ? ` [${flags}]` : ""}\n`;
    });
    writeAll(Deno.stdout, out);
    return Exit.OK;
  } catch (e) {
    if (e instanceof LibpcapLoadError || e instanceof PcapError) return fail(e.message);
    throw e;
  }
}

async function count(options: CountOptions): Promise<number> {
  let secret: string | undefined;
  if (!options.noHash) {
    secret = Deno.env.get("PULSO_SECRET");
    if (!secret) {
      return usageError(
        "the environment variable PULSO_SECRET must be set to a non-empty secret " +
          "(or use --no-hash to print addresses in clear)",
      );
    }
  }
  setupLogging(Deno.env);

  // Signals stop the capture (and the digest is printed) from now on.
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  try {
    return await countUntilStopped(options, secret, stop);
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
  }
}

async function countUntilStopped(
  options: CountOptions,
  secret: string | undefined,
  stop: AbortController,
): Promise<number> {
  const counter = new ConnectionCounter();
  let session: CaptureSession;
  try {
    session = options.read !== undefined
      ? CaptureSession.openFile(
        options.read,
        counter,
        options.filter,
        options.timeLimit !== undefined,
      )
      : CaptureSession.openLive(options.device!, counter, options.filter);
  } catch (e) {
    if (e instanceof FilterError) return usageError(e.message);
    if (e instanceof PcapError) return fail(explainOpenError(e));
    if (e instanceof LibpcapLoadError || e instanceof UnsupportedLinkTypeError) {
      return fail(`${e.message}${options.read ? ` in '${options.read}'` : ""}`);
    }
    throw e;
  }

  const source = options.read !== undefined
    ? `file '${options.read}'`
    : `device '${options.device}'`;
  log.info(`Capturing on ${source}, link type ${session.linkTypeName}, ${libraryVersion()}`);
  log.info(`Filter: ${session.filter}`);
  if (session.warning) log.warn(`libpcap: ${session.warning}`);

  let cancelTimer = () => {};
  if (options.timeLimit !== undefined && options.read === undefined) {
    // The time limit counts from the start of the process. Stopping ends with a last drain
    // that waits for the kernel's buffer timeout: start it that much earlier.
    const age = Math.max(processAgeMs() ?? 0, performance.now());
    cancelTimer = setLongTimeout(
      () => stop.abort(),
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
    });
  } finally {
    cancelTimer();
    session.close();
  }

  if (summary.stats) {
    const { received, dropped, ifDropped } = summary.stats;
    log.info(
      `${received} packets received by filter, ${dropped} dropped by kernel, ${ifDropped} dropped by interface`,
    );
  }
  log.info(
    `${summary.packets} packets decoded, ${summary.malformed} malformed, ${counter.total} connections (${summary.reason})`,
  );

  const name = secret === undefined ? clearSource : await hashedSource(secret);
  const digest = formatDigest(buildDigest(counter.entries(), name));
  writeAll(Deno.stdout, digest);
  if (summary.error) {
    return fail(`Damaged capture file '${options.read}': ${summary.error.message}`);
  }
  return Exit.OK;
}

/** Names sources by their keyed hash; the hashing code is loaded only when a digest needs it. */
async function hashedSource(secret: string): Promise<SourceNamer> {
  const { KeyedHasher } = await import("./keyed_hash.ts");
  const hasher = new KeyedHasher(secret);
  return (address) => hasher.hash(address);
}

function explainOpenError(e: PcapError): string {
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
  await flushLogs();
  Deno.exit(status);
}
