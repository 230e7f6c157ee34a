/**
 * What a release is made of, as pure functions: the targets, the archive and binary names, the
 * `deno compile` arguments with the permissions baked in, where each target's Deno runtime
 * (denort) comes from, the SHA256SUMS format, and the release script's command line.
 * `scripts/release.ts` does the work.
 *
 * @module
 */
import { PERMISSIONS } from "../src/permissions.ts";
import { quote } from "../src/quote.ts";

/** The targets a release is built for, in the order they are built. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** A release target: a `deno compile --target`. */
export type Target = typeof TARGETS[number];

/** The command's entry point, from the repository root. */
export const ENTRY_POINT = "src/main.ts";
/** Modules that deno compile cannot find from the entry point: the output worker's. */
export const INCLUDED = ["src/output_worker.ts"] as const;

/**
 * The flags baked into the binary: pulso's permissions and no prompt. Running
 * `deno run ...BAKED_FLAGS src/main.ts` behaves as the compiled binary does.
 *
 * @example
 * ```ts
 * new Deno.Command(Deno.execPath(), { args: ["run", ...BAKED_FLAGS, ENTRY_POINT, "-V"] });
 * ```
 */
export const BAKED_FLAGS: readonly string[] = ["--no-prompt", ...PERMISSIONS];

/** The files beside the binary in every archive, from the repository root. */
export const DOCUMENTS = ["README.md", "LICENSE"] as const;

/**
 * Whether `name` is a release target.
 *
 * @example
 * ```ts
 * isTarget("x86_64-apple-darwin"); // true
 * ```
 */
export function isTarget(name: string): name is Target {
  return (TARGETS as readonly string[]).includes(name);
}

/**
 * The target of the machine running Deno, when releases are built for it.
 *
 * @example
 * ```ts
 * hostTarget("x86_64-unknown-linux-gnu"); // "x86_64-unknown-linux-gnu"
 * hostTarget("riscv64gc-unknown-linux-gnu"); // undefined
 * ```
 */
export function hostTarget(build: string = Deno.build.target): Target | undefined {
  return isTarget(build) ? build : undefined;
}

/** Whether `target` is a Windows one. */
function windows(target: Target): boolean {
  return target.includes("-windows-");
}

/**
 * The binary's file name: `pulso`, or `pulso.exe` on Windows.
 *
 * @example
 * ```ts
 * binaryName("x86_64-pc-windows-msvc"); // "pulso.exe"
 * ```
 */
export function binaryName(target: Target): string {
  return windows(target) ? "pulso.exe" : "pulso";
}

/**
 * The archive's file name: `pulso_<version>_<target>.tar.gz`, `.zip` on Windows.
 *
 * @example
 * ```ts
 * archiveName("0.1.0", "aarch64-apple-darwin"); // "pulso_0.1.0_aarch64-apple-darwin.tar.gz"
 * ```
 */
export function archiveName(version: string, target: Target): string {
  return `pulso_${version}_${target}${windows(target) ? ".zip" : ".tar.gz"}`;
}

/**
 * The archive's path under the release directory: `<target>/<archive name>`.
 *
 * @example
 * ```ts
 * archivePath("0.1.0", "x86_64-pc-windows-msvc");
 * // "x86_64-pc-windows-msvc/pulso_0.1.0_x86_64-pc-windows-msvc.zip"
 * ```
 */
export function archivePath(version: string, target: Target): string {
  return `${target}/${archiveName(version, target)}`;
}

/**
 * Throws unless `version` can name a release (`MAJOR.MINOR.PATCH`, an optional `-pre-release`).
 *
 * @example
 * ```ts
 * checkVersion("0.1.0");
 * ```
 */
export function checkVersion(version: unknown): string {
  if (typeof version !== "string" || !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version)) {
    throw new Error(
      `Invalid version ${quote(String(version))} in deno.json (MAJOR.MINOR.PATCH expected)`,
    );
  }
  return version;
}

/**
 * Throws unless the git tag names the version: `v<version>`.
 *
 * @example
 * ```ts
 * checkTag("v0.1.0", "0.1.0");
 * ```
 */
export function checkTag(tag: string, version: string): void {
  if (tag !== `v${version}`) {
    throw new Error(
      `The tag ${quote(tag)} does not match deno.json's version: 'v${version}' expected`,
    );
  }
}

