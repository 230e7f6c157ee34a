import assert from "node:assert/strict";
import { PERMISSIONS } from "../src/permissions.ts";
import {
  archiveName,
  archivePath,
  BAKED_FLAGS,
  binaryName,
  checkTag,
  checkVersion,
  compileArgs,
  compileFailure,
  DOCUMENTS,
  ENTRY_POINT,
  formatChecksums,
  hostTarget,
  isTarget,
  parseReleaseArgs,
  ReleaseUsageError,
  runtimeArchiveName,
  runtimeFileName,
  runtimeFor,
  runtimeHelp,
  TARGETS,
} from "./release_plan.ts";

Deno.test("the five targets, in build order", () => {
  assert.deepEqual(TARGETS, [
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    "x86_64-pc-windows-msvc",
  ]);
  assert.ok(isTarget("aarch64-apple-darwin"));
  assert.ok(!isTarget("x86_64-unknown-linux-musl"));
  assert.equal(hostTarget("x86_64-unknown-linux-gnu"), "x86_64-unknown-linux-gnu");
  assert.equal(hostTarget("riscv64gc-unknown-linux-gnu"), undefined);
});

Deno.test("binary, archive and runtime names per target", () => {
  const table = TARGETS.map((t) => [
    binaryName(t),
    archivePath("0.1.0", t),
    runtimeArchiveName(t),
    runtimeFileName(t),
  ]);
  assert.deepEqual(table, [
    [
      "pulso",
      "x86_64-unknown-linux-gnu/pulso_0.1.0_x86_64-unknown-linux-gnu.tar.gz",
      "denort-x86_64-unknown-linux-gnu.zip",
      "denort",
    ],
    [
      "pulso",
      "aarch64-unknown-linux-gnu/pulso_0.1.0_aarch64-unknown-linux-gnu.tar.gz",
      "denort-aarch64-unknown-linux-gnu.zip",
      "denort",
    ],
    [
      "pulso",
      "x86_64-apple-darwin/pulso_0.1.0_x86_64-apple-darwin.tar.gz",
      "denort-x86_64-apple-darwin.zip",
      "denort",
    ],
    [
      "pulso",
      "aarch64-apple-darwin/pulso_0.1.0_aarch64-apple-darwin.tar.gz",
      "denort-aarch64-apple-darwin.zip",
      "denort",
    ],
    [
      "pulso.exe",
      "x86_64-pc-windows-msvc/pulso_0.1.0_x86_64-pc-windows-msvc.zip",
      "denort-x86_64-pc-windows-msvc.zip",
      "denort.exe",
    ],
  ]);
  assert.equal(
    archiveName("1.2.3-rc.1", "x86_64-apple-darwin"),
    "pulso_1.2.3-rc.1_x86_64-apple-darwin.tar.gz",
  );
  assert.deepEqual(DOCUMENTS, ["README.md", "LICENSE"]);
});

Deno.test("deno compile bakes in exactly PERMISSIONS and --no-prompt, for the target given", () => {
  assert.deepEqual(BAKED_FLAGS, ["--no-prompt", ...PERMISSIONS]);
  assert.deepEqual(compileArgs("x86_64-pc-windows-msvc", "/w/pulso.exe"), [
    "compile",
    "--frozen",
    "--no-check",
    "--no-prompt",
    ...PERMISSIONS,
    "--include",
    "src/output_worker.ts",
    "--app-name",
    "pulso",
    "--target",
    "x86_64-pc-windows-msvc",
    "--output",
    "/w/pulso.exe",
    "src/main.ts",
  ]);
  for (const target of TARGETS) {
    const args = compileArgs(target, "/o");
    assert.equal(args[args.indexOf("--target") + 1], target);
    assert.equal(args.at(-1), ENTRY_POINT);
    // No permission beyond pulso's, and never all of them.
    assert.deepEqual(args.filter((a) => /^--allow|^-A$/.test(a)), [...PERMISSIONS]);
  }
});

Deno.test("the runtime: DENORT_BIN, then the directory's zip, then deno compile's own", () => {
  const target = "aarch64-apple-darwin";
  const zipPath = "/rt/denort-aarch64-apple-darwin.zip";
  const has = (paths: string[]) => (p: string) => paths.includes(p);
  assert.deepEqual(
    runtimeFor(target, { denortBin: "/bin/denort", runtimeDir: "/rt", exists: has([zipPath]) }),
    { kind: "binary", path: "/bin/denort" },
  );
  assert.deepEqual(runtimeFor(target, { runtimeDir: "/rt/", exists: has([zipPath]) }), {
    kind: "archive",
    path: zipPath,
  });
  assert.deepEqual(runtimeFor(target, { runtimeDir: "/rt", exists: has([]) }), {
    kind: "download",
  });
  assert.deepEqual(runtimeFor(target, { exists: has([zipPath]) }), { kind: "download" });
});

