/**
 * `deno task release` as a builder runs it, on a copy of the repository (with a licence of its
 * own), with the task's permissions. No Deno runtime (denort) is needed: where one is, the
 * tests make it unreachable; a stand-in (a small program of this machine) is the runtime of
 * another Linux target, for which the script runs no binary.
 */
import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { zip } from "./archive.ts";
import { archivePath, hostTarget, runtimeArchiveName, type Target } from "./release_plan.ts";
import { ReleaseError, sourceDateEpoch } from "./release.ts";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);
const decoder = new TextDecoder();
const VERSION = denoJson.version;
const HOST = hostTarget();
const LICENSE = "A licence for the tests\n";
/** 2023-11-14 22:13:20 UTC. */
const EPOCH = "1700000000";

/** The task's permission flags, as deno.json gives them. */
const TASK_FLAGS = (() => {
  const words = denoJson.tasks.release.split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "run"]);
  assert.equal(words.at(-1), "scripts/release.ts");
  return words.slice(2, -1);
})();

/** Deno's cache, for its npm packages. */
const DENO_DIR = JSON.parse(
  decoder.decode(
    new Deno.Command(Deno.execPath(), { args: ["info", "--json"], env: { NO_COLOR: "1" } })
      .outputSync().stdout,
  ),
).denoDir as string;

function copyTree(from: string, to: string): void {
  Deno.mkdirSync(to, { recursive: true });
  for (const entry of Deno.readDirSync(from)) {
    if (entry.isDirectory) copyTree(`${from}/${entry.name}`, `${to}/${entry.name}`);
    else if (entry.isFile) Deno.copyFileSync(`${from}/${entry.name}`, `${to}/${entry.name}`);
  }
}

/**
 * A copy of what the release needs from the repository, and a LICENSE, shared by the tests (its
 * type check is then made once); each test writes to its own `--out releases/NAME`.
 */
const REPO = (() => {
  const dir = Deno.makeTempDirSync({ prefix: "pulso-release-" });
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  for (const file of ["deno.json", "deno.lock", "README.md"]) {
    Deno.copyFileSync(`${ROOT}${file}`, `${dir}/${file}`);
  }
  for (const folder of ["src", "ffi", "scripts"]) copyTree(`${ROOT}${folder}`, `${dir}/${folder}`);
  Deno.writeTextFileSync(`${dir}/LICENSE`, LICENSE);
  return dir;
})();

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the release script in `cwd` as `deno task release` does, with only `env` set. */
function release(cwd: string, args: string[], env: Record<string, string> = {}): Result {
  const out = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...TASK_FLAGS, "scripts/release.ts", ...args],
    cwd,
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", DENO_DIR, NO_COLOR: "1", ...env },
    stdin: "null",
  }).outputSync();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Every file and folder under `dir`, as relative paths, sorted. */
