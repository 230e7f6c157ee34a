/**
 * The digest: what pulso prints when a capture ends, one line per source,
 * `SOURCE:TOTAL PORT:COUNT …`.
 *
 * Sources come by total descending, then by source ascending (hash text when hashed; address
 * order, IPv4 before IPv6, when in clear); ports by count descending, then port ascending.
 *
 * Beyond the summary's bounds every number is a lower bound, prefixed with `~` where the true
 * count may be higher; a line's ports plus its `other:COUNT` (connections to ports that are not
 * tracked) add up to its total, and the sources' totals plus a last line `other:COUNT`
 * (connections not credited to a listed source) to the connections counted. Within the bounds
 * none of these marks appear: the digest is exact.
 *
 * @module
 */
import { formatAddress } from "./address.ts";
import type { ConnectionSummary, SummarySource } from "./summary.ts";

/** A port of a digest line. */
export interface DigestPort {
  /** TCP destination port. */
  port: number;
  /** Connections certainly made to it (a lower bound). */
  connections: number;
  /** How many more there may have been; 0 when exact. */
  error: number;
}

/** One source of a digest, its total and its ports. */
export interface DigestLine {
  /** The source as printed: a keyed hash, or an address in clear (IPv6 in brackets). */
  source: string;
  /** Connections certainly from this source (a lower bound). */
  connections: number;
  /** How many more there may have been; 0 when exact. */
  error: number;
  /** Of `connections`, those to ports that are not listed. */
  untracked: number;
  /** The listed ports, most counted first. */
  ports: DigestPort[];
}

/** A digest: its totals, and its lines, made one at a time. */
export interface Digest {
  /** Connections counted. */
  connections: number;
  /** Of them, those not credited to a listed source. */
  untracked: number;
  /** Distinct sources seen (exact, or an estimate). */
  distinctSources: number;
  /** Whether {@link distinctSources} is exact. */
  distinctSourcesExact: boolean;
  /** Whether every number of the digest is exact. */
  exact: boolean;
  /** Sources listed. */
  sources: number;
  /** The lines, in digest order. */
  lines(): IterableIterator<DigestLine>;
}

/** How sources are named in a digest: by a keyed hash of the address bytes, or in clear. */
export type SourceNamer = (address: Uint8Array) => string;

/**
 * Names a source in clear: IPv4 dotted, IPv6 in RFC 5952 form inside brackets.
 *
 * @example
 * ```ts
 * clearSource(new Uint8Array([10, 0, 0, 1])); // "10.0.0.1"
 * ```
 */
export function clearSource(address: Uint8Array): string {
  const text = formatAddress(address);
  return address.length === 16 ? `[${text}]` : text;
}

/**
 * The digest of a summary. `name` is called once per tracked source, now; the lines are made
 * as they are read, so that a large digest is never held whole.
 *
 * @example
 * ```ts
 * const digest = buildDigest(counter.summarize(), clearSource);
 * console.log(formatDigest(digest)); // "10.0.0.1:3 443:2 80:1"
 * ```
 */
export function buildDigest(summary: ConnectionSummary, name: SourceNamer): Digest {
  // No object per source until its line is made: a full summary has tens of thousands.
  const count = summary.size;
  const names: string[] = new Array(count);
  for (let id = 0; id < count; id++) names[id] = name(summary.addressOf(id));
  const order = new Int32Array(count);
  for (let id = 0; id < count; id++) order[id] = id;
  const clear = name === clearSource;
  order.sort((a, b) =>
    summary.connectionsOf(b) - summary.connectionsOf(a) ||
    (clear ? summary.compareSources(a, b) : compareText(names[a], names[b]))
  );
  const distinct = summary.distinctSources();
  return {
    connections: summary.total,
    untracked: summary.untracked,
    distinctSources: distinct.count,
    distinctSourcesExact: distinct.exact,
    exact: summary.exact,
    sources: count,
    *lines() {
      for (const id of order) yield line(summary, summary.source(id), names[id]);
    },
  };
}

function line(summary: ConnectionSummary, source: SummarySource, name: string): DigestLine {
  const ports: DigestPort[] = summary.portsOf(source.id);
  ports.sort((a, b) => b.connections - a.connections || a.port - b.port);
  return {
    source: name,
    connections: source.connections,
    error: source.error,
    untracked: source.untracked,
    ports,
  };
}

/**
 * The digest text in pieces of about `size` characters, each ending with a line: written as
 * they come, a large digest is never held whole.
 *
 * @example
 * ```ts
 * for (const text of digestText(digest)) await write(text);
 * ```
 */
export function* digestText(digest: Digest, size = 1 << 16): IterableIterator<string> {
  let out = "";
  for (const { source, connections, error, untracked, ports } of digest.lines()) {
    out += `${source}:${error > 0 ? "~" : ""}${connections}`;
    for (const p of ports) out += ` ${p.port}:${p.error > 0 ? "~" : ""}${p.connections}`;
    if (untracked > 0) out += ` other:${untracked}`;
    out += "\n";
    if (out.length >= size) {
      yield out;
      out = "";
    }
  }
  if (digest.untracked > 0) out += `other:${digest.untracked}\n`;
  if (out.length > 0) yield out;
}

/**
 * The digest text: one line per source, each ending in a newline, then `other:COUNT` when some
 * connections are credited to no listed source; empty when nothing was counted.
 *
 * @example
 * ```ts
 * formatDigest(buildDigest(summary, hashed)); // "e3b4bdc68b94c649:10 9306:9 9056:1\n"
 * ```
 */
export function formatDigest(digest: Digest): string {
  let out = "";
  for (const text of digestText(digest)) out += text;
  return out;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
