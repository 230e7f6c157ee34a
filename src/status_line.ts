/**
 * The status line: one line on a terminal's stderr, refreshed in place a few times a second,
 * with the elapsed time, connections, sources, the rate of SYNs, drops and (reading a regular
 * file) the share read and the time left. It is cleared before a digest or a log line is
 * written, and at exit. Only when stderr is a terminal and logging is at `warn` or quieter.
 *
 * @module
 */

/** What the status line shows. */
export interface StatusFigures {
  /** Milliseconds since the capture began. */
  elapsedMs: number;
  /** Connections counted. */
  connections: number;
  /** Packets libpcap dropped (live captures). */
  dropped?: number;
  /** Reading a regular file: the share of its bytes read, 0 to 1. */
  read?: number;
}

/**
 * A duration as `1h02m`, `3m05s` or `12.3s`.
 *
 * @example
 * ```ts
 * duration(185_000); // "3m05s"
 * ```
 */
export function duration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** Distinct sources, and whether the count is exact. */
export interface SourceCount {
  count: number;
  exact: boolean;
}

/**
 * The status text for `figures`, with `sources` and `rate` SYNs a second, at most `columns`
 * characters.
 *
 * @example
 * ```ts
 * formatStatus({ elapsedMs: 12_300, connections: 4512, dropped: 0 }, { count: 37, exact: true },
 *   1200, 80);
 * // "pulso 12.3s · 4512 connections · 37 sources · 1200 SYN/s · 0 dropped"
 * ```
 */
export function formatStatus(
  figures: StatusFigures,
  sources: SourceCount,
  rate: number,
  columns: number,
): string {
  const parts = [
    `pulso ${duration(figures.elapsedMs)}`,
    `${figures.connections} connections`,
    `${sources.exact ? "" : "~"}${sources.count} sources`,
    `${Math.round(rate)} SYN/s`,
  ];
  if (figures.dropped !== undefined) parts.push(`${figures.dropped} dropped`);
  const read = figures.read;
  if (read !== undefined) {
    parts.push(`${Math.floor(read * 100)}% read`);
    if (read > 0 && read < 1) {
      parts.push(`${duration(figures.elapsedMs * (1 - read) / read)} left`);
    }
  }
  const text = parts.join(" · ");
  return text.length <= columns ? text : text.slice(0, Math.max(0, columns - 1)) + "…";
}

/** Where the status line goes. */
export interface StatusTerminal {
  /** Writes `text` as it is (control sequences included). */
  write(text: string): void;
  /** The terminal's width in columns. */
  columns(): number;
}

/** How often the line is refreshed, in milliseconds. */
export const STATUS_REFRESH_MS = 250;
/** How often the sources are counted again (a pass over the counter), in milliseconds. */
const SOURCES_REFRESH_MS = 1000;

const CLEAR = "\r\x1b[2K";

/**
 * A status line refreshed in place until {@link StatusLine.close}.
 *
 * @example
 * ```ts
 * using status = new StatusLine(terminal, () => figures(), () => session.distinctSources());
 * status.clear(); // before writing anything else
 * ```
 */
export class StatusLine {
  readonly #terminal: StatusTerminal;
  readonly #figures: () => StatusFigures;
  readonly #countSources: () => SourceCount;
  readonly #timer: ReturnType<typeof setInterval>;
  #shown = false;
  #closed = false;
  /** The connections and the time at the last refresh, for the rate. */
  #last: { at: number; connections: number } | undefined;
  #rate = 0;
  #sources: SourceCount = { count: 0, exact: true };
  #sourcesAt = -Infinity;

  /**
   * Starts refreshing `terminal` with what `figures` gives, at each refresh (keep it cheap), and
   * `sources`, at most once a second.
   */
  constructor(
    terminal: StatusTerminal,
    figures: () => StatusFigures,
    sources: () => SourceCount,
    refreshMs = STATUS_REFRESH_MS,
  ) {
    this.#terminal = terminal;
    this.#figures = figures;
    this.#countSources = sources;
    this.#timer = setInterval(() => this.refresh(), refreshMs);
    // The line never keeps pulso running.
    Deno.unrefTimer(this.#timer as unknown as number);
  }

  /** Draws the line now. */
  refresh(): void {
    if (this.#closed) return;
    const now = performance.now();
    const figures = this.#figures();
    const last = this.#last;
    if (last && now > last.at) {
      const instant = (figures.connections - last.connections) * 1000 / (now - last.at);
      // Smoothed over about a second.
      this.#rate += (instant - this.#rate) * Math.min(1, (now - last.at) / 1000);
    }
    this.#last = { at: now, connections: figures.connections };
    if (now - this.#sourcesAt >= SOURCES_REFRESH_MS) {
      this.#sources = this.#countSources();
      this.#sourcesAt = now;
    }
    const text = formatStatus(figures, this.#sources, this.#rate, this.#width());
    this.#terminal.write(CLEAR + text);
    this.#shown = true;
  }

  /** Clears the line, if shown, so that other output starts on a clean line. */
  clear(): void {
    if (!this.#shown) return;
    this.#terminal.write(CLEAR);
    this.#shown = false;
  }

  /** Clears the line and stops refreshing it; idempotent. */
  close(): void {
    if (this.#closed) return;
    clearInterval(this.#timer);
    this.clear();
    this.#closed = true;
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #width(): number {
    let columns = 0;
    try {
      columns = this.#terminal.columns();
    } catch {
      // Not a terminal after all: a common width.
    }
    // A terminal of unknown size (0 columns) gets a common width.
    return columns > 0 ? Math.max(20, columns - 1) : 79;
  }
}