function listing(dir: string, prefix = ""): string[] {
  let found: string[] = [];
  try {
    for (const entry of Deno.readDirSync(dir)) {
      const path = `${prefix}${entry.name}`;
      found.push(path);
      if (entry.isDirectory) found = found.concat(listing(`${dir}/${entry.name}`, `${path}/`));
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return found.sort();
}

/** Whether `bytes` holds `part`. */
function contains(bytes: Uint8Array, part: Uint8Array): boolean {
  for (let at = bytes.indexOf(part[0]); at >= 0; at = bytes.indexOf(part[0], at + 1)) {
    if (part.every((b, i) => bytes[at + i] === b)) return true;
  }
  return false;
}

function assertOneLine(stderr: string): void {
  assert.equal(stderr.split("\n").length, 2, `one line expected, got:\n${stderr}`);
  assert.match(stderr, /^error: [A-Z]/);
  assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
}

function sh(script: string, cwd: string): Result {
  const out = new Deno.Command("sh", { args: ["-c", script], cwd, env: { TZ: "UTC", LC_ALL: "C" } })
    .outputSync();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** A Linux target other than this machine's, whose binary the script does not run. */
const OTHER_LINUX: Target | undefined = HOST === "x86_64-unknown-linux-gnu"
  ? "aarch64-unknown-linux-gnu"
  : HOST === "aarch64-unknown-linux-gnu"
  ? "x86_64-unknown-linux-gnu"
  : undefined;
/** A small program of this machine, the stand-in for that target's runtime. */
const STAND_IN = ["/usr/bin/true", "/bin/true"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});

/** A Deno cache of its own, sharing all but the runtimes (`dl/`): it holds none. */
function denoDirWithoutRuntimes(): string {
  const denoDir = `${REPO}/deno-dir`;
  try {
    Deno.mkdirSync(denoDir);
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return denoDir;
    throw e;
  }
  for (const { name } of Deno.readDirSync(DENO_DIR)) {
    if (name !== "dl") Deno.symlinkSync(`${DENO_DIR}/${name}`, `${denoDir}/${name}`);
  }
  return denoDir;
}

Deno.test({
  name: "with no runtime to be had, the release stops with one line naming what to provide",
  ignore: !HOST,
  fn() {
    const repo = REPO;
    // The proxy, a closed port, makes the download fail wherever there is a network.
    const denoDir = denoDirWithoutRuntimes();
    Deno.mkdirSync(`${repo}/runtimes`);
    const run = release(repo, [
      "--target",
      HOST!,
      "--runtime-dir",
      `${repo}/runtimes`,
      "--out",
      "releases/offline",
    ], {
      DENO_DIR: denoDir,
      HTTPS_PROXY: "http://127.0.0.1:9",
      SOURCE_DATE_EPOCH: EPOCH,
    });
    assert.equal(run.code, 1, run.stderr);
    assertOneLine(run.stderr);
    const zipName = runtimeArchiveName(HOST!);
    assert.ok(
      run.stderr.startsWith(
        `error: Cannot get Deno's runtime for ${HOST}: no ${zipName} in '${repo}/runtimes', ` +
          `and deno compile could not download ${zipName} (`,
      ),
      run.stderr,
    );
    assert.match(
      run.stderr,
      /\); provide it: DENORT_BIN=<denort binary of Deno [\d.]+> with --target \S+, or --runtime-dir <directory> \(or PULSO_DENORT_DIR\) holding denort-\S+\.zip of Deno [\d.]+\n$/,
    );
    assert.equal(
      run.stdout,
      `Compiling pulso ${VERSION} for ${HOST} with deno compile's runtime ` +
        "(its cache, else a download)\n",
    );
    assert.deepEqual(listing(`${repo}/releases/offline`), [], "nothing left behind");
  },
});

Deno.test({
  name: "a full Deno as DENORT_BIN is refused: what it builds runs as Deno, not pulso",
  ignore: !HOST,
  fn() {
    const repo = REPO;
    const run = release(repo, ["--target", HOST!, "--out", "releases/deno"], {
      DENORT_BIN: Deno.execPath(),
      SOURCE_DATE_EPOCH: EPOCH,
    });
    assert.equal(run.code, 1, run.stderr);
    assertOneLine(run.stderr);
    assert.equal(
      run.stderr,
      `error: The binary built for ${HOST} runs as Deno itself, not as pulso: DENORT_BIN ` +
        `'${Deno.execPath()}' is a full Deno, not its runtime (denort, from ` +
        `${runtimeArchiveName(HOST!)})\n`,
    );
    assert.deepEqual(listing(`${repo}/releases/deno`), []);
  },
});

Deno.test({
  name: "a release from the runtime directory: the archive, its files, SHA256SUMS, the same " +
    "bytes twice, and a failed build after it changes nothing",
  ignore: !OTHER_LINUX || !STAND_IN,
  async fn() {
    const target = OTHER_LINUX!;
    const repo = REPO;
    const out = `${repo}/releases/built`;
    const runtimes = `${repo}/runtimes-built`;
    Deno.mkdirSync(runtimes);
    const standIn = Deno.readFileSync(STAND_IN!);
    Deno.writeFileSync(
      `${runtimes}/${runtimeArchiveName(target)}`,
      zip([{ name: "denort", data: standIn, mode: 0o755 }], 0, { level: 1 }),
    );
    // An archive of another target, built before: SHA256SUMS lists it too.
    const earlier = archivePath(VERSION, "x86_64-apple-darwin");
    Deno.mkdirSync(`${out}/x86_64-apple-darwin`, { recursive: true });
    Deno.writeTextFileSync(`${out}/${earlier}`, "built before\n");

    const env = { PULSO_DENORT_DIR: runtimes, SOURCE_DATE_EPOCH: EPOCH };
    const args = ["--target", target, "--out", "releases/built"];
    const run = release(repo, args, env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "");
    const archive = archivePath(VERSION, target);
    assert.equal(
      run.stdout,
      `Compiling pulso ${VERSION} for ${target} with the runtime in ` +
        `'${runtimes}/${runtimeArchiveName(target)}'\nWriting releases/built/${archive}\n` +
        "Wrote releases/built/SHA256SUMS (2 archives)\n",
    );
    assert.deepEqual(
      listing(`${out}`),
      [
        "SHA256SUMS",
        target,
        archive,
        "x86_64-apple-darwin",
        earlier,
      ].sort(),
    );

    // The archive, as tar reads it.
    const file = `${out}/${archive}`;
    const list = sh(`tar --list --verbose --full-time --numeric-owner -zf '${file}'`, repo);
    assert.equal(list.code, 0, list.stderr);
    const rows = list.stdout.trimEnd().split("\n").map((l) => l.split(/\s+/));
    const readme = Deno.readFileSync(`${repo}/README.md`);
    assert.deepEqual(rows.map((r) => [r[0], r[1], r[3], r[4], r[5]]), [
      ["-rwxr-xr-x", "0/0", "2023-11-14", "22:13:20", "pulso"],
      ["-rw-r--r--", "0/0", "2023-11-14", "22:13:20", "README.md"],
      ["-rw-r--r--", "0/0", "2023-11-14", "22:13:20", "LICENSE"],
    ]);
    assert.equal(rows[1][2], String(readme.length));
    Deno.mkdirSync(`${repo}/x`);
    assert.equal(sh(`tar xfz '${file}'`, `${repo}/x`).code, 0);
    const binary = Deno.readFileSync(`${repo}/x/pulso`);
    // Built on the runtime given (deno compile rewrites its headers, not its code).
    const middle = standIn.subarray(standIn.length >> 1, (standIn.length >> 1) + 1024);
    assert.ok(contains(binary, middle), "built on the runtime given");
    assert.ok(binary.length > standIn.length + 1_000_000, "with pulso's modules in it");
    assert.ok(decoder.decode(binary).includes('"app_name":"pulso"'));
    // The output worker, which the entry point does not import, is in it too.
    const workerSource = Deno.readFileSync(`${ROOT}src/output_worker.ts`);
    assert.ok(contains(binary, workerSource.subarray(0, 512)), "with the output worker");
    assert.equal(Deno.readTextFileSync(`${repo}/x/LICENSE`), LICENSE);

    // SHA256SUMS, checked by sha256sum beside the archives as users download them.
    const sums = Deno.readTextFileSync(`${out}/SHA256SUMS`);
    const expected = await Promise.all([archive, earlier].map(async (path) => {
      const digest = await crypto.subtle.digest(
        "SHA-256",
        Deno.readFileSync(`${out}/${path}`),
      );
      const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join(
        "",
      );
      return `${hex}  ${path.split("/").pop()}\n`;
    }));
    // Sorted by file name.
    const byName = (line: string) => line.slice(66);
    assert.equal(sums, expected.sort((a, b) => byName(a) < byName(b) ? -1 : 1).join(""));
    Deno.mkdirSync(`${repo}/download`);
    for (const path of [archive, earlier, "SHA256SUMS"]) {
      Deno.copyFileSync(`${out}/${path}`, `${repo}/download/${path.split("/").pop()}`);
    }
    const check = sh("sha256sum -c SHA256SUMS", `${repo}/download`);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.equal(check.stdout.match(/: OK$/gm)?.length, 2, check.stdout);

    // Built again: the same bytes.
    const first = Deno.readFileSync(file);
    const again = release(repo, args, env);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(Deno.readFileSync(file), first, "the same archive twice");
    assert.equal(Deno.readTextFileSync(`${out}/SHA256SUMS`), sums);

    // A build that fails leaves the release as it was.
    const before = listing(`${out}`);
    const failed = release(repo, args, {
      ...env,
      DENORT_BIN: `${repo}/nonexistent`,
    });
    assert.equal(failed.code, 1);
    assertOneLine(failed.stderr);
    assert.match(failed.stderr, /^error: Cannot use DENORT_BIN '.*\/nonexistent': /);
    assert.deepEqual(listing(`${out}`), before);
    assert.deepEqual(Deno.readFileSync(file), first);
    assert.equal(Deno.readTextFileSync(`${out}/SHA256SUMS`), sums);
  },
});

Deno.test({
  name: "without a LICENSE the release stops with one line, and nothing is written",
  ignore: !OTHER_LINUX || !STAND_IN,
  fn() {
    const target = OTHER_LINUX!;
    const runtimes = `${REPO}/runtimes-licence`;
    Deno.mkdirSync(runtimes);
    Deno.writeFileSync(
      `${runtimes}/${runtimeArchiveName(target)}`,
      zip([{ name: "denort", data: Deno.readFileSync(STAND_IN!), mode: 0o755 }], 0, { level: 1 }),
    );
    Deno.renameSync(`${REPO}/LICENSE`, `${REPO}/LICENSE.away`);
    try {
      const run = release(REPO, ["--target", target, "--out", "releases/licence"], {
        PULSO_DENORT_DIR: runtimes,
        SOURCE_DATE_EPOCH: EPOCH,
      });
      assert.equal(run.code, 1);
      assertOneLine(run.stderr);
      assert.match(
        run.stderr,
        /^error: Cannot read LICENSE at the repository root \(every archive carries it\): No such file/,
      );
      assert.deepEqual(listing(`${REPO}/releases/licence`), []);
    } finally {
      Deno.renameSync(`${REPO}/LICENSE.away`, `${REPO}/LICENSE`);
    }
  },
});

Deno.test({
  name: "SIGTERM while deno compile downloads the runtime: it is stopped, nothing is left",
  ignore: !HOST,
  fn: async () => {
    // A proxy that accepts and never answers: the download waits.
    const proxy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      try {
        for await (const conn of proxy) held.push(conn);
      } catch {
        // Closed.
      }
    })();
    let child: Deno.ChildProcess | undefined;
    try {
      child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--quiet",
          ...TASK_FLAGS,
          "scripts/release.ts",
          "--target",
          HOST!,
          "--out",
          "releases/signal",
        ],
        cwd: REPO,
        clearEnv: true,
        env: {
          PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
          DENO_DIR: denoDirWithoutRuntimes(),
          NO_COLOR: "1",
          HTTPS_PROXY: `http://127.0.0.1:${(proxy.addr as Deno.NetAddr).port}`,
          SOURCE_DATE_EPOCH: EPOCH,
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const stdout = child.stdout.getReader();
      let said = "";
      while (!said.includes("Compiling")) {
        const { value, done } = await stdout.read();
        if (done) break;
        said += decoder.decode(value);
      }
      assert.match(said, /^Compiling pulso /);
      // deno compile is running, its output in the temporary directory; then it waits.
      const work = () =>
        listing(`${REPO}/releases/signal`).filter((p) => /^\.build-[^/]*$/.test(p));
      assert.equal(work().length, 1);
      const deadline = Date.now() + 10_000;
      while (held.length === 0) {
        assert.ok(Date.now() < deadline, "deno compile never asked the proxy for the runtime");
        await new Promise((r) => setTimeout(r, 20));
      }
      child.kill("SIGTERM");
      const status = await child.status;
      stdout.releaseLock();
      await child.stdout.cancel();
      const stderr = await new Response(child.stderr).text();
      assert.equal(status.code, 143, stderr);
      assert.deepEqual(listing(`${REPO}/releases/signal`), []);
      child = undefined;
    } finally {
      try {
        child?.kill("SIGKILL"); // only when an assertion failed while it ran
      } catch {
        // Already ended.
      }
      proxy.close();
      for (const conn of held) conn.close();
      await accepting;
    }
  },
});

