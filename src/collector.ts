/**
 * Where finished windows go: the digest on stdout (text or JSON Lines) and the state that the
 * metrics endpoint reads between windows. Pure: the writer and the capture's live counters are
 * given to it.
 *
 * @module
 */
import type { OutputFormat } from "./cli.ts";
import type { MetricsSnapshot } from "./metrics.ts";
import { windowJson } from "./window_json.ts";
import { windowText } from "./window_text.ts";
import type { CaptureCounters, WindowReport } from "./windows.ts";

/** What the collector reads of a running capture, at each scrape. */
export interface LiveCounts {
  /** Connections counted since the capture began. */
  connections: number;
  /** Malformed frames since the capture began. */
  malformed: number;
  /** libpcap's counters as monotonic totals (live captures). */
  capture?: CaptureCounters;
  /** Repeated SYNs not counted (with `--dedupe`). */
  retransmissions?: number;
  /** Distinct sources of the capture so far (asked only until a window is complete). */
  distinctSources: () => { count: number; exact: boolean };
}

/** What a {@link Collector} keeps of the last window, for the metrics. */
export interface KeptWindow {
  last: NonNullable<MetricsSnapshot["lastWindow"]>;
  distinct: { count: number; exact: boolean };
}

/** Options of a {@link Collector}. */
export interface CollectorOptions {
  /** How digests are written. */
  format: OutputFormat;
  /** Whether the capture is cut into windows: text digests then get a header line each. */
  windowed: boolean;
  /** Writes text on stdout; false when it could not. */
  write: (text: string) => boolean;
  /** Sources of the last window kept for the metrics. */
  topSources?: number;
}

/**
 * Takes each finished window to the outputs.
 *
 * @example
 * ```ts
 * const collector = new Collector({ format: "json", windowed: true, write: output });
 * collector.publish(report); // one JSON line on stdout
 * collector.snapshot(session, ports); // what /metrics shows now
 * ```
 */
export class Collector {
  readonly #format: OutputFormat;
  readonly #windowed: boolean;
  readonly #write: (text: string) => boolean;
  readonly #topSources: number;
  #last: MetricsSnapshot["lastWindow"];
  #distinct: { count: number; exact: boolean } | undefined;

  constructor(options: CollectorOptions) {
    this.#format = options.format;
    this.#windowed = options.windowed;
    this.#write = options.write;
    this.#topSources = options.topSources ?? 0;
  }

  /**
   * Writes `report` in the chosen format and keeps what the metrics show of it; false when
   * stdout could not be written.
   */
  publish(report: WindowReport): boolean {
    const pieces = this.#format === "json"
      ? windowJson(report)
      : windowText(report, this.#windowed);
    for (const text of pieces) if (!this.#write(text)) return false;
    if (this.#topSources > 0 || this.#windowed) this.#keep(report);
    return true;
  }

  /** What the metrics endpoint shows now: the capture's running totals and the last window. */
  snapshot(live: LiveCounts, ports: Float64Array): MetricsSnapshot {
    // The last window's, or until one is complete the capture's so far.
    const distinct = this.#distinct ?? live.distinctSources();
    const snapshot: MetricsSnapshot = {
      connections: live.connections,
      portConnections: ports,
      malformed: live.malformed,
      ...(live.capture ? { capture: { ...live.capture } } : {}),
      ...(live.retransmissions !== undefined ? { retransmissions: live.retransmissions } : {}),
      distinctSources: distinct.count,
      distinctSourcesExact: distinct.exact,
      ...(this.#last ? { lastWindow: this.#last } : {}),
    };
    return snapshot;
  }

  /**
   * What the collector keeps of the last window for the metrics, to hand to another collector
   * ({@link adopt}): the output worker's to the one that answers scrapes.
   *
   * @example
   * ```ts
   * serving.adopt(writing.kept());
   * ```
   */
  kept(): KeptWindow | undefined {
    return this.#last && this.#distinct
      ? { last: this.#last, distinct: this.#distinct }
      : undefined;
  }

  /** Takes over what another collector kept of its last window (see {@link kept}). */
  adopt(kept: KeptWindow | undefined): void {
    if (kept === undefined) return;
    this.#last = kept.last;
    this.#distinct = kept.distinct;
  }

  #keep(report: WindowReport): void {
    if (report.end === undefined) return;
    const top: { source: string; connections: number }[] = [];
    if (this.#topSources > 0) {
      for (const line of report.digest.lines()) {
        top.push({ source: line.source, connections: line.connections });
        if (top.length >= this.#topSources) break;
      }
    }
    this.#last = { end: report.end / 1000, connections: report.connections, topSources: top };
    this.#distinct = {
      count: report.digest.distinctSources,
      exact: report.digest.distinctSourcesExact,
    };
  }
}
