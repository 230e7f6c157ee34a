/**
 * Logging on stderr through LogTape, at the level named by `PULSO_LOG` (or `RUST_LOG`, for
 * scripts written for the original pulso).
 *
 * @module
 */
import {
  configureSync,
  getLogger,
  type Logger,
  type LogLevel,
  type LogRecord,
} from "@logtape/logtape";

/** pulso's logger. */
export const log: Logger = getLogger(["pulso"]);

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
  const level = record.level === "warning" ? "WARN" : record.level.toUpperCase();
  try {
    Deno.stderr.writeSync(encoder.encode(`[${level} pulso] ${message}\n`));
  } catch {
    // stderr closed: nothing to tell anyone.
  }
}

/** Configures logging from the environment: `PULSO_LOG`, else `RUST_LOG`, else warnings. */
export function setupLogging(env: { get(name: string): string | undefined }): void {
  const raw = env.get("PULSO_LOG") ?? env.get("RUST_LOG");
  const parsed = raw === undefined ? undefined : parseLogLevel(raw);
  const level = parsed === undefined ? "warning" : parsed;
  configureSync({
    reset: true,
    sinks: { stderr: stderrSink },
    loggers: [
      { category: ["pulso"], lowestLevel: level ?? "fatal", sinks: level ? ["stderr"] : [] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
}
