/**
 * The release binary as users run it. Twice over, with the same checks:
 *
 * - its entry point under `deno run` with exactly the flags `deno compile` bakes into the
 *   binary (pulso's permissions and `--no-prompt`): a permission missing there fails here,
 *   with no Deno runtime (denort) needed;
 * - the binary itself, compiled for this machine by the release script's own steps, where a
 *   runtime can be had (`DENORT_BIN`, `PULSO_DENORT_DIR`, or deno compile's cache or download);
 *   skipped otherwise, with the reason printed.
 */
import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import {
  connectOnce,
  CORPUS,
  hashOf,
  listen,
  pulso,
  ROOT,
  type RunOptions,
  spawnPulso,
  WITHOUT_LIBPCAP,
} from "./_pulso.ts";
import {
  BAKED_FLAGS,
  binaryName,
  ENTRY_POINT,
  hostTarget,
  runtimeFor,
} from "../scripts/release_plan.ts";
import { compileTarget, RuntimeUnavailableError, stageSources } from "../scripts/release.ts";

const root = Deno.uid() === 0;

/** Builds the binary for this machine; its path, or why there is none. */
async function buildHostBinary(): Promise<{ binary?: string; skip?: string; error?: Error }> {
  const target = hostTarget();
  if (!target) return { skip: `no release target for ${Deno.build.target}` };
  const work = await Deno.makeTempDir({ prefix: "pulso-release-test-" });
  // Removed when the tests end; the binary is about 100 MB.
  globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
  const runtimeDir = Deno.env.get("PULSO_DENORT_DIR") || undefined;
  const denortBin = Deno.env.get("DENORT_BIN") || undefined;
  const runtime = runtimeFor(target, {
    ...(denortBin ? { denortBin } : {}),
    ...(runtimeDir ? { runtimeDir } : {}),
    exists: (path) => {
      try {
        return Deno.statSync(path).isFile;
      } catch {
        return false;
      }
    },
  });
  try {
    const stage = `${work}/stage`;
    await Deno.mkdir(stage);
    await stageSources(ROOT, stage, 0);
    const binary = `${work}/${binaryName(target)}`;
    await compileTarget({ target, runtime, stage, output: binary, work });
    return { binary };
  } catch (e) {
    if (e instanceof RuntimeUnavailableError) return { skip: e.message };
    return { error: e as Error };
  }
}

const built = await buildHostBinary();
if (built.skip) {
  console.error(`release binary tests skipped: ${built.skip}`);
} else if (built.binary) {
  console.error(`release binary tests run on ${built.binary}`);
}

/** Why the compiled binary's tests do not run, as the test names say it (short). */
const skipped = built.skip === undefined ? "" : ` (skipped: ${built.skip.split(":")[0]})`;

Deno.test({
  name: `the release binary for this machine compiles${skipped}`,
  ignore: built.skip !== undefined,
  fn() {
    if (built.error) throw built.error;
    assert.ok(built.binary);
  },
});

const PROGRAMS: { name: string; program?: string[]; skip?: string }[] = [
  {
    name: "deno run with the baked-in flags",
    program: [Deno.execPath(), "run", "--quiet", ...BAKED_FLAGS, `${ROOT}${ENTRY_POINT}`],
  },
  {
    name: `the compiled binary${skipped}`,
    ...(built.binary ? { program: [built.binary] } : {}),
    ...(built.skip || built.error ? { skip: built.skip ?? "it did not compile" } : {}),
  },
];

for (const { name, program, skip } of PROGRAMS) {
  const options: RunOptions = program ? { program } : {};
  const ignore = skip !== undefined || !program;

  Deno.test({
    name: `${name}: --help exits 0 and describes pulso`,
    ignore,
    fn: async () => {
      const run = await pulso(["--help"], options);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^TCP connection counter\n/);
      assert.match(run.stdout, /--device <DEVICE>/);
      assert.equal(run.stderr, "");
    },
  });

  Deno.test({
    name: `${name}: --version prints the version of deno.json`,
    ignore,
    fn: async () => {
      const run = await pulso(["--version"], options);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, `pulso ${denoJson.version}\n`);
    },
  });

  Deno.test({
    name: `${name}: with no libpcap, -V and --help work and a capture says how to install it`,
    ignore: ignore || !WITHOUT_LIBPCAP,
    fn: async () => {
      const without = {
        ...options,
        prefix: WITHOUT_LIBPCAP!,
        env: { LIBPCAP_PATH: "/nonexistent" },
      };
      const version = await pulso(["-V"], without);
      assert.equal(version.code, 0, version.stderr);
      assert.equal(version.stdout, `pulso ${denoJson.version}\n`);
      const help = await pulso(["--help"], without);
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /^TCP connection counter\n/);
      const capture = await pulso(["-d", "lo", "-c", "1"], without);
      assert.equal(capture.code, 1);
      assert.equal(capture.stdout, "");
      assert.match(
        capture.stderr,
        /^error: Cannot load libpcap \(LIBPCAP_PATH '\/nonexistent': .*\): install it \(Debian\/Ubuntu: apt-get install libpcap0\.8;.* or set LIBPCAP_PATH to the library file\n$/,
      );
    },
  });

  Deno.test({
    name: `${name}: -d lo -c 2 counts two connections, hashed`,
    ignore: ignore || !root,
    fn: async () => {
      using a = listen("127.0.0.1");
      using b = listen("127.0.0.1");
      // Only these ports: other programs may connect on lo meanwhile.
      const live = await spawnPulso(
        ["-d", "lo", "-c", "2", "-f", `dst port ${a.port} or dst port ${b.port}`],
        options,
      );
      await connectOnce("127.0.0.1", a.port);
      await connectOnce("127.0.0.1", b.port);
      const stop = setTimeout(() => live.child.kill("SIGTERM"), 5000);
      const run = await live.done;
      clearTimeout(stop);
      assert.equal(run.code, 0, run.stderr);
      const [p1, p2] = [a.port, b.port].sort((x, y) => x - y);
      assert.equal(run.stdout, `${hashOf("127.0.0.1")}:2 ${p1}:1 ${p2}:1\n`);
    },
  });

  Deno.test({
    name: `${name}: --read of a corpus file prints its digest, hashed`,
    ignore,
    fn: async () => {
      const run = await pulso(
        ["--read", `${CORPUS}lab/pc2_eth.pcap`, "-f", "dst port 443 or ip6"],
        options,
      );
      assert.equal(run.code, 0, run.stderr);
      const lines = [
        `${hashOf("10.99.2.2")}:4 443:4`,
        `${hashOf("fd99:2::2")}:4 25305:3 26468:1`,
      ].sort();
      assert.equal(run.stdout, lines.join("\n") + "\n");
    },
  });

  Deno.test({
    name: `${name}: --listen serves the metrics while it reads a file with -i`,
    ignore,
    fn: async () => {
      const run = await pulso(
        ["--read", `${CORPUS}lab/pc2_eth.pcap`, "--listen", "127.0.0.1:0", "-i", "1"],
        { ...options, env: { PULSO_LOG: "info" } },
      );
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /Serving metrics on 127\.0\.0\.1:\d+ \(\/metrics\)/);
      assert.match(run.stdout, /^# \S+ \S+ connections=\d+ /);
    },
  });
}
