/**
 * The command line, as users run it: help, usage errors and their exit status, and the errors
 * that need no capture. Run pulso as a subprocess.
 */
import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { CORPUS, have, pulso, PULSO_RUN } from "./_pulso.ts";

/** stderr is one line (plus its newline) with no stack trace. */
function assertOneLine(stderr: string): void {
  assert.equal(stderr.trimEnd().split("\n").length, 1, `one line expected, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
}

Deno.test("--help exits 0 and describes pulso", async () => {
  const run = await pulso(["--help"]);
  assert.equal(run.code, 0);
  assert.match(run.stdout, /TCP connection counter/);
  for (const option of ["--device", "--read", "--filter", "--connection-limit", "--time-limit"]) {
    assert.ok(run.stdout.includes(option), option);
  }
  assert.equal(run.stderr, "");
});

Deno.test("--help works without libpcap", async () => {
  // A LIBPCAP_PATH that cannot load does not matter: libpcap is loaded lazily.
  const run = await pulso(["-h"], { env: { LIBPCAP_PATH: "/nonexistent/libpcap.so" } });
  assert.equal(run.code, 0);
  assert.match(run.stdout, /TCP connection counter/);
});

Deno.test("-V prints the version of deno.json", async () => {
  const run = await pulso(["-V"]);
  assert.equal(run.code, 0);
  assert.equal(run.stdout, `pulso ${denoJson.version}\n`);
});

Deno.test("usage errors exit 2 with the usage on stderr and nothing on stdout", async () => {
  const cases: [string[], RegExp][] = [
    [[], /required arguments were not provided/],
    [["--kungfu"], /unexpected argument '--kungfu'/],
    [["-d"], /a value is required for '--device <DEVICE>'/],
    [["-d", "lo", "-c", "0"], /invalid value '0'/],
    [["-d", "lo", "-c", "abc"], /invalid value 'abc'/],
    [["-d", "lo", "-t", "0"], /invalid value '0'/],
    [["-d", "lo", "-t", "soon"], /invalid value 'soon'/],
    [["-d", "lo", "-r", "x.pcap"], /cannot be used with/],
    [["-c", "3"], /required arguments were not provided/],
  ];
  for (const [args, message] of cases) {
    const run = await pulso(args);
    assert.equal(run.code, 2, `exit status of ${args.join(" ")}`);
    assert.equal(run.stdout, "", `stdout of ${args.join(" ")}`);
    assert.match(run.stderr, message);
    assert.match(run.stderr, /Usage: pulso/);
  }
});

Deno.test("a missing or empty PULSO_SECRET is a usage error unless --no-hash", async () => {
  for (const options of [{ unset: ["PULSO_SECRET"] }, { env: { PULSO_SECRET: "" } }]) {
    const run = await pulso(["-d", "lo", "-c", "1"], options);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, /PULSO_SECRET/);
  }
  const file = `${CORPUS}lab/pc1_eth.pcap`;
  const run = await pulso(["--no-hash", "-r", file], { unset: ["PULSO_SECRET"] });
  assert.equal(run.code, 0);
  assert.match(run.stdout, /^10\.99\.100\.2:/);
});

Deno.test("an unknown device exits 1 with one clear line and nothing on stdout", async () => {
  const run = await pulso(["--device", "kungfu"]);
  assert.equal(run.code, 1);
  assert.equal(run.stdout, "");
  assert.match(run.stderr, /kungfu/);
  assertOneLine(run.stderr);
});

Deno.test({
  name: "no permission to capture exits 1 and says how to grant it",
  ignore: Deno.uid() !== 0 || !have("setpriv"),
  fn: async () => {
    // Root without CAP_NET_RAW and CAP_NET_ADMIN cannot open a packet socket.
    const prefix = ["setpriv", "--bounding-set=-net_raw,-net_admin", "--inh-caps=-all", "--"];
    const run = await pulso(["-d", "lo"], { prefix });
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, /setcap cap_net_raw,cap_net_admin=eip/);
    assertOneLine(run.stderr);
  },
});

Deno.test({
  name: "libpcap missing exits 1 with what was tried and how to install it",
  ignore: Deno.uid() !== 0 || !have("unshare"),
  fn: async () => {
    // Hide every libpcap of the system in a private mount namespace.
    const libs = new Deno.Command("sh", {
      args: ["-c", "ldconfig -p | sed -n 's/.*libpcap.* => //p' | xargs -r readlink -f | sort -u"],
      stdout: "piped",
    }).outputSync();
    const paths = new TextDecoder().decode(libs.stdout).trim().split("\n").filter(Boolean);
    assert.ok(paths.length > 0, "libpcap is installed");
    const hide = paths.map((p) => `mount --bind /dev/null '${p}'`).join(" && ");
    const argv = [Deno.execPath(), ...PULSO_RUN];
    const out = await new Deno.Command("unshare", {
      args: ["--mount", "sh", "-c", `${hide} && exec "$@"`, "sh", ...argv, "-d", "lo"],
      env: { PULSO_SECRET: "test", LIBPCAP_PATH: "/nonexistent/libpcap.so" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    assert.equal(out.stdout.length, 0);
    assert.match(stderr, /Cannot load libpcap/);
    assert.match(stderr, /\/nonexistent\/libpcap\.so/);
    assert.match(stderr, /libpcap\.so\.1/);
    assert.match(stderr, /apt-get install libpcap0\.8/);
    assertOneLine(stderr);
  },
});

Deno.test("--list-devices lists lo and any, one a line", async () => {
  const run = await pulso(["-D"]);
  assert.equal(run.code, 0);
  const lines = run.stdout.trimEnd().split("\n");
  assert.ok(lines.some((l) => /^\d+\.lo\b/.test(l)), run.stdout);
  assert.ok(lines.some((l) => /^\d+\.any \(.+\)/.test(l)), run.stdout);
  lines.forEach((line, i) => assert.match(line, new RegExp(`^${i + 1}\\.\\S+`)));
});

Deno.test("a closed stdout ends pulso quietly", async () => {
  const file = `${CORPUS}lab/pc2_eth.pcap`;
  const script = `"$@" | head -1; echo "status=\${PIPESTATUS[0]}" >&2`;
  const out = await new Deno.Command("bash", {
    args: ["-c", script, "bash", Deno.execPath(), ...PULSO_RUN, "--no-hash", "-r", file],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(stdout.split("\n").length, 2, stdout);
  assert.equal(stderr.trim(), "status=0");
});
