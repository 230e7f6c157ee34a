import assert from "node:assert/strict";
import {
  type Command,
  DEFAULT_METRICS_PORTS,
  DEFAULT_METRICS_SOURCES,
  HELP,
  parseCommandLine,
  USAGE,
  UsageError,
} from "./cli.ts";
import { quote } from "./quote.ts";
import { DEFAULT_MAX_PORTS, DEFAULT_MAX_SOURCES } from "./summary.ts";

const DEFAULTS = {
  noHash: false,
  maxSources: DEFAULT_MAX_SOURCES,
  maxPorts: DEFAULT_MAX_PORTS,
  dedupe: false,
  format: "text",
  metricsPorts: DEFAULT_METRICS_PORTS,
  metricsSources: DEFAULT_METRICS_SOURCES,
};

function count(options: Record<string, unknown>): Command {
  return { kind: "count", options: { ...DEFAULTS, ...options } } as Command;
}

Deno.test("device: -d, --device, --device=", () => {
  assert.deepEqual(parseCommandLine(["-d", "lo"]), count({ device: "lo" }));
  assert.deepEqual(parseCommandLine(["--device", "eth0"]), count({ device: "eth0" }));
  assert.deepEqual(parseCommandLine(["--device=lo"]), count({ device: "lo" }));
  assert.deepEqual(parseCommandLine(["-dany"]), count({ device: "any" }));
  // A value may contain '='.
  assert.deepEqual(parseCommandLine(["--device=a=b"]), count({ device: "a=b" }));
});

Deno.test("read: -r, --read, stdin", () => {
  assert.deepEqual(parseCommandLine(["-r", "x.pcap"]), count({ read: "x.pcap" }));
  assert.deepEqual(parseCommandLine(["--read", "-"]), count({ read: "-" }));
  assert.deepEqual(
    parseCommandLine(["--read=/tmp/a b.pcapng"]),
    count({ read: "/tmp/a b.pcapng" }),
  );
});

Deno.test("connection limit: -c5, -c 5, --connection-limit", () => {
  assert.deepEqual(
    parseCommandLine(["-c5", "-d", "lo"]),
    count({ device: "lo", connectionLimit: 5 }),
  );
  assert.deepEqual(
    parseCommandLine(["-d", "lo", "-c", "5"]),
    count({ device: "lo", connectionLimit: 5 }),
  );
  assert.deepEqual(
    parseCommandLine(["--connection-limit", "12", "-r", "f"]),
    count({ read: "f", connectionLimit: 12 }),
  );
  assert.deepEqual(
    parseCommandLine(["--connection-limit=1", "-r", "f"]),
    count({ read: "f", connectionLimit: 1 }),
  );
});

Deno.test("time limit: -t 1, -t 0.5, --time-limit=", () => {
  assert.deepEqual(
    parseCommandLine(["-d", "lo", "-t", "1"]),
    count({ device: "lo", timeLimit: 1 }),
  );
  assert.deepEqual(
    parseCommandLine(["-d", "lo", "-t", "0.5"]),
    count({ device: "lo", timeLimit: 0.5 }),
  );
  assert.deepEqual(
    parseCommandLine(["--time-limit=30", "-r", "f"]),
    count({ read: "f", timeLimit: 30 }),
  );
});

Deno.test("--no-hash, -f and --filter", () => {
  assert.deepEqual(
    parseCommandLine(["--no-hash", "-d", "lo"]),
    count({ device: "lo", noHash: true }),
  );
  assert.deepEqual(
    parseCommandLine(["-r", "f", "-f", "tcp port 80"]),
    count({ read: "f", filter: "tcp port 80" }),
  );
  assert.deepEqual(
    parseCommandLine(["-r", "f", "--filter", "host 10.0.0.1"]),
    count({ read: "f", filter: "host 10.0.0.1" }),
  );
  assert.deepEqual(
    parseCommandLine(["--filter=dst port 443", "--read=f"]),
    count({ read: "f", filter: "dst port 443" }),
  );
  // Everything at once.
  assert.deepEqual(
    parseCommandLine(["-d", "any", "-c", "3", "-t", "2", "--no-hash", "-f", "tcp"]),
    count({ device: "any", connectionLimit: 3, timeLimit: 2, noHash: true, filter: "tcp" }),
  );
});

