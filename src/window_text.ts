/**
 * The text output of windows: each window's header line, then its digest lines.
 *
 * `# 2026-12-01T08:00:00.000Z 2026-12-01T08:01:00.000Z connections=120 sources=7 received=244
 * dropped=0 ifdropped=0 malformed=0` (one line): the window's start and end in ISO 8601 UTC,
 * its connections, its distinct sources (`~N` when estimated), libpcap's counters for the
 * window (live captures only), malformed frames, and with `--dedupe` the repeated SYNs not
 * counted. Without `--interval` pulso prints the digest alone, as it always has.
 *
 * @module
 */
import { digestText } from "./digest.ts";
import type { WindowReport } from "./windows.ts";

/**
 * A time in microseconds since the epoch as ISO 8601 UTC, to the millisecond.
 *
 * @example
 * ```ts
 * isoTime(1_764_576_000_000_000); // "2025-12-01T08:00:00.000Z"
 * ```
 */
export function isoTime(us: number): string {
  // Dates go to ±8.64e15 ms: a damaged file's timestamps may lie beyond.
  const ms = Math.min(MAX_DATE_MS, Math.max(-MAX_DATE_MS, Math.floor(us / 1000)));
  return new Date(Number.isFinite(ms) ? ms : 0).toISOString();
}

const MAX_DATE_MS = 8.64e15;

/**
 * A window's header line, with its newline.
 *
 * @example
 * ```ts
 * windowHeader(report);
 * // "# 2026-12-01T08:00:00.000Z 2026-12-01T08:01:00.000Z connections=3 sources=1 malformed=0\n"
 * ```
 */
export function windowHeader(report: WindowReport): string {
  const time = (us: number | undefined) => us === undefined ? "-" : isoTime(us);
  const { digest, capture } = report;
  let out = `# ${time(report.start)} ${time(report.end)} connections=${report.connections}` +
    ` sources=${digest.distinctSourcesExact ? "" : "~"}${digest.distinctSources}`;
  if (capture) {
    out += ` received=${capture.received} dropped=${capture.dropped}` +
      ` ifdropped=${capture.ifDropped}`;
  }
  out += ` malformed=${report.malformed}`;
  if (report.retransmissions !== undefined) out += ` retransmissions=${report.retransmissions}`;
  return `${out}\n`;
}

/**
 * A window as text, in pieces written as they come: its header (when `header`), then its
 * digest lines.
 *
 * @example
 * ```ts
 * for (const text of windowText(report, true)) write(text);
 * ```
 */
export function* windowText(report: WindowReport, header: boolean): IterableIterator<string> {
  if (header) yield windowHeader(report);
  yield* digestText(report.digest);
}
