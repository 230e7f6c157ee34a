/**
 * Command-line parsing: the same options, help and errors as the original pulso. Pure: no I/O.
 *
 * @module
 */

import { quote } from "./quote.ts";
import {
  DEFAULT_MAX_PORTS,
  DEFAULT_MAX_SOURCES,
  MAX_PORTS_LIMIT,
  MAX_SLOTS,
  MAX_SOURCES_LIMIT,
} from "./summary.ts";

/** What the command line asks for. */
export type Command =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "list-devices" }
  | { kind: "count"; options: CountOptions };

/** Options of a counting run. */
export interface CountOptions {
  /** Device to capture on live, or undefined when reading a file. */
  device?: string;
  /** Capture file to read (`-` for stdin), or undefined when capturing live. */
  read?: string;
  /** User BPF expression, ANDed with pulso's own filter. */
  filter?: string;
  /** Stop after this many events. */
  connectionLimit?: number;
  /** Stop after this many seconds (of capture time when reading a file). */
  timeLimit?: number;
  /** Print source addresses in clear instead of hashed. */
  noHash: boolean;
  /** Sources tracked at most. */
  maxSources: number;
  /** Ports tracked per source at most. */
  maxPorts: number;
  /** Sources listed per digest at most (the rest in `other:`); all when undefined. */
  top?: number;
  /** Count connection attempts: retransmitted SYNs are not counted again. */
  dedupe: boolean;
  /** Windows of this many seconds of capture time, each with its digest. */
  interval?: number;
  /** How digests are written on stdout. */
  format: OutputFormat;
  /** Where to serve Prometheus metrics (`HOST:PORT`, checked when the server starts). */
  listen?: string;
  /** Destination ports with a series of their own in the metrics, at most. */
  metricsPorts: number;
  /** Sources of the last window with a series of their own in the metrics, at most. */
  metricsSources: number;
}

/** The output formats of `--format`. */
export type OutputFormat = "text" | "json";

/** Default of `--metrics-ports`. */
export const DEFAULT_METRICS_PORTS = 64;
/** Default of `--metrics-sources`. */
export const DEFAULT_METRICS_SOURCES = 10;
/** Most series of either kind `--metrics-ports` and `--metrics-sources` allow. */
export const MAX_METRICS_SERIES = 1000;
/** Shortest `--interval`, in seconds. */
export const MIN_INTERVAL = 0.001;