Deno.test("the runtime error is one line naming what to provide", () => {
  const line = runtimeHelp("x86_64-unknown-linux-gnu", "2.9.6", "dns error");
  assert.equal(
    line,
    "Cannot get Deno's runtime for x86_64-unknown-linux-gnu: deno compile could not download " +
      "denort-x86_64-unknown-linux-gnu.zip (dns error); provide it: DENORT_BIN=<denort binary " +
      "of Deno 2.9.6> with --target x86_64-unknown-linux-gnu, or --runtime-dir <directory> (or " +
      "PULSO_DENORT_DIR) holding denort-x86_64-unknown-linux-gnu.zip of Deno 2.9.6",
  );
  assert.match(
    runtimeHelp("x86_64-unknown-linux-gnu", "2.9.6", "dns error", "/rt"),
    /: no denort-x86_64-unknown-linux-gnu\.zip in '\/rt', and deno compile could not download /,
  );
});

Deno.test("deno compile's failures: the runtime's with its last cause, others by their error", () => {
  const download = "\x1b[1m\x1b[31merror\x1b[0m: Writing deno compile executable to temporary " +
    "file '/w/pulso.tmp-1'\n\nCaused by:\n    0: Setting up base binary.\n    1: error sending " +
    "request for url (https://dl.example/denort-x86_64-unknown-linux-gnu.zip): client error\n" +
    "    2: dns error\n    3: failed to lookup address information: Name or service not known\n" +
    "\nStack backtrace:\n   0: <unknown>\n";
  assert.deepEqual(compileFailure(download), {
    runtime: true,
    message: "failed to lookup address information: Name or service not known",
  });
  const npm = "error: Error getting response at https://registry.example/hash-wasm\n\nCaused " +
    "by:\n    0: dns error\n";
  assert.deepEqual(compileFailure(npm), {
    runtime: false,
    message: "Error getting response at https://registry.example/hash-wasm",
  });
  assert.deepEqual(
    compileFailure("TS2304 [ERROR]: Cannot find name 'x'.\nerror: Type checking failed.\n"),
    {
      runtime: false,
      message: "Type checking failed.",
    },
  );
});

Deno.test("SHA256SUMS: '<hex>  <name>' lines, sorted by name", () => {
  const a = "a".repeat(64), b = "0123456789abcdef".repeat(4);
  assert.equal(
    formatChecksums([
      { name: "pulso_0.1.0_x86_64-pc-windows-msvc.zip", sha256: a },
      { name: "pulso_0.1.0_aarch64-apple-darwin.tar.gz", sha256: b },
    ]),
    `${b}  pulso_0.1.0_aarch64-apple-darwin.tar.gz\n${a}  pulso_0.1.0_x86_64-pc-windows-msvc.zip\n`,
  );
  assert.equal(formatChecksums([]), "");
  assert.throws(() => formatChecksums([{ name: "x", sha256: "ABC" }]), /Invalid SHA-256 'ABC'/);
  assert.throws(
    () => formatChecksums([{ name: "linux/pulso.tar.gz", sha256: a }]),
    /Invalid archive name 'linux\/pulso.tar.gz'/,
  );
});

Deno.test("versions and tags", () => {
  assert.equal(checkVersion("0.1.0"), "0.1.0");
  assert.equal(checkVersion("1.0.0-rc.2"), "1.0.0-rc.2");
  for (const bad of ["0.1", "v0.1.0", "0.1.0 ", "0.1.0/x", 1]) {
    assert.throws(() => checkVersion(bad), /^Error: Invalid version .* in deno\.json/);
  }
  checkTag("v0.1.0", "0.1.0");
  assert.throws(
    () => checkTag("v0.2.0", "0.1.0"),
    /^Error: The tag 'v0\.2\.0' does not match deno\.json's version: 'v0\.1\.0' expected$/,
  );
});

Deno.test("the release command line", () => {
  assert.deepEqual(parseReleaseArgs([], {}), { targets: [...TARGETS], help: false });
  assert.deepEqual(
    parseReleaseArgs(["--target", "aarch64-apple-darwin", "--tag=v0.1.0", "--out", "/o"], {
      DENORT_BIN: "/d/denort",
      PULSO_DENORT_DIR: "/rt",
    }),
    {
      targets: ["aarch64-apple-darwin"],
      help: false,
      tag: "v0.1.0",
      out: "/o",
      runtimeDir: "/rt",
      denortBin: "/d/denort",
    },
  );
  // --runtime-dir before PULSO_DENORT_DIR.
  assert.equal(
    parseReleaseArgs(["--runtime-dir=/a"], { PULSO_DENORT_DIR: "/b" }).runtimeDir,
    "/a",
  );
  assert.equal(parseReleaseArgs(["-h"], {}).help, true);
  const errors: [string[], Record<string, string>, RegExp][] = [
    [["--target", "x86_64"], {}, /^Unknown target 'x86_64' \(one of: x86_64-unknown-linux-gnu, /],
    [["--target"], {}, /^A value is required for '--target'$/],
    [["--runtime-dir="], {}, /^A value is required for '--runtime-dir'$/],
    [["--bogus"], {}, /^Unexpected argument '--bogus'$/],
    [["x86_64-apple-darwin"], {}, /^Unexpected argument 'x86_64-apple-darwin'$/],
    [
      [],
      { DENORT_BIN: "/d/denort" },
      /^DENORT_BIN '\/d\/denort' is the runtime of one target: give that target with --target$/,
    ],
  ];
  for (const [args, env, message] of errors) {
    assert.throws(() => parseReleaseArgs(args, env), (e: Error) => {
      assert.ok(e instanceof ReleaseUsageError, String(e));
      assert.match(e.message, message);
      return true;
    });
  }
});