Deno.test("--max-sources, --max-ports and --dedupe", () => {
  assert.deepEqual(
    parseCommandLine(["-r", "f", "--max-sources", "10", "--max-ports=3", "--dedupe"]),
    count({ read: "f", maxSources: 10, maxPorts: 3, dedupe: true }),
  );
  assert.deepEqual(
    parseCommandLine(["-r", "f", "--max-ports", "65536", "--max-sources=2048"]),
    count({ read: "f", maxSources: 2048, maxPorts: 65536 }),
  );
  assert.deepEqual(
    parseCommandLine(["-r", "f", "--top", "10"]),
    count({ read: "f", top: 10 }),
  );
  assert.deepEqual(parseCommandLine(["-r", "f", "--top=16777216"]).kind, "count");
  for (
    const [args, text] of [
      [
        ["--max-sources", "0"],
        "invalid value '0' for '--max-sources <N>': expected a positive integer",
      ],
      [
        ["--max-ports", "1.5"],
        "invalid value '1.5' for '--max-ports <N>': expected a positive integer",
      ],
      [["--max-ports", "65537"], "invalid value '65537' for '--max-ports <N>': at most 65536"],
      [
        ["--max-sources", "16777217"],
        "invalid value '16777217' for '--max-sources <N>': at most 16777216",
      ],
      [
        ["--max-sources", "16777216", "--max-ports", "9"],
        "'--max-sources 16777216' with '--max-ports 9' would track 150994944 ports; at most 134217728 are allowed",
      ],
      [["--dedupe=yes"], "unexpected value 'yes' for '--dedupe' found; no more were expected"],
      [["--top", "0"], "invalid value '0' for '--top <N>': expected a positive integer"],
      [["--top=-3"], "invalid value '-3' for '--top <N>': expected a positive integer"],
      [["--top", "2.5"], "invalid value '2.5' for '--top <N>': expected a positive integer"],
      [["--top", "16777217"], "invalid value '16777217' for '--top <N>': at most 16777216"],
      [["--top", "1", "--top", "2"], "the argument '--top <N>' cannot be used multiple times"],
    ] as const
  ) {
    assert.throws(() => parseCommandLine(["-r", "f", ...args]), (e: Error) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.message, text);
      return true;
    });
  }
});

Deno.test("-D, -h, -V and their long forms need no device", () => {
  assert.deepEqual(parseCommandLine(["-D"]), { kind: "list-devices" });
  assert.deepEqual(parseCommandLine(["--list-devices"]), { kind: "list-devices" });
  assert.deepEqual(parseCommandLine(["-h"]), { kind: "help" });
  assert.deepEqual(parseCommandLine(["--help"]), { kind: "help" });
  assert.deepEqual(parseCommandLine(["-V"]), { kind: "version" });
  assert.deepEqual(parseCommandLine(["--version"]), { kind: "version" });
  // Help wins over an otherwise incomplete command line.
  assert.deepEqual(parseCommandLine(["-c", "5", "-h"]), { kind: "help" });
});

function usageError(args: string[], pattern?: RegExp): void {
  assert.throws(
    () => parseCommandLine(args),
    (e: unknown) => {
      assert.ok(e instanceof UsageError, `${JSON.stringify(args)}: ${e}`);
      assert.equal(e.name, "UsageError");
      if (pattern) assert.match(e.message, pattern);
      return true;
    },
    JSON.stringify(args),
  );
}

Deno.test("UsageError: no arguments, or neither device nor file", () => {
  usageError([], /required arguments were not provided/);
  usageError(["-c", "5"], /required arguments/);
  usageError(["--no-hash"], /required arguments/);
});

Deno.test("UsageError: unknown options and stray arguments", () => {
  usageError(["--bogus", "-d", "lo"], /unexpected argument '--bogus'/);
  usageError(["-x", "-d", "lo"], /unexpected argument '-x'/);
  usageError(["-d", "lo", "extra"], /unexpected argument 'extra'/);
  usageError(["-d", "lo", "--no-hash=yes"], /unexpected value/);
});

Deno.test("UsageError: missing values", () => {
  usageError(["-d"], /a value is required for '--device <DEVICE>'/);
  usageError(["--device"], /a value is required/);
  usageError(["-d", "lo", "-c"], /--connection-limit/);
  usageError(["-r"], /--read <FILE>/);
  usageError(["-d", ""], /must not be empty/);
  usageError(["--read="], /must not be empty/);
});

Deno.test("UsageError: both --device and --read", () => {
  usageError(["-d", "lo", "-r", "f"], /cannot be used with/);
  usageError(["--read=f", "--device=lo"], /cannot be used with/);
});

