/**
 * The digest: what pulso prints when a capture ends, one line per source,
 * `SOURCE:TOTAL PORT:COUNT …`.
 *
 * Sources come by total descending, then by source ascending (hash text when hashed; address
 * order, IPv4 before IPv6, when in clear); ports by count descending, then port ascending.
 *
 * @module
 */
import { formatAddress } from "./address.ts";
import type { CounterEntry } from "./counter.ts";

/** One source of a digest, its total and its ports. */
export interface DigestLine {
  /** The source as printed: a keyed hash, or an address in clear (IPv6 in brackets). */
  source: string;
  /** Events from this source. */
  total: number;
  /** `[port, count]` pairs, most counted first. */
  ports: [port: number, count: number][];
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
 * Groups counted pairs by source and orders them. `name` is called once per distinct address.
 *
 * @example
 * ```ts
 * const lines = buildDigest(counter.entries(), clearSource);
 * console.log(formatDigest(lines)); // "10.0.0.1:3 443:2 80:1"
 * ```
 */
export function buildDigest(entries: Iterable<CounterEntry>, name: SourceNamer): DigestLine[] {
  const bySource = new Map<number | string, { address: Uint8Array; line: DigestLine }>();
  for (const { address, port, count } of entries) {
    const key = sourceKey(address);
    let group = bySource.get(key);
    if (!group) {
      group = { address, line: { source: name(address), total: 0, ports: [] } };
      bySource.set(key, group);
    }
    group.line.total += count;
    group.line.ports.push([port, count]);
  }
  const groups = [...bySource.values()];
  const clear = name === clearSource;
  groups.sort((a, b) =>
    b.line.total - a.line.total ||
    (clear ? compareAddresses(a.address, b.address) : compareText(a.line.source, b.line.source))
  );
  return groups.map(({ line }) => {
    line.ports.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    return line;
  });
}

/**
 * The digest text: one line per source, each ending in a newline; empty when nothing was
 * counted.
 *
 * @example
 * ```ts
 * formatDigest([{ source: "e3b4bdc68b94c649", total: 10, ports: [[9306, 9], [9056, 1]] }]);
 * // "e3b4bdc68b94c649:10 9306:9 9056:1\n"
 * ```
 */
export function formatDigest(lines: readonly DigestLine[]): string {
  let out = "";
  for (const { source, total, ports } of lines) {
    out += `${source}:${total}`;
    for (const [port, count] of ports) out += ` ${port}:${count}`;
    out += "\n";
  }
  return out;
}

/** A cheap Map key for an address: a number for IPv4, 8 UTF-16 code units for IPv6. */
function sourceKey(a: Uint8Array): number | string {
  if (a.length === 4) return ((a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3]) >>> 0;
  let key = "";
  for (let i = 0; i < a.length; i += 2) key += String.fromCharCode((a[i] << 8) | a[i + 1]);
  return key;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareAddresses(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}