/**
 * The arguments of `deno compile` (after the Deno binary) for one target, run from a directory
 * holding a copy of pulso's sources: the baked-in flags, a fixed application name (the default
 * is the output's file name, which would make the binary depend on where it was written), the
 * lock file as committed. Not type-checked again: the release script checks the sources first.
 *
 * @example
 * ```ts
 * compileArgs("x86_64-pc-windows-msvc", "/tmp/out/pulso.exe");
 * ```
 */
export function compileArgs(target: Target, output: string): string[] {
  return [
    "compile",
    "--frozen",
    "--no-check",
    ...BAKED_FLAGS,
    ...INCLUDED.flatMap((path) => ["--include", path]),
    "--app-name",
    "pulso",
    "--target",
    target,
    "--output",
    output,
    ENTRY_POINT,
  ];
}

/** The name of Deno's runtime archive for `target`, as Deno publishes it. */
export function runtimeArchiveName(target: Target): string {
  return `denort-${target}.zip`;
}

/** The runtime's file name inside its archive. */
export function runtimeFileName(target: Target): string {
  return windows(target) ? "denort.exe" : "denort";
}

/** Where one target's Deno runtime (denort) comes from. */
export type Runtime =
  /** `DENORT_BIN`: a denort binary, for the one target built. */
  | { kind: "binary"; path: string }
  /** A `denort-<target>.zip` in the runtime directory. */
  | { kind: "archive"; path: string }
  /** `deno compile`'s own: its cache, else a download from Deno's servers. */
  | { kind: "download" };

/** Where {@link runtimeFor} looks. */
export interface RuntimeSources {
  /** `DENORT_BIN`. */
  denortBin?: string;
  /** `--runtime-dir`, else `PULSO_DENORT_DIR`. */
  runtimeDir?: string;
  /** Whether a file exists (injected, to keep this pure). */
  exists: (path: string) => boolean;
}

/**
 * Where `target`'s runtime comes from: `DENORT_BIN`, then `denort-<target>.zip` in the runtime
 * directory, then `deno compile` itself (its cache, else a download).
 *
 * @example
 * ```ts
 * runtimeFor("aarch64-apple-darwin", { runtimeDir: "/srv/denort", exists: () => true });
 * // { kind: "archive", path: "/srv/denort/denort-aarch64-apple-darwin.zip" }
 * ```
 */
export function runtimeFor(target: Target, sources: RuntimeSources): Runtime {
  if (sources.denortBin) return { kind: "binary", path: sources.denortBin };
  if (sources.runtimeDir) {
    const path = `${sources.runtimeDir.replace(/\/+$/, "")}/${runtimeArchiveName(target)}`;
    if (sources.exists(path)) return { kind: "archive", path };
  }
  return { kind: "download" };
}

/**
 * The one line that says what to provide when `target`'s runtime could not be had: deno compile
 * could not download it (for `cause`), and the runtime directory, if any, did not hold it.
 *
 * @example
 * ```ts
 * runtimeHelp("x86_64-unknown-linux-gnu", "2.9.6", "dns error");
 * ```
 */
export function runtimeHelp(
  target: Target,
  denoVersion: string,
  cause: string,
  runtimeDir?: string,
): string {
  const archive = runtimeArchiveName(target);
  return `Cannot get Deno's runtime for ${target}: ` +
    (runtimeDir !== undefined ? `no ${archive} in ${quote(runtimeDir)}, and ` : "") +
    `deno compile could not download ${archive} (${cause}); provide it: ` +
    `DENORT_BIN=<denort binary of Deno ${denoVersion}> with --target ${target}, ` +
    `or --runtime-dir <directory> (or PULSO_DENORT_DIR) holding ${archive} of Deno ${denoVersion}`;
}

/**
 * SHA256SUMS: one `<hex>  <name>` line per archive (as `sha256sum` writes and `sha256sum -c`
 * reads), sorted by name; names without a directory, as users download them.
 *
 * @example
 * ```ts
 * formatChecksums([{ name: "pulso_0.1.0_x86_64-apple-darwin.tar.gz", sha256: "ab12…" }]);
 * ```
 */
export function formatChecksums(entries: readonly { name: string; sha256: string }[]): string {
  return [...entries].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    .map(({ name, sha256 }) => {
      if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`Invalid SHA-256 ${quote(sha256)}`);
      if (/[\s\\/]/.test(name)) throw new Error(`Invalid archive name ${quote(name)}`);
      return `${sha256}  ${name}\n`;
    }).join("");
}

/** The release script's options. */
export interface ReleaseOptions {
  /** The targets to build: one with `--target`, else all. */
  targets: Target[];
  /** `--runtime-dir`, else `PULSO_DENORT_DIR`. */
  runtimeDir?: string;
  /** `DENORT_BIN`. */
  denortBin?: string;
  /** `--tag`: the git tag being released, checked against the version. */
  tag?: string;
  /** `--out`: where the archives go (default `releases/` in the repository). */
  out?: string;
  help: boolean;
}

