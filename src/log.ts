/**
 * Logging on stderr through LogTape, at the level named by `PULSO_LOG` (or `RUST_LOG`, for
 * scripts written for the original pulso).
 *
 * LogTape is loaded on the first message at an enabled level: most runs log nothing at the
 * default level, and loading it costs about 12 ms of CPU at start. Messages keep their order;
 * {@link flushLogs} waits for those still on their way.
 *
 * @module
 */
import type { Logger, LogLevel, LogRecord } from "@logtape/logtape";

/** The levels, least severe first. */
const ORDER: readonly LogLevel[] = ["trace", "debug", "info", "warning", "error", "fatal"];

/** Index in {@link ORDER} of the least severe level written; past the end when off. */
let threshold = ORDER.indexOf("warning");
let logger: Logger | undefined;
let loading: Promise<void> | undefined;
const pending: [LogLevel, string][] = [];

function emit(level: LogLevel, message: string): void {
  if (ORDER.indexOf(level) < threshold) return;
  if (logger) write(logger, level, message);
  else {
    pending.push([level, message]);
    loading ??= load().catch(() => {
      // LogTape did not load (a broken cache): the messages still go out, in the same form.
      for (const [level, message] of pending.splice(0)) writeLine(level, message);
    });
  }
}

function write(to: Logger, level: LogLevel, message: string): void {
  // A template call, so that braces in the message are never taken for placeholders.
  to[level === "warning" ? "warn" : level]`${message}`;
}

async function load(): Promise<void> {
  const { configureSync, getLogger } = await import("@logtape/logtape");
  const level = threshold < ORDER.length ? ORDER[threshold] : null;
  configureSync({
    reset: true,
    sinks: { stderr: stderrSink },
    loggers: [
      { category: ["pulso"], lowestLevel: level ?? "fatal", sinks: level ? ["stderr"] : [] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
  const loaded = getLogger(["pulso"]);
  for (const [level, message] of pending.splice(0)) write(loaded, level, message);
  logger = loaded;
}

/**
 * pulso's logger.
 *
 * @example
 * ```ts
 * log.info(`Filter: ${filter}`);
 * await flushLogs();
 * ```
 */
export const log = {
  /** Logs at level trace. */
  trace: (message: string): void => emit("trace", message),
  /** Logs at level debug. */
  debug: (message: string): void => emit("debug", message),
  /** Logs at level info. */
  info: (message: string): void => emit("info", message),
  /** Logs at level warning. */
  warn: (message: string): void => emit("warning", message),
  /** Logs at level error. */
  error: (message: string): void => emit("error", message),
} as const;

/** Resolves once every message logged so far is written. */
export function flushLogs(): Promise<void> {
  return loading ?? Promise.resolve();
}

const LEVELS: Record<string, LogLevel | null> = {
  off: null,
  error: "error",
  warn: "warning",
  warning: "warning",
  info: "info",
  debug: "debug",
  trace: "trace",
};

/**
 * The level a `PULSO_LOG` / `RUST_LOG` value asks for: a bare level (`info`), or a directive
 * list (`pulso=debug,other=warn`) where pulso's own entry wins. `undefined` when none applies,
 * `null` for `off`.
 *
 * @example
 * ```ts
 * parseLogLevel("pulso=debug,hyper=info"); // "debug"
 * parseLogLevel("INFO"); // "info"
 * ```
 */
export function parseLogLevel(value: string): LogLevel | null | undefined {
  let bare: LogLevel | null | undefined;
  for (const part of value.toLowerCase().split(",")) {
    const [target, level] = part.includes("=") ? part.split("=", 2) : [undefined, part];
    const parsed = LEVELS[level.trim()];
    if (parsed === undefined) continue;
    if (target?.trim() === "pulso") return parsed;
    if (target === undefined) bare = parsed;
  }
  return bare;
}

const encoder = new TextEncoder();

function stderrSink(record: LogRecord): void {
  let message = "";
  for (const part of record.message) message += typeof part === "string" ? part : String(part);
  writeLine(record.level, message);
}

/** Called before a log line is written (the status line clears itself). */
let beforeWrite: (() => void) | undefined;

/**
 * Sets what runs before each log line is written, or none.
 *
 * @example
 * ```ts
 * beforeLogLine(() => status.clear());
 * ```
 */
export function beforeLogLine(hook: (() => void) | undefined): void {
  beforeWrite = hook;
}

/**
 * Whether messages at `level` are written.
 *
 * @example
 * ```ts
 * if (!logsAt("info")) showStatusLine();
 * ```
 */
export function logsAt(level: "debug" | "info" | "warn" | "error"): boolean {
  return ORDER.indexOf(level === "warn" ? "warning" : level) >= threshold;
}

function writeLine(level: LogLevel, message: string): void {
  const name = level === "warning" ? "WARN" : level.toUpperCase();
  beforeWrite?.();
  try {
    Deno.stderr.writeSync(encoder.encode(`[${name} pulso] ${message}\n`));
  } catch {
    // stderr closed: nothing to tell anyone.
  }
}

/** Configures logging from the environment: `PULSO_LOG`, else `RUST_LOG`, else warnings. */
export function setupLogging(env: { get(name: string): string | undefined }): void {
  const raw = env.get("PULSO_LOG") ?? env.get("RUST_LOG");
  const parsed = raw === undefined ? undefined : parseLogLevel(raw);
  const level = parsed === undefined ? "warning" : parsed;
  threshold = level === null ? ORDER.length : ORDER.indexOf(level);
}
