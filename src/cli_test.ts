import assert from "node:assert/strict";
import { type Command, HELP, parseCommandLine, USAGE, UsageError } from "./cli.ts";

function count(options: Record<string, unknown>): Command {
  return { kind: "count", options: { noHash: false, ...options } } as Command;
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
  assert.deepEqual(parseCommandLine(["--no-hash", "-d", "lo"]), {
    kind: "count",
    options: { device: "lo", noHash: true },
  });
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
    {
      kind: "count",
      options: {
        device: "any",
        connectionLimit: 3,
        timeLimit: 2,
        noHash: true,
        filter: "tcp",
      },
    },
  );
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
  for (const option of ["--device", "--read", "--filter", "--no-hash", "-D", "PULSO_SECRET"]) {
    assert.ok(HELP.includes(option), option);
  }
});