/** A command line pulso cannot run: exit status 2, the message and the usage on stderr. */
export class UsageError extends Error {
  /** @param message what is wrong, one line */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The usage line. */
export const USAGE = "Usage: pulso [OPTIONS] <--device <DEVICE>|--read <FILE>>";

/** The text `--help` prints. */
export const HELP = `TCP connection counter

${USAGE}

Options:
  -d, --device <DEVICE>                      device name ("any" for all devices)
  -r, --read <FILE>                          read packets from a pcap or pcapng file ("-" for stdin)
  -f, --filter <EXPRESSION>                  BPF expression, ANDed with pulso's own filter
  -c, --connection-limit <CONNECTION_LIMIT>  max connections
  -t, --time-limit <TIME_LIMIT>              max seconds (of capture time with --read)
      --no-hash                              print source addresses in clear
      --max-sources <N>                      sources tracked at most [default: ${DEFAULT_MAX_SOURCES}]
      --max-ports <N>                        ports tracked per source at most [default: ${DEFAULT_MAX_PORTS}]
      --top <N>                              sources listed per digest at most, the rest in 'other' [default: all]
      --dedupe                               count attempts: a SYN repeated within 60 s counts once
  -i, --interval <SECONDS>                   a digest per window of capture time, on multiples of SECONDS
      --format <FORMAT>                      digest format: text or json (JSON Lines) [default: text]
      --listen <HOST:PORT>                   serve Prometheus metrics at http://HOST:PORT/metrics
      --metrics-ports <N>                    ports with a metrics series of their own [default: ${DEFAULT_METRICS_PORTS}]
      --metrics-sources <N>                  top sources of the last window in the metrics (0: none) [default: ${DEFAULT_METRICS_SOURCES}]
  -D, --list-devices                         list capture devices and exit
  -h, --help                                 Print help
  -V, --version                              Print version

Environment Variables:
  PULSO_SECRET    (required) encryption key used for sensitive information
  PULSO_LOG       log level on stderr: error, warn, info or debug
  LIBPCAP_PATH    libpcap shared library to load
`;

interface Spec {
  long: string;
  short?: string;
  value?: string;
}

const SPECS: readonly Spec[] = [
  { long: "device", short: "d", value: "DEVICE" },
  { long: "read", short: "r", value: "FILE" },
  { long: "filter", short: "f", value: "EXPRESSION" },
  { long: "connection-limit", short: "c", value: "CONNECTION_LIMIT" },
  { long: "time-limit", short: "t", value: "TIME_LIMIT" },
  { long: "no-hash" },
  { long: "max-sources", value: "N" },
  { long: "max-ports", value: "N" },
  { long: "top", value: "N" },
  { long: "dedupe" },
  { long: "interval", short: "i", value: "SECONDS" },
  { long: "format", value: "FORMAT" },
  { long: "listen", value: "HOST:PORT" },
  { long: "metrics-ports", value: "N" },
  { long: "metrics-sources", value: "N" },
  { long: "list-devices", short: "D" },
  { long: "help", short: "h" },
  { long: "version", short: "V" },
];

function display(spec: Spec): string {
  return spec.value ? `--${spec.long} <${spec.value}>` : `--${spec.long}`;
}

function unexpected(arg: string): UsageError {
  return new UsageError(`unexpected argument ${quote(arg)} found`);
}

/**
 * Parses the arguments (without the program name). Throws {@link UsageError} when they make
 * no sense.
 *
 * As clap does: a short option takes the rest of its argument as its value (`-c5`), without a
 * leading `=` (`-c=5`), or else the next argument, whatever it looks like (`-f -x`, `-c -1`: as
 * with clap's `allow_hyphen_values`); a bare `--` ends the options, and anything after it is
 * refused; `--help` and `--version` answer as soon as they are met; a value is checked when the
 * next option is met or the line ends (at once when attached: `-c5`, `--connection-limit=5`), so
 * before any check of the whole line, and is dropped unchecked when an unknown argument comes
 * first. Values in messages are shown by {@link quote}, escaped.
 *
 * @example
 * ```ts
 * parseCommandLine(["-d", "lo", "-c", "2"]);
 * // { kind: "count", options: { device: "lo", connectionLimit: 2, noHash: false } }
 * ```
 */
export function parseCommandLine(args: readonly string[]): Command {
  const seen = new Map<string, string | number | true>();
  const accept = (spec: Spec, value: string | true) => {
    if (seen.has(spec.long)) {
      throw new UsageError(`the argument ${quote(display(spec))} cannot be used multiple times`);
    }
    seen.set(spec.long, typeof value === "string" ? check(spec, value) : value);
  };
  // An option whose value comes in the next argument, and that value once it has come.
  let pending: { spec: Spec; value?: string } | undefined;
  const resolve = () => {
    if (!pending) return;
    const { spec, value } = pending;
    pending = undefined;
    if (value === undefined) {
      throw new UsageError(
        `a value is required for ${quote(display(spec))} but none was supplied`,
      );
    }
    accept(spec, value);
  };
  // A flag: help and version answer at once.
  const flag = (spec: Spec): Command | undefined => {
    resolve();
    if (spec.long === "help") return { kind: "help" };
    if (spec.long === "version") return { kind: "version" };
    accept(spec, true);
    return undefined;
  };
  // An option that takes a value: `attached` when given in the same argument.
  const option = (spec: Spec, attached: string | undefined) => {
    resolve();
    if (attached === undefined) pending = { spec };
    else accept(spec, attached);
  };
  let ended = false;
  for (const arg of args) {
    if (pending && pending.value === undefined) {
      pending.value = arg;
    } else if (ended) {
      throw unexpected(arg);
    } else if (arg === "--") {
      ended = true;
    } else if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const attached = eq < 0 ? undefined : arg.slice(eq + 1);
      const spec = SPECS.find((s) => s.long === name);
      if (!spec) throw unexpected(`--${name}`);
      if (spec.value) {
        option(spec, attached);
      } else if (attached !== undefined) {
        throw new UsageError(
          `unexpected value ${quote(attached)} for ${
            quote(display(spec))
          } found; no more were expected`,
        );
      } else {
        const command = flag(spec);
        if (command) return command;
      }
    } else if (arg.startsWith("-") && arg !== "-") {
      // A cluster of short flags, the last of which may take a value (`-c5`, `-c=5`, `-c 5`).
      for (let j = 1; j < arg.length;) {
        const short = String.fromCodePoint(arg.codePointAt(j)!);
        j += short.length;
        const spec = SPECS.find((s) => s.short === short);
        if (!spec) throw unexpected(`-${short}`);
        if (!spec.value) {
          const command = flag(spec);
          if (command) return command;
          continue;
        }
        const rest = arg.slice(j);
        option(spec, rest === "" ? undefined : rest.startsWith("=") ? rest.slice(1) : rest);
        break;
      }
    } else {
      throw unexpected(arg);
    }
  }
  resolve();

  if (seen.has("list-devices")) return { kind: "list-devices" };