Deno.test("UsageError: bad limits", () => {
  for (const c of ["0", "abc", "-1", "1.5", "", "5x", "9007199254740993"]) {
    usageError(["-d", "lo", "-c", c], /connection-limit/);
  }
  usageError(["-d", "lo", "-c0"]);
  for (const t of ["0", "x", "-1", "", "1e3", "0.0", "99999999999999"]) {
    usageError(["-d", "lo", "-t", t], /time-limit/);
  }
});

Deno.test("UsageError: an option repeated", () => {
  usageError(["-d", "lo", "-d", "eth0"], /cannot be used multiple times/);
  usageError(["-d", "lo", "--device=eth0"], /multiple times/);
  usageError(["-r", "f", "-c", "1", "-c", "2"], /multiple times/);
  usageError(["-r", "f", "--no-hash", "--no-hash"], /multiple times/);
  usageError(["-r", "f", "-f", "tcp", "--filter", "udp"], /multiple times/);
});

Deno.test("HELP and USAGE", () => {
  assert.ok(HELP.startsWith("TCP connection counter\n"));
  assert.ok(HELP.includes(USAGE));
  for (
    const option of [
      "--device",
      "--read",
      "--filter",
      "--no-hash",
      "--top <N>",
      "-D",
      "PULSO_SECRET",
    ]
  ) {
    assert.ok(HELP.includes(option), option);
  }
});

/** The message of the UsageError that `args` throw. */
function message(args: string[]): string {
  try {
    parseCommandLine(args);
  } catch (e) {
    assert.ok(e instanceof UsageError, `${JSON.stringify(args)}: ${e}`);
    return e.message;
  }
  assert.fail(`${JSON.stringify(args)}: no UsageError`);
}

const LIMIT = "'--connection-limit <CONNECTION_LIMIT>'";
const TIME = "'--time-limit <TIME_LIMIT>'";

Deno.test("messages, byte for byte", () => {
  assert.equal(
    message(["-d"]),
    "a value is required for '--device <DEVICE>' but none was supplied",
  );
  assert.equal(
    message(["-d", "lo", "-d", "x"]),
    "the argument '--device <DEVICE>' cannot be used multiple times",
  );
  assert.equal(
    message(["-r", "f", "--no-hash", "--no-hash"]),
    "the argument '--no-hash' cannot be used multiple times",
  );
  assert.equal(
    message(["-d", "lo", "-r", "f"]),
    "the argument '--device <DEVICE>' cannot be used with '--read <FILE>'",
  );
  assert.equal(
    message([]),
    "the following required arguments were not provided:\n  <--device <DEVICE>|--read <FILE>>",
  );
  assert.equal(message(["-d", ""]), "a device name must not be empty");
  assert.equal(message(["-r", ""]), "a file name must not be empty");
  assert.equal(
    message(["-d", "lo", "-c", "0"]),
    `invalid value '0' for ${LIMIT}: expected a positive integer`,
  );
  assert.equal(
    message(["-d", "lo", "-c", "9007199254740993"]),
    `invalid value '9007199254740993' for ${LIMIT}: too large`,
  );
  assert.equal(
    message(["-d", "lo", "-t", "x"]),
    `invalid value 'x' for ${TIME}: expected a positive number of seconds`,
  );
  assert.equal(
    message(["-d", "lo", "-t", "99999999999999"]),
    `invalid value '99999999999999' for ${TIME}: too large`,
  );
  assert.equal(message(["--kungfu"]), "unexpected argument '--kungfu' found");
  assert.equal(message(["-d", "lo", "-x"]), "unexpected argument '-x' found");
  assert.equal(message(["-d", "lo", "extra"]), "unexpected argument 'extra' found");
});

Deno.test("a short option followed by '=' takes the rest as its value, as clap does", () => {
  assert.deepEqual(parseCommandLine(["-d=lo"]), count({ device: "lo" }));
  assert.deepEqual(parseCommandLine(["-r=x.pcap"]), count({ read: "x.pcap" }));
  assert.deepEqual(parseCommandLine(["-r=-"]), count({ read: "-" }));
  assert.deepEqual(
    parseCommandLine(["-d=lo", "-c=5"]),
    count({ device: "lo", connectionLimit: 5 }),
  );
  assert.deepEqual(parseCommandLine(["-d=lo", "-t=0.5"]), count({ device: "lo", timeLimit: 0.5 }));
  assert.deepEqual(
    parseCommandLine(["-r=f", "-f=tcp port 80"]),
    count({ read: "f", filter: "tcp port 80" }),
  );
  // Only the first '=' goes; in a cluster too.
  assert.deepEqual(parseCommandLine(["-d=a=b"]), count({ device: "a=b" }));
  assert.deepEqual(
    parseCommandLine(["--no-hash", "-r=f"]),
    count({ read: "f", noHash: true }),
  );
  assert.equal(
    message(["-d", "lo", "-c=="]),
    `invalid value '=' for ${LIMIT}: expected a positive integer`,
  );
  // An empty value after '=' is a value all the same, an invalid one.
  assert.equal(
    message(["-d", "lo", "-c="]),
    `invalid value '' for ${LIMIT}: expected a positive integer`,
  );
  assert.equal(
    message(["-d", "lo", "-t="]),
    `invalid value '' for ${TIME}: expected a positive number of seconds`,
  );
  assert.equal(message(["-d="]), "a device name must not be empty");
  assert.equal(message(["-r="]), "a file name must not be empty");
});

