/**
 * pulso's metrics in Prometheus' text format 0.0.4 and in OpenMetrics 1.0.0. Pure: no I/O.
 *
 * Cardinality is bounded: one series per destination port for at most `maxPortSeries` ports
 * (sticky: a port keeps its series once it has one, so that every counter stays monotonic), the
 * connections to the other ports in one counter of their own, and one series per source only for
 * the top `maxSourceSeries` sources of the last completed window. Never one series per source of
 * the whole run: addresses, hashed or not, are an unbounded set.
 *
 * @module
 */

/** The exposition formats: Prometheus' text format 0.0.4, or OpenMetrics 1.0.0. */
export type MetricsFormat = "text" | "openmetrics";

/**
 * The `Content-Type` of each format.
 *
 * @example
 * ```ts
 * new Response(body, { headers: { "Content-Type": CONTENT_TYPES.openmetrics } });
 * ```
 */
export const CONTENT_TYPES: Readonly<Record<MetricsFormat, string>> = Object.freeze({
  text: "text/plain; version=0.0.4; charset=utf-8",
  openmetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8",
});

/** Series per destination port at most, by default. */
export const DEFAULT_MAX_PORT_SERIES = 64;

/** Series per source (of the last completed window) at most, by default. */
export const DEFAULT_MAX_SOURCE_SERIES = 10;

/** What a scrape shows: the counters of the run at one moment. */
export interface MetricsSnapshot {
  /** New connection events counted since start. */
  connections: number;
  /**
   * Length 65536: the connections counted since start by destination port, exact and monotonic;
   * they sum to `connections`.
   */
  portConnections: Float64Array;
  /** Malformed frames since start. */
  malformed: number;
  /** Retransmitted SYNs not counted again, since start: with `--dedupe` only. */
  retransmissions?: number;
  /** libpcap's statistics as monotonic totals (wraps of its 32-bit counters undone): live only. */
  capture?: { received: number; dropped: number; ifDropped: number };
  /** Distinct sources: of the last completed window with windows, of the run so far without. */
  distinctSources: number;
  /** Whether `distinctSources` is exact (false: an estimate). */
  distinctSourcesExact: boolean;
  /** The last completed window, if one has completed. */
  lastWindow?: {
    /** Its end, in milliseconds since the Unix epoch. */
    end: number;
    /** Connections counted in it. */
    connections: number;
    /** Its top sources, most first; may be longer than the bound. */
    topSources: readonly { source: string; connections: number }[];
  };
}

/** Options of {@link MetricsExposition}. */
export interface MetricsExpositionOptions {
  /** pulso's version, for `pulso_build_info`. */
  version: string;
  /** libpcap's version string, for `pulso_build_info`. */
  libpcap: string;
  /** Destination ports with a series of their own at most (0 to 65536; default 64). */
  maxPortSeries?: number;
  /** Sources of the last window with a series of their own at most (default 10). */
  maxSourceSeries?: number;
}

/** One metric family: its names and header lines in both formats. */
interface Family {
  /** The sample name (with `_total` for a counter, `_info` for an info). */
  sample: string;
  /** `# HELP` and `# TYPE` lines, each ending in a line feed, by format. */
  header: Record<MetricsFormat, string>;
}

function family(
  sample: string,
  type: "counter" | "gauge" | "info",
  help: string,
): Family {
  // OpenMetrics names the family without the sample's suffix; the text format has no info type.
  const omName = type === "counter"
    ? sample.replace(/_total$/, "")
    : type === "info"
    ? sample.replace(/_info$/, "")
    : sample;
  return {
    sample,
    header: {
      text: `# HELP ${sample} ${escapeHelpText(help)}\n# TYPE ${sample} ${
        type === "info" ? "gauge" : type
      }\n`,
      openmetrics: `# HELP ${omName} ${escapeHelpOpenMetrics(help)}\n# TYPE ${omName} ${type}\n`,
    },
  };
}

