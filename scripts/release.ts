/**
 * `deno task release`: builds pulso's release binaries with `deno compile`, one per target with
 * the permissions of `src/permissions.ts` baked in, and writes the archives users download,
 * `releases/<target>/pulso_<version>_<target>.tar.gz` (`.zip` for Windows), with
 * `releases/SHA256SUMS`. See `--help`, and the README's "Building releases".
 *
 * Reproducible where deno compile allows: the sources are compiled from a copy whose file times
 * are the release time (SOURCE_DATE_EPOCH, else the last commit's), with a fixed application
 * name; the archives hold the binary, README.md and LICENSE, owned by root, dated the release
 * time, in that order. (The binary still records the npm packages' times in Deno's cache.)
 *
 * Everything is built in a temporary directory under the output one, and moved into place only
 * when every target is built: a failure or a signal leaves no archive behind.
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };
import { type ArchiveEntry, tarGz, unzipFile, zip } from "./archive.ts";
import {
  archiveName,
  archivePath,
  binaryName,
  checkTag,
  checkVersion,
  compileArgs,
  compileFailure,
  DOCUMENTS,
  ENTRY_POINT,
  formatChecksums,
  hostTarget,
  INCLUDED,
  parseReleaseArgs,
  RELEASE_USAGE,
  ReleaseUsageError,
  type Runtime,
  runtimeArchiveName,
  runtimeFileName,
  runtimeFor,
  runtimeHelp,
  type Target,
  TARGETS,
} from "./release_plan.ts";
import { quote, systemMessage } from "../src/quote.ts";

/** The repository root. */
export const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);

/** A release step failed; the message is one line for the user. */
export class ReleaseError extends Error {
  /** @param message what failed, and what to do about it */
  constructor(message: string) {
    super(message);
    this.name = "ReleaseError";
  }
}

/** A target's Deno runtime (denort) could not be had; the message says what to provide. */
export class RuntimeUnavailableError extends ReleaseError {
  /** @param message {@link runtimeHelp}'s line */
  constructor(message: string) {
    super(message);
    this.name = "RuntimeUnavailableError";
  }
}

const decoder = new TextDecoder();

/** The running child process, killed when a signal stops the release. */
let current: Deno.ChildProcess | undefined;

async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  current = child;
  try {
    const out = await child.output();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    current = undefined;
  }
}

/** The first line of a tool's error output, without its `error: `. */
function firstError(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  return (lines.find((l) => /^error:/i.test(l)) ?? lines[0] ?? "no message")
    .replace(/^error:\s*/i, "");
}

/**
 * The release time, in seconds since 1970: `SOURCE_DATE_EPOCH`, else the last commit's time.
 *
 * @example
 * ```ts
 * const mtime = await sourceDateEpoch(Deno.env.get("SOURCE_DATE_EPOCH"));
 * ```
 */
export async function sourceDateEpoch(fromEnv: string | undefined, root = ROOT): Promise<number> {
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!/^\d{1,12}$/.test(fromEnv)) {
      throw new ReleaseError(
        `Invalid SOURCE_DATE_EPOCH ${quote(fromEnv)} (whole seconds since 1970 expected)`,
      );
    }
    return Number(fromEnv);
  }
  let out;
  try {
    out = await run("git", ["-C", root, "log", "-1", "--format=%ct"]);
  } catch (e) {
    throw new ReleaseError(
      `Cannot tell the release time: set SOURCE_DATE_EPOCH, or build in a git clone (git: ${
        systemMessage(e)
      })`,
    );
  }
  const seconds = out.stdout.trim();
  if (out.code !== 0 || !/^\d+$/.test(seconds)) {
    throw new ReleaseError(
      "Cannot tell the release time: set SOURCE_DATE_EPOCH, or build in a git clone " +
        `(git log: ${firstError(out.stderr)})`,
    );
  }
  return Number(seconds);
}