Deno.test("usage errors exit 2 with the usage; --help exits 0; a wrong tag stops at once", () => {
  const repo = REPO;
  const bad = release(repo, ["--target", "x86_64"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^error: Unknown target 'x86_64' \(one of: /);
  assert.match(bad.stderr, /\nUsage: deno task release \[OPTIONS\]\n/);
  const help = release(repo, ["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Builds pulso's release archives with deno compile\.\n\nUsage: /);
  const tag = release(repo, ["--tag", "v9.9.9", "--out", "releases/tag"], {
    SOURCE_DATE_EPOCH: EPOCH,
  });
  assert.equal(tag.code, 1);
  assertOneLine(tag.stderr);
  assert.equal(
    tag.stderr,
    `error: The tag 'v9.9.9' does not match deno.json's version: 'v${VERSION}' expected\n`,
  );
  assert.throws(() => Deno.statSync(`${repo}/releases/tag`), Deno.errors.NotFound);
});

Deno.test("the release time: SOURCE_DATE_EPOCH, else the last commit's", async () => {
  assert.equal(await sourceDateEpoch("1700000000"), 1700000000);
  await assert.rejects(() => sourceDateEpoch("soon"), (e: Error) => {
    assert.ok(e instanceof ReleaseError);
    assert.equal(e.message, "Invalid SOURCE_DATE_EPOCH 'soon' (whole seconds since 1970 expected)");
    return true;
  });
  const dir = Deno.makeTempDirSync();
  try {
    await assert.rejects(
      () => sourceDateEpoch(undefined, dir),
      /^ReleaseError: Cannot tell the release time: set SOURCE_DATE_EPOCH, or build in a git clone \(git log: /,
    );
    const git = sh(
      "git init -q && GIT_COMMITTER_DATE='@1600000000 +0000' " +
        "git -c user.name=t -c user.email=t@example.org commit -q --allow-empty -m x",
      dir,
    );
    assert.equal(git.code, 0, git.stderr);
    assert.equal(await sourceDateEpoch(undefined, dir), 1600000000);
    assert.equal(await sourceDateEpoch("", dir), 1600000000);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