const CONNECTIONS = family(
  "pulso_connections_total",
  "counter",
  "New TCP connections counted since start",
);
const PORT_CONNECTIONS = family(
  "pulso_port_connections_total",
  "counter",
  "New TCP connections counted since start, by destination port (a bounded set of ports; " +
    "the others are counted in pulso_unlisted_port_connections_total)",
);
const UNLISTED_PORT_CONNECTIONS = family(
  "pulso_unlisted_port_connections_total",
  "counter",
  "New TCP connections counted since start to destination ports without a series in " +
    "pulso_port_connections_total",
);
const MALFORMED = family(
  "pulso_malformed_frames_total",
  "counter",
  "Captured frames that could not be decoded, since start",
);
const RETRANSMISSIONS = family(
  "pulso_retransmissions_total",
  "counter",
  "Retransmitted SYNs not counted again (--dedupe), since start",
);
const PACKETS_RECEIVED = family(
  "pulso_packets_received_total",
  "counter",
  "Packets received by the capture, as counted by libpcap",
);
const PACKETS_DROPPED = family(
  "pulso_packets_dropped_total",
  "counter",
  "Packets dropped by the capture for lack of buffer space, as counted by libpcap",
);
const PACKETS_INTERFACE_DROPPED = family(
  "pulso_packets_interface_dropped_total",
  "counter",
  "Packets dropped by the network interface or its driver, as counted by libpcap",
);
const DISTINCT_SOURCES = family(
  "pulso_distinct_sources",
  "gauge",
  "Distinct sources: of the last completed window when counting by window, of the run so far " +
    "otherwise",
);
const DISTINCT_SOURCES_EXACT = family(
  "pulso_distinct_sources_exact",
  "gauge",
  "1 when pulso_distinct_sources is an exact count, 0 when it is an estimate",
);
const WINDOW_END = family(
  "pulso_window_end_timestamp_seconds",
  "gauge",
  "End of the last completed window, in seconds since the Unix epoch",
);
const WINDOW_CONNECTIONS = family(
  "pulso_window_connections",
  "gauge",
  "New TCP connections counted in the last completed window",
);
const WINDOW_SOURCE_CONNECTIONS = family(
  "pulso_window_source_connections",
  "gauge",
  "New TCP connections from each of the top sources of the last completed window",
);
const BUILD_INFO = family(
  "pulso_build_info",
  "info",
  "The versions of pulso and of libpcap, as labels; the value is always 1",
);

const PORTS = 65536;

/**
 * Renders snapshots as Prometheus exposition text, choosing which destination ports have a
 * series of their own.
 *
 * Port series are sticky and given at render time: while fewer than `maxPortSeries` ports have
 * one, each render gives the free slots to the most counted ports without one (ties: the lower
 * port). A port shows its exact total since start from its first scrape on. The connections to
 * the ports without a series are in `pulso_unlisted_port_connections_total`, and the two sum to
 * `pulso_connections_total`. That counter is monotonic too: while slots are free every counted
 * port gets one, so it stays 0 until the slots are full, and then no port ever changes sides.
 *
 * Cost: while slots are free, a render that follows new connections scans the 65536 port
 * counters once (about 50 µs); once the slots are full, or when nothing was counted since the
 * last scan, it scans nothing. The rest is proportional to the series shown.
 *
 * @example
 * ```ts
 * const exposition = new MetricsExposition({ version: "0.1.0", libpcap: "libpcap version 1.10.3" });
 * const body = exposition.render(snapshot, negotiateFormat(request.headers.get("Accept")));
 * ```
 */
export class MetricsExposition {
  readonly #maxPortSeries: number;
  readonly #maxSourceSeries: number;
  readonly #buildInfo: Record<MetricsFormat, string>;
  /** Ports with a series, ascending. */
  #listed: number[] = [];
  /** 1 for the ports with a series. */
  readonly #isListed = new Uint8Array(PORTS);
  /** `connections` at the last scan for free slots; NaN before the first. */
  #scannedAt = NaN;