Deno.test("limits are not trimmed: blanks around a number are refused, as clap does", () => {
  for (const c of [" 5 ", " 5", "5 ", "5\n", "\t5", "\u00a05"]) {
    assert.equal(
      message(["-d", "lo", "-c", c]),
      `invalid value ${quote(c)} for ${LIMIT}: expected a positive integer`,
    );
    usageError(["-d", "lo", `-c${c}`], /invalid value/);
    usageError(["-d", "lo", `--connection-limit=${c}`], /invalid value/);
  }
  for (const t of [" 0.5 ", " 1", "1 ", "1\n", "\r1"]) {
    assert.equal(
      message(["-d", "lo", "-t", t]),
      `invalid value ${quote(t)} for ${TIME}: expected a positive number of seconds`,
    );
  }
});

Deno.test("values in messages are quoted with control characters escaped", () => {
  assert.equal(
    message(["-d", "lo", "-c", "a\nb"]),
    `invalid value 'a\\nb' for ${LIMIT}: expected a positive integer`,
  );
  assert.equal(
    message(["-d", "lo", "-t", "1\x1b[2J"]),
    `invalid value '1\\u{1b}[2J' for ${TIME}: expected a positive number of seconds`,
  );
  assert.equal(message(["-d", "lo", "x\ny"]), "unexpected argument 'x\\ny' found");
  assert.equal(message(["-d", "lo", "it's"]), "unexpected argument 'it\\'s' found");
  assert.equal(message(["--bo\rgus"]), "unexpected argument '--bo\\rgus' found");
  assert.equal(message(["-\t"]), "unexpected argument '-\\t' found");
  assert.equal(message(["-d", "lo", "\u2028"]), "unexpected argument '\\u{2028}' found");
  assert.equal(message(["-d", "lo", "\ud800"]), "unexpected argument '\\u{d800}' found");
  assert.match(message(["-r", "f", "--no-hash=a\nb"]), /^unexpected value 'a\\nb' /);
  for (
    const args of [
      ["-d", "lo", "-c", "\r\n\x00\x7f\x85\u2029"],
      ["-d", "lo", "\r\n\x00\x7f\x85\u2029"],
      ["--\r\n\x00\x7f\x85\u2029"],
      ["-\x85"],
    ]
  ) {
    assert.doesNotMatch(message(args), /[\p{Cc}\p{Zl}\p{Zp}]/u, JSON.stringify(args));
  }
});

Deno.test("'--' ends the options, as clap does: nothing may follow it", () => {
  assert.deepEqual(parseCommandLine(["-d", "lo", "--"]), count({ device: "lo" }));
  assert.equal(message(["-d", "lo", "--", "x"]), "unexpected argument 'x' found");
  assert.equal(message(["-d", "lo", "--", "-h"]), "unexpected argument '-h' found");
  assert.equal(message(["-d", "lo", "--", "--"]), "unexpected argument '--' found");
  assert.equal(message(["--"]), message([]));
  // A value is still a value.
  assert.deepEqual(parseCommandLine(["-r", "f", "-f", "--"]), count({ read: "f", filter: "--" }));
});

Deno.test("clap's wording: unknown --name=value, and a value given to a flag", () => {
  assert.equal(message(["--bogus=3", "-d", "lo"]), "unexpected argument '--bogus' found");
  assert.equal(message(["--=3"]), "unexpected argument '--' found");
  assert.equal(
    message(["-d", "lo", "--no-hash=yes"]),
    "unexpected value 'yes' for '--no-hash' found; no more were expected",
  );
  assert.equal(
    message(["-d", "lo", "--help="]),
    "unexpected value '' for '--help' found; no more were expected",
  );
  // A short flag has no '=': it is one more (unknown) flag of the cluster.
  assert.equal(message(["-d", "lo", "-D=x"]), "unexpected argument '-=' found");
  // A short option is a character, not half of a surrogate pair.
  assert.equal(message(["-d", "lo", "-😀"]), "unexpected argument '-😀' found");
  assert.equal(message(["-d", "lo", "-D😀"]), "unexpected argument '-😀' found");
  assert.deepEqual(parseCommandLine(["-d😀"]), count({ device: "😀" }));
});