/** The release script's usage. */
export const RELEASE_USAGE = `Builds pulso's release archives with deno compile.

Usage: deno task release [OPTIONS]

Options:
  --target <TARGET>      build for one target only (default: all of them)
  --runtime-dir <DIR>    a directory of Deno's runtime archives, denort-<TARGET>.zip
  --tag <TAG>            check that the git tag being released is v<version of deno.json>
  --out <DIR>            write there instead of releases/ (needs write permission there)
  -h, --help             print this help

Targets: ${TARGETS.join(", ")}

Environment:
  DENORT_BIN         Deno's runtime binary (denort) for the one target given with --target
  PULSO_DENORT_DIR   the runtime directory, when --runtime-dir is not given
  SOURCE_DATE_EPOCH  the archives' file times (default: the last commit's time)

Each target's runtime is taken from DENORT_BIN, else the runtime directory, else deno compile
downloads it. Writes <out>/<TARGET>/pulso_<VERSION>_<TARGET>.tar.gz (.zip for Windows) and
<out>/SHA256SUMS, all at once at the end: nothing is written when a build fails.`;

/** A bad command line of the release script. */
export class ReleaseUsageError extends Error {
  /** @param message what is wrong */
  constructor(message: string) {
    super(message);
    this.name = "ReleaseUsageError";
  }
}

/**
 * Reads the release script's command line and environment. Throws {@link ReleaseUsageError}.
 *
 * @example
 * ```ts
 * parseReleaseArgs(["--target", "aarch64-apple-darwin"], { DENORT_BIN: "/tmp/denort" });
 * ```
 */
export function parseReleaseArgs(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ReleaseOptions {
  const options: ReleaseOptions = { targets: [...TARGETS], help: false };
  let target: string | undefined;
  let runtimeDir: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "-h" || arg === "--help") {
      options.help = true;
      continue;
    }
    const [flag, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    if (!["--target", "--runtime-dir", "--tag", "--out"].includes(flag)) {
      throw new ReleaseUsageError(`Unexpected argument ${quote(arg)}`);
    }
    const value = inline ?? args[++i];
    if (value === undefined || value === "") {
      throw new ReleaseUsageError(`A value is required for '${flag}'`);
    }
    if (flag === "--target") target = value;
    else if (flag === "--runtime-dir") runtimeDir = value;
    else if (flag === "--tag") options.tag = value;
    else options.out = value;
  }
  if (options.help) return options;
  if (target !== undefined) {
    if (!isTarget(target)) {
      throw new ReleaseUsageError(
        `Unknown target ${quote(target)} (one of: ${TARGETS.join(", ")})`,
      );
    }
    options.targets = [target];
  }
  runtimeDir ??= env.PULSO_DENORT_DIR || undefined;
  if (runtimeDir !== undefined) options.runtimeDir = runtimeDir;
  if (env.DENORT_BIN) {
    if (target === undefined) {
      throw new ReleaseUsageError(
        `DENORT_BIN ${
          quote(env.DENORT_BIN)
        } is the runtime of one target: give that target with --target`,
      );
    }
    options.denortBin = env.DENORT_BIN;
  }
  return options;
}

/**
 * The reason why deno compile failed, from its stderr: `runtime` when it could not get the
 * runtime (denort), with the last cause it gave; otherwise its first error line.
 *
 * @example
 * ```ts
 * compileFailure("error: …\n    0: Setting up base binary.\n    1: dns error\n");
 * // { runtime: true, message: "dns error" }
 * ```
 */
export function compileFailure(stderr: string): { runtime: boolean; message: string } {
  // deno-lint-ignore no-control-regex
  const text = stderr.replace(/\x1b\[[0-9;]*m/g, "").split("Stack backtrace:")[0];
  const lines = text.split("\n").map((line) => line.trim()).filter((line) => line !== "");
  const runtime = /Setting up base binary|denort/.test(text);
  if (runtime) {
    const causes = lines.filter((line) => /^\d+: /.test(line)).map((l) => l.replace(/^\d+: /, ""));
    const cause = causes.at(-1);
    if (cause) return { runtime, message: cause };
  }
  const error = lines.find((line) => line.startsWith("error: "));
  return {
    runtime,
    message: (error ?? lines.at(-1) ?? "no message").replace(/^error: /, ""),
  };
}