  /**
   * @param options the versions shown in `pulso_build_info`, and the bounds on series
   * @throws {RangeError} when a bound is not a whole number in range
   */
  constructor(options: MetricsExpositionOptions) {
    this.#maxPortSeries = bound(
      options.maxPortSeries ?? DEFAULT_MAX_PORT_SERIES,
      PORTS,
      "maxPortSeries",
    );
    this.#maxSourceSeries = bound(
      options.maxSourceSeries ?? DEFAULT_MAX_SOURCE_SERIES,
      Number.MAX_SAFE_INTEGER,
      "maxSourceSeries",
    );
    const labels = `{version="${escapeLabelValue(options.version)}",libpcap="${
      escapeLabelValue(options.libpcap)
    }"} 1\n`;
    this.#buildInfo = {
      text: BUILD_INFO.header.text + BUILD_INFO.sample + labels,
      openmetrics: BUILD_INFO.header.openmetrics + BUILD_INFO.sample + labels,
    };
  }

  /** The ports that have a series, ascending (a copy). */
  get listedPorts(): number[] {
    return [...this.#listed];
  }

  /**
   * The exposition of `snapshot` in `format`, every line ending in a line feed (OpenMetrics':
   * with `# EOF` last). May give free port slots to ports counted since the last render.
   *
   * @example
   * ```ts
   * exposition.render(snapshot, "text"); // "# HELP pulso_connections_total …"
   * ```
   */
  render(snapshot: MetricsSnapshot, format: MetricsFormat): string {
    const counts = snapshot.portConnections;
    if (counts.length !== PORTS) {
      throw new RangeError(`portConnections has ${PORTS} entries, not ${counts.length}`);
    }
    this.#assignPorts(snapshot);
    let out = "";
    const sample = (f: Family, value: number) => `${f.sample} ${formatValue(value)}\n`;

    out += CONNECTIONS.header[format] + sample(CONNECTIONS, snapshot.connections);

    let listedSum = 0;
    if (this.#listed.length > 0) {
      out += PORT_CONNECTIONS.header[format];
      for (const port of this.#listed) {
        const value = counts[port];
        listedSum += value;
        out += `${PORT_CONNECTIONS.sample}{port="${port}"} ${formatValue(value)}\n`;
      }
    }
    out += UNLISTED_PORT_CONNECTIONS.header[format] +
      sample(UNLISTED_PORT_CONNECTIONS, Math.max(0, snapshot.connections - listedSum));

    out += MALFORMED.header[format] + sample(MALFORMED, snapshot.malformed);
    if (snapshot.retransmissions !== undefined) {
      out += RETRANSMISSIONS.header[format] + sample(RETRANSMISSIONS, snapshot.retransmissions);
    }
    const capture = snapshot.capture;
    if (capture !== undefined) {
      out += PACKETS_RECEIVED.header[format] + sample(PACKETS_RECEIVED, capture.received) +
        PACKETS_DROPPED.header[format] + sample(PACKETS_DROPPED, capture.dropped) +
        PACKETS_INTERFACE_DROPPED.header[format] +
        sample(PACKETS_INTERFACE_DROPPED, capture.ifDropped);
    }

    out += DISTINCT_SOURCES.header[format] + sample(DISTINCT_SOURCES, snapshot.distinctSources) +
      DISTINCT_SOURCES_EXACT.header[format] +
      sample(DISTINCT_SOURCES_EXACT, snapshot.distinctSourcesExact ? 1 : 0);

    const window = snapshot.lastWindow;
    if (window !== undefined) {
      out += WINDOW_END.header[format] + sample(WINDOW_END, window.end / 1000) +
        WINDOW_CONNECTIONS.header[format] + sample(WINDOW_CONNECTIONS, window.connections);
      let sources = "";
      const seen = new Set<string>();
      for (const { source, connections } of window.topSources) {
        if (seen.size >= this.#maxSourceSeries) break;
        const label = sourceLabel(source);
        if (seen.has(label)) continue; // one series per label set, whatever the caller gives
        seen.add(label);
        sources += `${WINDOW_SOURCE_CONNECTIONS.sample}{source="${escapeLabelValue(label)}"} ${
          formatValue(connections)
        }\n`;
      }
      if (sources !== "") out += WINDOW_SOURCE_CONNECTIONS.header[format] + sources;
    }

    out += this.#buildInfo[format];
    if (format === "openmetrics") out += "# EOF\n";
    return out;
  }

  /** Gives the free port slots to the most counted ports without one. */
  #assignPorts(snapshot: MetricsSnapshot): void {
    const free = this.#maxPortSeries - this.#listed.length;
    // After a scan that left slots free, every counted port has one: nothing to do until more
    // connections are counted.
    if (free <= 0 || snapshot.connections === this.#scannedAt) return;
    this.#scannedAt = snapshot.connections;
    const counts = snapshot.portConnections;
    const isListed = this.#isListed;
    const candidates: number[] = [];
    for (let port = 0; port < PORTS; port++) {
      if (counts[port] > 0 && isListed[port] === 0) candidates.push(port);
    }
    if (candidates.length === 0) return;
    if (candidates.length > free) {
      // Once at most: the slots are full after this.
      candidates.sort((a, b) => counts[b] - counts[a] || a - b);
      candidates.length = free;
    }
    for (const port of candidates) isListed[port] = 1;
    this.#listed.push(...candidates);
    this.#listed.sort((a, b) => a - b);
  }
}

function bound(value: number, max: number, name: string): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`Invalid ${name} '${value}' (expected a whole number from 0 to ${max})`);
  }
  return value;
}