Deno.test("-h and -V act where they are met, as clap does", () => {
  assert.deepEqual(parseCommandLine(["-h", "--bogus"]), { kind: "help" });
  assert.deepEqual(parseCommandLine(["-hx"]), { kind: "help" });
  assert.deepEqual(parseCommandLine(["-h", "-h"]), { kind: "help" });
  assert.deepEqual(parseCommandLine(["-V", "-h"]), { kind: "version" });
  assert.deepEqual(parseCommandLine(["-Vh"]), { kind: "version" });
  assert.deepEqual(parseCommandLine(["-h", "-V"]), { kind: "help" });
  assert.deepEqual(parseCommandLine(["-D", "-V"]), { kind: "version" });
  assert.deepEqual(parseCommandLine(["-h", "-d", "lo", "-d", "x"]), { kind: "help" });
  // What comes before still counts.
  assert.equal(message(["--bogus", "-h"]), "unexpected argument '--bogus' found");
  assert.match(message(["-d", "lo", "-d", "x", "-h"]), /cannot be used multiple times/);
});

Deno.test("limits are checked as they are parsed, before what comes after them", () => {
  const invalid = `invalid value 'abc' for ${LIMIT}: expected a positive integer`;
  assert.equal(message(["-c", "abc"]), invalid);
  assert.equal(message(["-c", "abc", "-h"]), invalid);
  assert.equal(message(["-c", "abc", "--version"]), invalid);
  assert.equal(message(["-cabc", "-h"]), invalid);
  assert.equal(message(["-d", "lo", "-r", "f", "-c", "abc"]), invalid);
  assert.equal(message(["-c", "abc", "-c", "5", "-d", "lo"]), invalid);
  assert.equal(message(["-t", "0", "-c", "abc", "-d", "lo"]), message(["-d", "lo", "-t", "0"]));
  // clap leaves a separate value pending until the next option, and drops it on an unknown one.
  assert.equal(message(["-c", "abc", "--bogus"]), "unexpected argument '--bogus' found");
  assert.equal(message(["-c", "abc", "extra"]), "unexpected argument 'extra' found");
  assert.equal(message(["-cabc", "--bogus"]), invalid);
  assert.equal(message(["--connection-limit=abc", "extra"]), invalid);
  // A repeated option is refused when its second value is taken in.
  assert.equal(
    message(["-d", "lo", "-c", "5", "-c", "abc"]),
    `the argument ${LIMIT} cannot be used multiple times`,
  );
});

Deno.test("collector options: --interval, --format, --listen, --metrics-ports, --metrics-sources", () => {
  assert.deepEqual(
    parseCommandLine(["-d", "lo", "-i", "60", "--format", "json", "--listen", "[::1]:9464"]),
    count({ device: "lo", interval: 60, format: "json", listen: "[::1]:9464" }),
  );
  assert.deepEqual(
    parseCommandLine(["-r", "-", "--interval=0.5", "--metrics-ports=3", "--metrics-sources", "0"]),
    count({ read: "-", interval: 0.5, metricsPorts: 3, metricsSources: 0 }),
  );
  assert.deepEqual(
    parseCommandLine(["-r", "-", "-i0.001", "--metrics-sources", "1000"]),
    count({ read: "-", interval: 0.001, metricsSources: 1000 }),
  );
  for (
    const [args, message] of [
      [["-i", "0"], "invalid value '0' for '--interval <SECONDS>': expected a positive number"],
      [["-i", "0.0009"], "invalid value '0.0009' for '--interval <SECONDS>': at least 0.001"],
      [["--format", "JSON"], "invalid value 'JSON' for '--format <FORMAT>': expected text or json"],
      [
        ["--metrics-ports", "0"],
        "invalid value '0' for '--metrics-ports <N>': expected a positive",
      ],
      [["--metrics-sources", "1001"], "invalid value '1001' for '--metrics-sources <N>': at most"],
    ] as const
  ) {
    assert.throws(
      () => parseCommandLine(["-r", "x", ...args]),
      (e) => e instanceof UsageError && e.message.startsWith(message),
      args.join(" "),
    );
  }
});
