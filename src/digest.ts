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
 * Which sources are listed: once a source was dropped from the summary, only those it can vouch
 * for, whose lower bound is above its {@link ConnectionSummary.errorFloor} (more connections than
 * any source it does not track may have made); with {@link DigestOptions.top}, the first `top` of
 * them in digest order. The last line lists the destination ports of the connections no listed
 * source is credited with ({@link DigestOther}), exact.
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

/** A destination port of the digest's last line, `other:`. */
export interface DigestOtherPort {
  /** TCP destination port. */
  port: number;
  /** Connections to it not credited to a listed source's listed port: exact. */
  connections: number;
}

/**
 * The digest's last line, `other:N PORT:COUNT … other:K`: the connections credited to no listed
 * source, and their destination ports.
 *
 * A port's count is exact: the summary's exact total at that port minus what the listed lines
 * list at that port (their lower bounds). These counts add up to `connections` plus the listed
 * lines' own `untracked` (the connections of listed sources to ports they do not list, whose
 * ports only this line can show, mixed with the rest): exactly `connections` when no listed line
 * has an `other:` of its own.
 */
export interface DigestOther {
  /** Connections credited to no listed source (the digest's {@link Digest.untracked}). */
  connections: number;
  /** At most `maxPorts` ports (the summary's), most counted first, then by port ascending. */
  ports: DigestOtherPort[];
  /** The sum of the counts of the ports beyond `maxPorts`. */
  untracked: number;
}

/** How a digest lists its sources. */
export interface DigestOptions {
  /** Sources listed at most (the rest go in `other:`); all by default. */
  top?: number;
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
  /** The last line, made when called: undefined when every connection is credited to a listed
   * source (`untracked` is 0). */
  other(): DigestOther | undefined;
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
 * The digest of a summary. The listed sources are the tracked ones while no source was
 * dropped, otherwise those whose lower bound is above the summary's
 * {@link ConnectionSummary.errorFloor}; with `options.top`, at most the first `top` of them in
 * digest order. `name` is called now, once per listed source (with `top`, also for the sources
 * tied with the last listed one, to order the tie), never for the others; the lines are made
 * as they are read, so that a large digest is never held whole.
 *
 * @example
 * ```ts
 * const digest = buildDigest(counter.summarize(), clearSource);
 * console.log(formatDigest(digest)); // "10.0.0.1:3 443:2 80:1"
 * buildDigest(counter.summarize(), clearSource, { top: 10 }).sources; // 10 at most
 * ```
 */
export function buildDigest(
  summary: ConnectionSummary,
  name: SourceNamer,
  options: DigestOptions = {},
): Digest {
  // No object per source until its line is made: a full summary has tens of thousands.
  const size = summary.size;
  const floor = summary.errorFloor;
  const vouch = summary.replacedSources > 0;
  let order = new Int32Array(size);
  let count = 0;
  for (let id = 0; id < size; id++) {
    if (!vouch || summary.connectionsOf(id) > floor) order[count++] = id;
  }
  order = order.subarray(0, count);
  const top = options.top ?? Infinity;
  if (count > top) {
    // The first `top` by connections, and those tied with the last of them.
    order.sort((a, b) => summary.connectionsOf(b) - summary.connectionsOf(a));
    const least = summary.connectionsOf(order[top - 1]);
    while (count > top && summary.connectionsOf(order[count - 1]) < least) count--;
    order = order.subarray(0, count);
  }
  const names: string[] = new Array(size);
  for (const id of order) names[id] = name(summary.addressOf(id));
  const clear = name === clearSource;
  order.sort((a, b) =>
    summary.connectionsOf(b) - summary.connectionsOf(a) ||
    (clear ? summary.compareSources(a, b) : compareText(names[a], names[b]))
  );
  if (count > top) order = order.subarray(0, count = top);
  let credited = 0;
  for (const id of order) credited += summary.connectionsOf(id);
  const untracked = summary.total - credited;
  const distinct = summary.distinctSources();
  return {
    connections: summary.total,
    untracked,
    distinctSources: distinct.count,
    distinctSourcesExact: distinct.exact,
    exact: summary.exact,
    sources: count,
    *lines() {
      for (const id of order) yield line(summary, summary.source(id), names[id]);
    },
    other: () => untracked > 0 ? otherLine(summary, order, untracked) : undefined,
  };
}

/** The last line: the exact port totals less what the listed lines list at each port. */
function otherLine(summary: ConnectionSummary, order: Int32Array, untracked: number): DigestOther {
  const listed = new Map<number, number>();
  for (const id of order) {
    for (const p of summary.portsOf(id)) {
      listed.set(p.port, (listed.get(p.port) ?? 0) + p.connections);
    }
  }
  const ports: DigestOtherPort[] = [];
  for (const port of summary.countedPorts()) {
    const connections = summary.connectionsTo(port) - (listed.get(port) ?? 0);
    // Each port once, even if counted twice (a count of 0 added first).
    listed.set(port, Infinity);
    if (connections > 0) ports.push({ port, connections });
  }
  ports.sort((a, b) => b.connections - a.connections || a.port - b.port);
  let rest = 0;
  for (let i = summary.maxPorts; i < ports.length; i++) rest += ports[i].connections;
  if (ports.length > summary.maxPorts) ports.length = summary.maxPorts;
  return { connections: untracked, ports, untracked: rest };
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
  const other = digest.other();
  if (other !== undefined) {
    out += `other:${other.connections}`;
    for (const p of other.ports) out += ` ${p.port}:${p.connections}`;
    if (other.untracked > 0) out += ` other:${other.untracked}`;
    out += "\n";
  }
  if (out.length > 0) yield out;
}

/**
 * The digest text: one line per source, each ending in a newline, then `other:COUNT` and its
 * ports when some connections are credited to no listed source; empty when nothing was counted.
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