/** A source's label value: an IPv6 address in clear loses its brackets. */
function sourceLabel(source: string): string {
  return source.length >= 2 && source.startsWith("[") && source.endsWith("]")
    ? source.slice(1, -1)
    : source;
}

/**
 * A sample value: integers as integers, `NaN`, `+Inf` and `-Inf` as both formats spell them,
 * other numbers in the shortest form that reads back the same.
 */
function formatValue(value: number): string {
  if (Number.isFinite(value)) return String(value);
  if (Number.isNaN(value)) return "NaN";
  return value > 0 ? "+Inf" : "-Inf";
}

/**
 * A label value escaped for both formats: backslash, double quote and line feed.
 *
 * @example
 * ```ts
 * escapeLabelValue('a"b\\c\nd'); // 'a\\"b\\\\c\\nd'
 * ```
 */
export function escapeLabelValue(value: string): string {
  return /["\\\n]/.test(value)
    ? value.replace(/["\\\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`))
    : value;
}

/** HELP text in the text format: backslash and line feed escaped (a double quote is not). */
function escapeHelpText(help: string): string {
  return help.replace(/[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\\\"));
}

/** HELP text in OpenMetrics: backslash, double quote and line feed escaped. */
function escapeHelpOpenMetrics(help: string): string {
  return escapeLabelValue(help);
}

/** How specifically a media range matches a format: -1 not at all, up to 3 exactly. */
function specificity(
  type: string,
  subtype: string,
  version: string | undefined,
  format: MetricsFormat,
): number {
  const [wantType, wantSubtype, wantVersion] = format === "openmetrics"
    ? ["application", "openmetrics-text", "1.0.0"]
    : ["text", "plain", "0.0.4"];
  if (type === "*") return subtype === "*" ? 0 : -1;
  if (type !== wantType) return -1;
  if (subtype === "*") return 1;
  if (subtype !== wantSubtype) return -1;
  if (version === undefined) return 2;
  return version === wantVersion ? 3 : -1;
}

/**
 * The format to answer a scrape with, from its `Accept` header: OpenMetrics 1.0.0 when the
 * header prefers it (by q-value, each format taking the q of its most specific matching range:
 * `application/openmetrics-text` without a version or with `version=1.0.0`, then the
 * wildcards), the text format 0.0.4 otherwise, also when there is no header or when nothing
 * matches (no 406: Prometheus reads the text format whatever it asked for). Ranges with a
 * malformed q-value are ignored.
 *
 * @example
 * ```ts
 * negotiateFormat("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5");
 * // "openmetrics"
 * negotiateFormat(null); // "text"
 * ```
 */
export function negotiateFormat(accept: string | null): MetricsFormat {
  if (accept === null) return "text";
  const best: Record<MetricsFormat, { specificity: number; q: number }> = {
    text: { specificity: -1, q: 0 },
    openmetrics: { specificity: -1, q: 0 },
  };
  for (const range of accept.split(",")) {
    const [media, ...parameters] = range.split(";");
    const slash = media.indexOf("/");
    if (slash < 0) continue;
    const type = media.slice(0, slash).trim().toLowerCase();
    const subtype = media.slice(slash + 1).trim().toLowerCase();
    let q = 1;
    let version: string | undefined;
    let valid = type !== "" && subtype !== "";
    for (const parameter of parameters) {
      const equals = parameter.indexOf("=");
      if (equals < 0) continue;
      const name = parameter.slice(0, equals).trim().toLowerCase();
      let value = parameter.slice(equals + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
        value = value.slice(1, -1);
      }
      if (name === "q") {
        if (!/^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(value)) valid = false;
        else q = Number(value);
      } else if (name === "version") version = value;
    }
    if (!valid) continue;
    for (const format of ["text", "openmetrics"] as const) {
      const s = specificity(type, subtype, version, format);
      const current = best[format];
      if (s > current.specificity) best[format] = { specificity: s, q };
      else if (s === current.specificity && s >= 0) current.q = Math.max(current.q, q);
    }
  }
  return best.openmetrics.q > best.text.q ? "openmetrics" : "text";
}