/**
 * Type-checks pulso's entry point in `root` (once: deno compile then runs with `--no-check` on
 * the copy). Throws {@link ReleaseError} with the first error.
 *
 * @example
 * ```ts
 * await typeCheck(ROOT);
 * ```
 */
export async function typeCheck(root: string): Promise<void> {
  const out = await run(Deno.execPath(), ["check", "--frozen", "--quiet", ENTRY_POINT], {
    cwd: root,
  });
  if (out.code !== 0) {
    const diagnostics = out.stderr.split("\n").map((l) => l.trim()).filter((l) => l !== "");
    const first = diagnostics.find((l) => /^TS\d+ /.test(l)) ?? firstError(out.stderr);
    throw new ReleaseError(`Type checking ${ENTRY_POINT} failed: ${first}`);
  }
}

/**
 * Copies what `deno compile` needs to `dir`: the local modules of the entry point's graph
 * (`deno info`), `deno.json` and `deno.lock`, each file and folder dated `mtime`. Throws
 * {@link ReleaseError} when the modules or npm packages cannot be resolved.
 *
 * @example
 * ```ts
 * await stageSources(ROOT, await Deno.makeTempDir(), 1700000000);
 * ```
 */
export async function stageSources(root: string, dir: string, mtime: number): Promise<void> {
  const rootUrl = new URL(`file://${root.endsWith("/") ? root : `${root}/`}`).href;
  const files = new Set(["deno.json", "deno.lock"]);
  // The entry point's graph, and those of the modules deno compile is told to include (the
  // output worker's), which the entry point does not import.
  for (const module of [ENTRY_POINT, ...INCLUDED]) {
    const info = await run(Deno.execPath(), ["info", "--json", "--frozen", module], {
      cwd: root,
    });
    if (info.code !== 0) {
      throw new ReleaseError(
        `Cannot resolve pulso's modules and npm packages: ${firstError(info.stderr)}`,
      );
    }
    const graph = JSON.parse(info.stdout) as { modules: { specifier: string }[] };
    for (const { specifier } of graph.modules) {
      if (!specifier.startsWith("file:")) continue;
      if (!specifier.startsWith(rootUrl)) {
        throw new ReleaseError(`The module ${quote(specifier)} is outside the repository`);
      }
      files.add(decodeURIComponent(specifier.slice(rootUrl.length)));
    }
  }
  const folders = new Set<string>();
  for (const file of files) {
    const parts = file.split("/");
    for (let i = 1; i < parts.length; i++) folders.add(parts.slice(0, i).join("/"));
  }
  for (const folder of [...folders].sort()) await Deno.mkdir(`${dir}/${folder}`);
  for (const file of files) {
    await Deno.copyFile(`${root}/${file}`, `${dir}/${file}`);
    await Deno.utime(`${dir}/${file}`, mtime, mtime);
  }
  for (const folder of [...folders].sort().reverse()) {
    await Deno.utime(`${dir}/${folder}`, mtime, mtime);
  }
}

function describe(runtime: Runtime): string {
  switch (runtime.kind) {
    case "binary":
      return `DENORT_BIN ${quote(runtime.path)}`;
    case "archive":
      return `the runtime in ${quote(runtime.path)}`;
    case "download":
      return "deno compile's runtime (its cache, else a download)";
  }
}

/** What {@link compileTarget} needs. */
export interface CompileJob {
  target: Target;
  runtime: Runtime;
  /** A directory made by {@link stageSources}. */
  stage: string;
  /** The binary to write. */
  output: string;
  /** A directory for the runtime taken out of its archive. */
  work: string;
  /** The runtime directory, if any, for the error when it lacks the target's archive. */
  runtimeDir?: string;
}

/**
 * Compiles pulso for one target with `deno compile`; for the host's target, checks that the
 * binary prints pulso's version (a full Deno given as the runtime makes a binary that runs as
 * Deno). Throws {@link RuntimeUnavailableError} when the runtime could not be had,
 * {@link ReleaseError} on any other failure.
 *
 * @example
 * ```ts
 * await compileTarget({ target: "x86_64-unknown-linux-gnu", runtime: { kind: "download" },
 *   stage, output: `${work}/pulso`, work });
 * ```
 */