  const text = (name: string) => seen.get(name) as string | undefined;
  const device = text("device");
  const read = text("read");
  if (device !== undefined && read !== undefined) {
    throw new UsageError("the argument '--device <DEVICE>' cannot be used with '--read <FILE>'");
  }
  if (device === undefined && read === undefined) {
    throw new UsageError(
      "the following required arguments were not provided:\n  <--device <DEVICE>|--read <FILE>>",
    );
  }
  if (device === "") throw new UsageError("a device name must not be empty");
  if (read === "") throw new UsageError("a file name must not be empty");
  const maxSources = (seen.get("max-sources") as number | undefined) ?? DEFAULT_MAX_SOURCES;
  const maxPorts = (seen.get("max-ports") as number | undefined) ?? DEFAULT_MAX_PORTS;
  if (maxSources * maxPorts > MAX_SLOTS) {
    throw new UsageError(
      `'--max-sources ${maxSources}' with '--max-ports ${maxPorts}' would track ` +
        `${maxSources * maxPorts} ports; at most ${MAX_SLOTS} are allowed`,
    );
  }
  const options: CountOptions = {
    noHash: seen.has("no-hash"),
    maxSources,
    maxPorts,
    dedupe: seen.has("dedupe"),
    format: (seen.get("format") as OutputFormat | undefined) ?? "text",
    metricsPorts: (seen.get("metrics-ports") as number | undefined) ?? DEFAULT_METRICS_PORTS,
    metricsSources: (seen.get("metrics-sources") as number | undefined) ??
      DEFAULT_METRICS_SOURCES,
  };
  const top = seen.get("top") as number | undefined;
  if (top !== undefined) options.top = top;
  const interval = seen.get("interval") as number | undefined;
  if (interval !== undefined) options.interval = interval;
  const listen = text("listen");
  if (listen !== undefined) options.listen = listen;
  if (device !== undefined) options.device = device;
  if (read !== undefined) options.read = read;
  const filter = text("filter");
  if (filter !== undefined) options.filter = filter;
  const limit = seen.get("connection-limit") as number | undefined;
  if (limit !== undefined) options.connectionLimit = limit;
  const time = seen.get("time-limit") as number | undefined;
  if (time !== undefined) options.timeLimit = time;
  return { kind: "count", options };
}

/** A value as it is kept: the limits as numbers, checked. */
function check(spec: Spec, value: string): string | number {
  switch (spec.long) {
    case "connection-limit":
      return parsePositive(value, display(spec), true);
    case "time-limit":
      return parsePositive(value, display(spec), false);
    case "max-sources":
      return parseBound(value, display(spec), MAX_SOURCES_LIMIT);
    case "max-ports":
      return parseBound(value, display(spec), MAX_PORTS_LIMIT);
    case "top":
      return parseBound(value, display(spec), MAX_SOURCES_LIMIT);
    case "metrics-ports":
      return parseBound(value, display(spec), MAX_METRICS_SERIES);
    case "metrics-sources":
      // 0: no series per source at all, not even hashed.
      return value === "0" ? 0 : parseBound(value, display(spec), MAX_METRICS_SERIES);
    case "interval": {
      const n = parsePositive(value, display(spec), false);
      if (n < MIN_INTERVAL) {
        throw new UsageError(
          `invalid value ${quote(value)} for ${quote(display(spec))}: at least ${MIN_INTERVAL}`,
        );
      }
      return n;
    }
    case "format":
      if (value !== "text" && value !== "json") {
        throw new UsageError(
          `invalid value ${quote(value)} for ${quote(display(spec))}: expected text or json`,
        );
      }
      return value;
    default:
      return value;
  }
}

function parseBound(value: string, option: string, max: number): number {
  const n = parsePositive(value, option, true);
  if (n > max) {
    throw new UsageError(`invalid value ${quote(value)} for ${quote(option)}: at most ${max}`);
  }
  return n;
}

/** Largest time limit: about 100 years, far past any capture, well inside a double. */
const MAX_SECONDS = 100 * 365 * 86400;

function parsePositive(value: string, option: string, integer: boolean): number {
  // No trimming: like Rust's `str::parse`, blanks around the number make it invalid.
  const pattern = integer ? /^\+?\d+$/ : /^\+?(\d+\.?\d*|\.\d+)$/;
  const n = Number(value);
  const kind = integer ? "a positive integer" : "a positive number of seconds";
  if (!pattern.test(value) || !(n > 0)) {
    throw new UsageError(`invalid value ${quote(value)} for ${quote(option)}: expected ${kind}`);
  }
  if (integer ? !Number.isSafeInteger(n) : n > MAX_SECONDS) {
    throw new UsageError(`invalid value ${quote(value)} for ${quote(option)}: too large`);
  }
  return n;
}
