/**
 * Helpers for tests that run pulso as a subprocess, as a user would.
 *
 * @module
 */
import { KeyedHasher } from "../src/keyed_hash.ts";
import { parseAddress } from "../src/address.ts";
import { PERMISSIONS } from "../src/permissions.ts";

/** The repository root. */
export const ROOT = new URL("../", import.meta.url).pathname;
/** The shared capture corpus beside the repository. */
export const CORPUS = new URL("../../shared/corpus/", import.meta.url).pathname;
/** The secret the tests use. */
export const SECRET = "test";

/** Arguments that run pulso from source with the permissions its task grants. */
export const PULSO_RUN = [
  "run",
  "--quiet",
  "--no-prompt",
  ...PERMISSIONS,
  `${ROOT}src/main.ts`,
];

/** The same as one shell word list: pulso run from source, for scripts. */
export const PULSO_COMMAND = [Deno.execPath(), ...PULSO_RUN].join(" ");

/**
 * Runs a bash `script` in a network namespace of its own (`unshare --net`, as root), in `cwd`,
 * with `PULSO_SECRET` set: nothing it sends can leave the machine.
 */
export async function inNamespace(
  script: string,
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("unshare", {
    args: ["--net", "bash", "-c", script],
    cwd,
    env: { PULSO_SECRET: SECRET },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** The result of a finished pulso run. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, in seconds. */
  seconds: number;
}

/** Options of {@link pulso} and {@link spawnPulso}. */
export interface RunOptions {
  env?: Record<string, string>;
  /** Variables removed from the environment. */
  unset?: string[];
  stdin?: Uint8Array;
  /** Run through this command prefix (e.g. `["setpriv", …, "--"]`). */
  prefix?: string[];
  /** The command that runs pulso, before its arguments (default: from source, {@link PULSO_RUN}). */
  program?: readonly string[];
}

function command(args: string[], options: RunOptions, stdin: boolean): Deno.Command {
  const env: Record<string, string> = { ...Deno.env.toObject(), PULSO_SECRET: SECRET };
  for (const name of options.unset ?? []) delete env[name];
  Object.assign(env, options.env ?? {});
  const program = options.program ?? [Deno.execPath(), ...PULSO_RUN];
  const argv = [...(options.prefix ?? []), ...program, ...args];
  return new Deno.Command(argv[0], {
    args: argv.slice(1),
    env,
    clearEnv: true,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Runs pulso to completion. */
export async function pulso(args: string[], options: RunOptions = {}): Promise<Run> {
  const start = performance.now();
  const child = command(args, options, options.stdin !== undefined).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(options.stdin);
    await writer.close();
  }
  const out = await child.output();
  const seconds = (performance.now() - start) / 1000;
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
    seconds,
  };
}

/** A pulso process capturing live, started by {@link spawnPulso}. */
export interface LivePulso {
  child: Deno.ChildProcess;
  /** Resolves when the process ends. */
  done: Promise<Run>;
}

/**
 * Starts a live capture and resolves once pulso logs that it is capturing (so traffic made
 * afterwards is seen). Logging is forced to info for that.
 */
export async function spawnPulso(args: string[], options: RunOptions = {}): Promise<LivePulso> {
  const start = performance.now();
  const child = command(args, { ...options, env: { PULSO_LOG: "info", ...options.env } }, false)
    .spawn();
  const decoder = new TextDecoder();
  let stderr = "";
  const { promise: isReady, resolve: ready } = Promise.withResolvers<void>();
  const stderrDone = (async () => {
    for await (const chunk of child.stderr) {
      stderr += decoder.decode(chunk, { stream: true });
      if (stderr.includes("Filter: ")) ready();
    }
    ready();
  })();
  const stdoutText = new Response(child.stdout).text();
  const done = (async () => {
    const status = await child.status;
    await stderrDone;
    return {
      code: status.code,
      stdout: await stdoutText,
      stderr,
      seconds: (performance.now() - start) / 1000,
    };
  })();
  await isReady;
  return { child, done };
}

const HASHER = await KeyedHasher.create(SECRET);

/** The keyed hash the tests expect for an address in text form. */
export function hashOf(address: string): string {
  const bytes = parseAddress(address);
  if (!bytes) throw new Error(`Not an address: '${address}'`);
  return HASHER.hash(bytes);
}

/** A listener on `hostname` that accepts and closes connections; close it when done. */
export function listen(hostname: string): Deno.TcpListener & { port: number } {
  const listener = Deno.listen({ hostname, port: 0 });
  (async () => {
    try {
      for await (const conn of listener) conn.close();
    } catch {
      // Listener closed.
    }
  })();
  return Object.assign(listener, { port: (listener.addr as Deno.NetAddr).port });
}

/** Opens one TCP connection to `hostname:port` and closes it. */
export async function connectOnce(hostname: string, port: number): Promise<void> {
  const conn = await Deno.connect({ hostname, port });
  conn.close();
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether a command exists on PATH. */
export function have(name: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${name}`], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/**
 * A command prefix (for {@link RunOptions.prefix}) that runs pulso where no libpcap can be
 * loaded: in a mount namespace of its own, every libpcap the dynamic loader knows is hidden
 * under /dev/null. Undefined where that cannot be done (not root, no unshare or ldconfig).
 */
export const WITHOUT_LIBPCAP: string[] | undefined = Deno.uid() === 0 && have("unshare") &&
    have("ldconfig")
  ? [
    "unshare",
    "--mount",
    "--",
    "sh",
    "-c",
    'for f in $(ldconfig -p | grep -o "/[^ ]*libpcap[^ ]*"); do ' +
    'mount --bind /dev/null "$(readlink -f "$f")" || exit 99; done; exec "$@"',
    "sh",
  ]
  : undefined;

/**
 * `promtool check metrics` on `text`: its exit status and everything it printed (nothing when
 * the exposition is clean).
 */
export async function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  const decoder = new TextDecoder();
  return { code: out.code, output: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
}

/** Builds the benchmark's SYN generator (scripts/syn_flood.c) into `dir`; its path. */
export async function buildSynFlood(dir: string): Promise<string> {
  const binary = `${dir}/syn_flood`;
  const gcc = await new Deno.Command("gcc", {
    args: ["-O2", "-o", binary, `${ROOT}scripts/syn_flood.c`],
    stderr: "piped",
  }).output();
  if (gcc.code !== 0) throw new Error(`gcc failed: ${new TextDecoder().decode(gcc.stderr)}`);
  return binary;
}
