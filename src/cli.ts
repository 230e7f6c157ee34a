/**
 * Command-line parsing: the same options, help and errors as the original pulso. Pure: no I/O.
 *
 * @module
 */

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
}

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
  { long: "list-devices", short: "D" },
  { long: "help", short: "h" },
  { long: "version", short: "V" },
];

function display(spec: Spec): string {
  return spec.value ? `--${spec.long} <${spec.value}>` : `--${spec.long}`;
}

/**
 * Parses the arguments (without the program name). Throws {@link UsageError} when they make
 * no sense.
 *
 * @example
 * ```ts
 * parseCommandLine(["-d", "lo", "-c", "2"]);
 * // { kind: "count", options: { device: "lo", connectionLimit: 2, noHash: false } }
 * ```
 */
export function parseCommandLine(args: readonly string[]): Command {
  const seen = new Map<string, string | true>();
  const set = (spec: Spec, value: string | true) => {
    if (seen.has(spec.long)) {
      throw new UsageError(`the argument '${display(spec)}' cannot be used multiple times`);
    }
    seen.set(spec.long, value);
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg.startsWith("--") && arg.length > 2) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const spec = SPECS.find((s) => s.long === name);
      if (!spec) throw new UsageError(`unexpected argument '${arg}' found`);
      if (spec.value) {
        let value: string | undefined;
        if (eq >= 0) value = arg.slice(eq + 1);
        else if (i + 1 < args.length) value = args[++i];
        if (value === undefined) {
          throw new UsageError(`a value is required for '${display(spec)}' but none was supplied`);
        }
        set(spec, value);
      } else {
        if (eq >= 0) throw new UsageError(`unexpected value for '${display(spec)}' in '${arg}'`);
        set(spec, true);
      }
    } else if (arg.startsWith("-") && arg.length > 1 && arg !== "--") {
      // A cluster of short flags, the last of which may take a value (`-c5`, `-c 5`).
      for (let j = 1; j < arg.length; j++) {
        const spec = SPECS.find((s) => s.short === arg[j]);
        if (!spec) throw new UsageError(`unexpected argument '-${arg[j]}' found`);
        if (!spec.value) {
          set(spec, true);
          continue;
        }
        let value: string | undefined = arg.slice(j + 1);
        if (value === "") value = i + 1 < args.length ? args[++i] : undefined;
        if (value === undefined) {
          throw new UsageError(`a value is required for '${display(spec)}' but none was supplied`);
        }
        set(spec, value);
        break;
      }
    } else {
      throw new UsageError(`unexpected argument '${arg}' found`);
    }
  }

  if (seen.has("help")) return { kind: "help" };
  if (seen.has("version")) return { kind: "version" };
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
  const options: CountOptions = { noHash: seen.has("no-hash") };
  if (device !== undefined) options.device = device;
  if (read !== undefined) options.read = read;
  const filter = text("filter");
  if (filter !== undefined) options.filter = filter;
  const limit = text("connection-limit");
  if (limit !== undefined) {
    options.connectionLimit = parsePositive(limit, "--connection-limit <CONNECTION_LIMIT>", true);
  }
  const time = text("time-limit");
  if (time !== undefined) {
    options.timeLimit = parsePositive(time, "--time-limit <TIME_LIMIT>", false);
  }
  return { kind: "count", options };
}

/** Largest time limit: about 100 years, far past any capture, well inside a double. */
const MAX_SECONDS = 100 * 365 * 86400;

function parsePositive(value: string, option: string, integer: boolean): number {
  const pattern = integer ? /^\+?\d+$/ : /^\+?(\d+\.?\d*|\.\d+)$/;
  const n = Number(value);
  const kind = integer ? "a positive integer" : "a positive number of seconds";
  if (!pattern.test(value.trim()) || !(n > 0)) {
    throw new UsageError(`invalid value '${value}' for '${option}': expected ${kind}`);
  }
  if (integer ? !Number.isSafeInteger(n) : n > MAX_SECONDS) {
    throw new UsageError(`invalid value '${value}' for '${option}': too large`);
  }
  return n;
}