export async function compileTarget(job: CompileJob): Promise<void> {
  const { target, runtime } = job;
  let denortBin: string | undefined;
  if (runtime.kind === "binary") {
    try {
      if (!(await Deno.stat(runtime.path)).isFile) throw new Error("not a file");
    } catch (e) {
      throw new ReleaseError(`Cannot use DENORT_BIN ${quote(runtime.path)}: ${systemMessage(e)}`);
    }
    denortBin = runtime.path;
  } else if (runtime.kind === "archive") {
    let denort;
    try {
      denort = unzipFile(await Deno.readFile(runtime.path), runtimeFileName(target));
    } catch (e) {
      throw new ReleaseError(`Cannot read ${quote(runtime.path)}: ${systemMessage(e)}`);
    }
    if (!denort) {
      throw new ReleaseError(`${quote(runtime.path)} holds no ${runtimeFileName(target)}`);
    }
    denortBin = `${job.work}/${runtimeFileName(target)}-${target}`;
    await Deno.writeFile(denortBin, denort, { mode: 0o755 });
  }
  const out = await run(Deno.execPath(), compileArgs(target, job.output), {
    cwd: job.stage,
    ...(denortBin !== undefined ? { env: { DENORT_BIN: denortBin } } : {}),
  });
  if (out.code !== 0) {
    const failure = compileFailure(out.stderr);
    if (failure.runtime && runtime.kind === "download") {
      throw new RuntimeUnavailableError(
        runtimeHelp(target, Deno.version.deno, failure.message, job.runtimeDir),
      );
    }
    throw new ReleaseError(
      failure.runtime
        ? `deno compile could not use ${describe(runtime)} for ${target}: ${failure.message}`
        : `deno compile failed for ${target}: ${failure.message}`,
    );
  }
  if (target !== hostTarget()) return;
  const version = await run(job.output, ["--version"]);
  const expected = `pulso ${denoJson.version}`;
  const said = version.stdout.trim().split("\n")[0] ?? "";
  if (said === expected && version.code === 0) return;
  if (/^deno /.test(said)) {
    throw new ReleaseError(
      `The binary built for ${target} runs as Deno itself, not as pulso: ${describe(runtime)} ` +
        `is a full Deno, not its runtime (denort, from ${runtimeArchiveName(target)})`,
    );
  }
  throw new ReleaseError(
    `The binary built for ${target} printed ${quote(said)} for --version, not ${quote(expected)}`,
  );
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

function say(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(`${text}\n`));
}

/**
 * Runs the release script with `args`; resolves to the exit status (0 built, 1 failed, 2 bad
 * command line). Errors are one line on stderr.
 *
 * @example
 * ```ts
 * Deno.exit(await release(["--target", "x86_64-unknown-linux-gnu"]));
 * ```
 */
export async function release(args: readonly string[]): Promise<number> {
  let options;
  try {
    options = parseReleaseArgs(args, {
      DENORT_BIN: Deno.env.get("DENORT_BIN"),
      PULSO_DENORT_DIR: Deno.env.get("PULSO_DENORT_DIR"),
    });
  } catch (e) {
    if (!(e instanceof ReleaseUsageError)) throw e;
    console.error(`error: ${e.message}\n\n${RELEASE_USAGE}`);
    return 2;
  }
  if (options.help) {
    say(RELEASE_USAGE);
    return 0;
  }
  const version = checkVersion(denoJson.version);
  if (options.tag !== undefined) checkTag(options.tag, version);
  const mtime = await sourceDateEpoch(Deno.env.get("SOURCE_DATE_EPOCH"));
  // Absolute: deno compile runs in another directory.
  const out = options.out === undefined
    ? `${ROOT}releases`
    : options.out.startsWith("/")
    ? options.out
    : `${Deno.cwd()}/${options.out}`;
  const shown = options.out ?? "releases";
  await Deno.mkdir(out, { recursive: true });
  const work = await Deno.makeTempDir({ dir: out, prefix: ".build-" });
  const cleanUp = () => {
    try {
      Deno.removeSync(work, { recursive: true });
    } catch {
      // Already gone.
    }
  };
  const signals: [Deno.Signal, () => void][] = (["SIGINT", "SIGTERM"] as const)
    .filter((s) => Deno.build.os !== "windows" || s === "SIGINT")
    .map((signal) => [signal, () => {
      current?.kill("SIGKILL");
      cleanUp();
      Deno.exit(signal === "SIGINT" ? 130 : 143);
    }]);
  for (const [signal, handler] of signals) Deno.addSignalListener(signal, handler);
  try {
    await typeCheck(ROOT);
    const stage = `${work}/stage`;
    await Deno.mkdir(stage);
    await stageSources(ROOT, stage, mtime);
    const binaries = new Map<Target, string>();
    for (const target of options.targets) {
      const runtime = runtimeFor(target, {
        ...(options.denortBin !== undefined ? { denortBin: options.denortBin } : {}),
        ...(options.runtimeDir !== undefined ? { runtimeDir: options.runtimeDir } : {}),
        exists: (path) => {
          try {
            return Deno.statSync(path).isFile;
          } catch {
            return false;
          }
        },
      });
      say(`Compiling pulso ${version} for ${target} with ${describe(runtime)}`);
      await Deno.mkdir(`${work}/${target}`);
      const output = `${work}/${target}/${binaryName(target)}`;
      await compileTarget({
        target,
        runtime,
        stage,
        output,
        work,
        ...(options.runtimeDir !== undefined ? { runtimeDir: options.runtimeDir } : {}),
      });
      binaries.set(target, output);
    }
    const documents: ArchiveEntry[] = [];
    for (const name of DOCUMENTS) {
      try {
        documents.push({ name, data: await Deno.readFile(`${ROOT}${name}`), mode: 0o644 });
      } catch (e) {
        throw new ReleaseError(
          `Cannot read ${name} at the repository root (every archive carries it): ${
            systemMessage(e)
          }`,
        );
      }
    }
    const sums = new Map<string, string>();
    for (const [target, binary] of binaries) {
      const entries = [
        { name: binaryName(target), data: await Deno.readFile(binary), mode: 0o755 },
        ...documents,
      ];
      const name = archiveName(version, target);
      say(`Writing ${shown}/${archivePath(version, target)}`);
      const bytes = name.endsWith(".zip") ? zip(entries, mtime) : tarGz(entries, mtime);
      sums.set(name, await sha256(bytes));
      await Deno.writeFile(`${work}/${target}/${name}`, bytes);
      await Deno.remove(binary);
    }
    // The archives of other targets already built for this version stay listed.
    for (const target of TARGETS) {
      const name = archiveName(version, target);
      const path = `${out}/${archivePath(version, target)}`;
      if (!sums.has(name) && await exists(path)) {
        sums.set(name, await sha256(await Deno.readFile(path)));
      }
    }
    await Deno.writeTextFile(
      `${work}/SHA256SUMS`,
      formatChecksums([...sums].map(([name, sha256]) => ({ name, sha256 }))),
    );
    for (const target of binaries.keys()) {
      await Deno.mkdir(`${out}/${target}`, { recursive: true });
      await Deno.rename(
        `${work}/${target}/${archiveName(version, target)}`,
        `${out}/${archivePath(version, target)}`,
      );
    }
    await Deno.rename(`${work}/SHA256SUMS`, `${out}/SHA256SUMS`);
    say(`Wrote ${shown}/SHA256SUMS (${sums.size} archives)`);
    return 0;
  } finally {
    for (const [signal, handler] of signals) Deno.removeSignalListener(signal, handler);
    cleanUp();
  }
}

if (import.meta.main) {
  let status: number;
  try {
    status = await release(Deno.args);
  } catch (e) {
    console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
    status = 1;
  }
  Deno.exit(status);
}
