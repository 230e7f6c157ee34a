/**
 * The connection summary: connection events per source address and, within each source, per
 * destination port, in memory fixed by two bounds whatever arrives.
 *
 * While no more than `maxSources` sources and no more than `maxPorts` ports per source are seen,
 * every count is exact. Beyond a bound the summary is Space-Saving (Metwally, Agrawal and El
 * Abbadi, "Efficient computation of frequent and top-k elements in data streams", 2005), twice:
 * over sources, and over the ports of each source. A new source takes the place of the source
 * with the smallest count `min`, starting at `min + 1` with an error of `min`; a new port, when
 * its source's ports are full, likewise. Guarantees, with N the connections counted:
 *
 * - a source's count minus its error is at most its true count, and its count at least;
 * - every source with more than N / maxSources connections is tracked (and every port of a
 *   source with more than its share of that source's connections since it was tracked);
 * - the counts of the tracked sources add up to N, and a source's port counts to its count.
 *
 * What is reported ({@link SummarySource.connections}, {@link SummaryPort.connections}) is the
 * lower bound: the connections seen since the source (or port) took its place, never ones that
 * may belong to another. The rest is reported as untracked.
 *
 * Distinct sources are exact until a source is first replaced, then estimated by a
 * {@link HyperLogLog} that sees every source. Connections per destination port are exact
 * whatever the bounds ({@link ConnectionSummary.connectionsTo}), and
 * {@link ConnectionSummary.errorFloor} bounds what a source that is not tracked made.
 *
 * Memory: about `maxSources * (18 * maxPorts + 100)` bytes at most, allocated once; pages are
 * touched only as they are used, and the ports after a source's first only when it has some.
 *
 * @module
 */
import { HyperLogLog, type HyperLogLogState } from "./hyperloglog.ts";
import { sharedArray } from "./shared_memory.ts";

const SEED = crypto.getRandomValues(new Int32Array(1))[0];

/** Default for {@link SummaryBounds.maxSources}. */
export const DEFAULT_MAX_SOURCES = 32768;
/** Default for {@link SummaryBounds.maxPorts}. */
export const DEFAULT_MAX_PORTS = 64;
/** The largest accepted {@link SummaryBounds.maxSources}. */
export const MAX_SOURCES_LIMIT = 1 << 24;
/** The largest accepted {@link SummaryBounds.maxPorts}: every port. */
export const MAX_PORTS_LIMIT = 65536;
/** The largest accepted product of the two bounds (about 2.4 GB of port slots). */
export const MAX_SLOTS = 1 << 27;

/** How much a summary tracks. */
export interface SummaryBounds {
  /** Sources tracked at most ({@link DEFAULT_MAX_SOURCES} by default). */
  maxSources?: number;
  /** Ports tracked per source at most ({@link DEFAULT_MAX_PORTS} by default). */
  maxPorts?: number;
}

/**
 * What a {@link ConnectionSummary} is made of: its tables (on shared memory, not copied) and
 * its scalars, so that another thread can read it ({@link ConnectionSummary.fromState}) while
 * this one counts elsewhere.
 */
export interface SummaryState {
  maxSources: number;
  maxPorts: number;
  arrays: {
    words: Int32Array;
    family: Uint8Array;
    hash: Int32Array;
    count: Float64Array;
    error: Float64Array;
    used: Int32Array;
    port0: Uint16Array;
    count0: Float64Array;
    error0: Float64Array;
    ports: Uint16Array;
    portCount: Float64Array;
    portError: Float64Array;
    index: Int32Array;
    heap: Int32Array;
    heapKey: Float64Array;
    queue: Int32Array;
    queueKey: Float64Array;
    portTotal: Float64Array;
    touched: Uint16Array;
  };
  distinct: HyperLogLogState;
  ordered: boolean;
  heapSize: number;
  queueHead: number;
  queueLength: number;
  size: number;
  total: number;
  replacedSources: number;
  replacedPorts: number;
  touchedCount: number;
  dropped: number;
  droppedMax: number;
}

/** A tracked source, as {@link ConnectionSummary.sources} lists it. */
export interface SummarySource {
  /** Identifies the source for {@link ConnectionSummary.portsOf}, until the next count. */
  readonly id: number;
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** The address: 4 bytes for IPv4, 16 for IPv6, network order. */
  readonly address: Uint8Array;
  /** Connections certainly from this source (a lower bound; exact when `error` is 0). */
  readonly connections: number;
  /** How many more connections the source may have made. */
  readonly error: number;
  /** Of `connections`, those to ports that are not tracked. */
  readonly untracked: number;
}

/** A tracked port of a source, as {@link ConnectionSummary.portsOf} lists it. */
export interface SummaryPort {
  /** TCP destination port. */
  readonly port: number;
  /** Connections certainly from the source to this port (a lower bound). */
  readonly connections: number;
  /** How many more there may have been: this port's own error plus its source's. */
  readonly error: number;
}

/**
 * The bounds with their defaults filled in; throws a `RangeError` when one is not an integer in
 * its range.
 *
 * @example
 * ```ts
 * checkBounds({ maxPorts: 8 }); // { maxSources: 32768, maxPorts: 8 }
 * ```
 */
export function checkBounds(bounds: SummaryBounds): Required<SummaryBounds> {
  const maxSources = bounds.maxSources ?? DEFAULT_MAX_SOURCES;
  const maxPorts = bounds.maxPorts ?? DEFAULT_MAX_PORTS;
  if (!Number.isInteger(maxSources) || maxSources < 1 || maxSources > MAX_SOURCES_LIMIT) {
    throw new RangeError(`The source bound must be from 1 to ${MAX_SOURCES_LIMIT}`);
  }
  if (!Number.isInteger(maxPorts) || maxPorts < 1 || maxPorts > MAX_PORTS_LIMIT) {
    throw new RangeError(`The port bound must be from 1 to ${MAX_PORTS_LIMIT}`);
  }
  if (maxSources * maxPorts > MAX_SLOTS) {
    throw new RangeError(
      `The bounds allow ${maxSources * maxPorts} port slots, more than ${MAX_SLOTS}`,
    );
  }
  return { maxSources, maxPorts };
}

/**
 * Counts events per source address and destination port within fixed bounds.
 *
 * @example
 * ```ts
 * const summary = new ConnectionSummary({ maxSources: 2 });
 * const a = new Int32Array([0x0a000001, 0, 0, 0]);
 * summary.addWords(4, a, 443);
 * summary.addWords(4, a, 443);
 * summary.total; // 2
 * summary.sources()[0].connections; // 2
 * summary.portsOf(summary.sources()[0].id); // [{ port: 443, connections: 2, error: 0 }]
 * ```
 */
export class ConnectionSummary {
  /** Sources tracked at most. */
  readonly maxSources: number;
  /** Ports tracked per source at most. */
  readonly maxPorts: number;
  readonly #scratch = new Int32Array(4);
  readonly #address4 = new Uint8Array(4);
  readonly #address16 = new Uint8Array(16);
  // Per source (entry): address words, family (0: free), hash, count, error, ports used.
  readonly #words: Int32Array;
  readonly #family: Uint8Array;
  readonly #hash: Int32Array;
  readonly #count: Float64Array;
  readonly #error: Float64Array;
  readonly #used: Int32Array;
  // Per port: port, count, error. A source's first port is kept with the source; the others in
  // its block of maxPorts - 1 slots, touched only when it has them (a flood of single-port
  // sources leaves the blocks' pages untouched).
  readonly #port0: Uint16Array;
  readonly #count0: Float64Array;
  readonly #error0: Float64Array;
  readonly #ports: Uint16Array;
  readonly #portCount: Float64Array;
  readonly #portError: Float64Array;
  // Open addressing, linear probing: entry + 1 per slot, 0 when empty.
  readonly #index: Int32Array;
  readonly #mask: number;
  // Once the summary is full, every entry is in an order by a key, its count when placed
  // (counting does not update it: it is refreshed lazily): either a 4-ary min-heap or a FIFO
  // queue whose keys never decrease. Sources admitted go to the queue, so that a flood of new
  // sources replaces the least counted in constant time.
  #ordered = false;
  readonly #heap: Int32Array;
  readonly #heapKey: Float64Array;
  #heapSize = 0;
  readonly #queue: Int32Array;
  readonly #queueKey: Float64Array;
  #queueHead = 0;
  #queueLength = 0;
  readonly #distinct: HyperLogLog;
  #size = 0;
  #total = 0;
  #replacedSources = 0;
  #replacedPorts = 0;
  // Exact connections per destination port, whatever the bounds, and the ports touched (in the
  // order first touched), so that clear() resets only those.
  readonly #portTotal: Float64Array;
  readonly #touched: Uint16Array;
  #touchedCount = 0;
  // Sources fromPairs dropped (its replacedSources), and the largest total among them.
  #dropped = 0;
  #droppedMax = 0;

  /**
   * An empty summary; throws a `RangeError` when a bound is out of range. With `state`, the
   * summary that state was taken from instead, over the same tables (read it, do not count).
   */
  constructor(bounds: SummaryBounds = {}, state?: SummaryState) {
    const { maxSources, maxPorts } = state ?? checkBounds(bounds);
    this.maxSources = maxSources;
    this.maxPorts = maxPorts;
    const a = state?.arrays;
    const blocks = maxSources * (maxPorts - 1);
    this.#words = a?.words ?? sharedArray(Int32Array, maxSources * 4);
    this.#family = a?.family ?? sharedArray(Uint8Array, maxSources);
    this.#hash = a?.hash ?? sharedArray(Int32Array, maxSources);
    this.#count = a?.count ?? sharedArray(Float64Array, maxSources);
    this.#error = a?.error ?? sharedArray(Float64Array, maxSources);
    this.#used = a?.used ?? sharedArray(Int32Array, maxSources);
    this.#port0 = a?.port0 ?? sharedArray(Uint16Array, maxSources);
    this.#count0 = a?.count0 ?? sharedArray(Float64Array, maxSources);
    this.#error0 = a?.error0 ?? sharedArray(Float64Array, maxSources);
    this.#ports = a?.ports ?? sharedArray(Uint16Array, blocks);
    this.#portCount = a?.portCount ?? sharedArray(Float64Array, blocks);
    this.#portError = a?.portError ?? sharedArray(Float64Array, blocks);
    this.#heap = a?.heap ?? sharedArray(Int32Array, maxSources);
    this.#heapKey = a?.heapKey ?? sharedArray(Float64Array, maxSources);
    this.#queue = a?.queue ?? sharedArray(Int32Array, maxSources);
    this.#queueKey = a?.queueKey ?? sharedArray(Float64Array, maxSources);
    let slots = 16;
    while (slots < maxSources * 2) slots *= 2;
    this.#index = a?.index ?? sharedArray(Int32Array, slots);
    this.#mask = slots - 1;
    this.#portTotal = a?.portTotal ?? sharedArray(Float64Array, 65536);
    this.#touched = a?.touched ?? sharedArray(Uint16Array, 65536);
    this.#distinct = state ? HyperLogLog.fromState(state.distinct) : new HyperLogLog();
    if (state) {
      this.#ordered = state.ordered;
      this.#heapSize = state.heapSize;
      this.#queueHead = state.queueHead;
      this.#queueLength = state.queueLength;
      this.#size = state.size;
      this.#total = state.total;
      this.#replacedSources = state.replacedSources;
      this.#replacedPorts = state.replacedPorts;
      this.#touchedCount = state.touchedCount;
      this.#dropped = state.dropped;
      this.#droppedMax = state.droppedMax;
    }
  }

  /**
   * The summary's state, for another thread: its tables are shared, not copied, so the summary
   * must not count while that thread reads it.
   *
   * @example
   * ```ts
   * worker.postMessage(summary.state()); // there: ConnectionSummary.fromState(message)
   * ```
   */
  state(): SummaryState {
    return {
      maxSources: this.maxSources,
      maxPorts: this.maxPorts,
      arrays: {
        words: this.#words,
        family: this.#family,
        hash: this.#hash,
        count: this.#count,
        error: this.#error,
        used: this.#used,
        port0: this.#port0,
        count0: this.#count0,
        error0: this.#error0,
        ports: this.#ports,
        portCount: this.#portCount,
        portError: this.#portError,
        index: this.#index,
        heap: this.#heap,
        heapKey: this.#heapKey,
        queue: this.#queue,
        queueKey: this.#queueKey,
        portTotal: this.#portTotal,
        touched: this.#touched,
      },
      distinct: this.#distinct.state(),
      ordered: this.#ordered,
      heapSize: this.#heapSize,
      queueHead: this.#queueHead,
      queueLength: this.#queueLength,
      size: this.#size,
      total: this.#total,
      replacedSources: this.#replacedSources,
      replacedPorts: this.#replacedPorts,
      touchedCount: this.#touchedCount,
      dropped: this.#dropped,
      droppedMax: this.#droppedMax,
    };
  }

  /**
   * The summary whose {@link state} this is, over the same tables.
   *
   * @example
   * ```ts
   * const summary = ConnectionSummary.fromState(message.summary);
   * ```
   */
  static fromState(state: SummaryState): ConnectionSummary {
    return new ConnectionSummary({}, state);
  }

  /** Events counted. */
  get total(): number {
    return this.#total;
  }

  /** Sources tracked now. */
  get size(): number {
    return this.#size;
  }

  /** Events not credited to any tracked source (0 while no source was replaced). */
  get untracked(): number {
    let credited = 0;
    for (let entry = 0; entry < this.#size; entry++) {
      credited += this.#count[entry] - this.#error[entry];
    }
    return this.#total - credited;
  }

  /** True while every count is exact: no source and no port was ever replaced. */
  get exact(): boolean {
    return this.#replacedSources === 0 && this.#replacedPorts === 0;
  }

  /** How many times a new source took the place of another. */
  get replacedSources(): number {
    return this.#replacedSources;
  }

  /** How many times a new port took the place of another within its source. */
  get replacedPorts(): number {
    return this.#replacedPorts;
  }

  /**
   * The most connections a source that is not tracked may have made: 0 while no source was
   * dropped; once a source took another's place, the smallest count (count, not lower bound)
   * among the tracked sources (Space-Saving's bound: a source that is not tracked never had
   * more); when the summary was made from exact counts ({@link fromPairs}) and dropped sources
   * but none took a place since, the largest total among the dropped ones (tighter, and exact).
   * A tracked source whose lower bound is above it certainly made more connections than any
   * source that is not tracked. A scan of the sources: not for the hot path.
   *
   * @example
   * ```ts
   * const summary = new ConnectionSummary({ maxSources: 1 });
   * summary.add(4, a, 80);
   * summary.add(4, b, 80); // b takes a's place: count 2, error 1
   * summary.errorFloor; // 2: a source that is not tracked made 2 connections at most
   * ```
   */
  get errorFloor(): number {
    if (this.#replacedSources === 0) return 0;
    if (this.#replacedSources === this.#dropped) return this.#droppedMax;
    let min = Infinity;
    for (let entry = 0; entry < this.#size; entry++) {
      if (this.#count[entry] < min) min = this.#count[entry];
    }
    return min;
  }

  /**
   * Connections to destination port `port`, exact whatever the bounds (every connection
   * counted, tracked or not).
   *
   * @example
   * ```ts
   * summary.addWords(4, words, 443);
   * summary.connectionsTo(443); // 1
   * ```
   */
  connectionsTo(port: number): number {
    return this.#portTotal[port] ?? 0;
  }

  /**
   * The destination ports counted so far, each once, in the order first counted: a view that
   * the next count may change.
   *
   * @example
   * ```ts
   * for (const port of summary.countedPorts()) console.log(port, summary.connectionsTo(port));
   * ```
   */
  countedPorts(): Uint16Array {
    return this.#touched.subarray(0, this.#touchedCount);
  }

  /**
   * Distinct sources seen: exact while no source was replaced, otherwise an estimate (never
   * below the sources tracked).
   */
  distinctSources(): { count: number; exact: boolean } {
    if (this.#replacedSources === 0) return { count: this.#size, exact: true };
    return { count: Math.max(this.#size, this.#distinct.estimate()), exact: false };
  }

  /**
   * Counts `count` events (1 by default) from `address` (16 bytes, of which the first 4 are
   * used when `family` is 4; the rest must then be zero) to `port`.
   */
  add(family: 4 | 6, address: Uint8Array, port: number, count = 1): void {
    const words = this.#scratch;
    for (let i = 0; i < 4; i++) {
      const at = 4 * i;
      words[i] = (address[at] << 24) | (address[at + 1] << 16) | (address[at + 2] << 8) |
        address[at + 3];
    }
    this.addWords(family, words, port, count);
  }

  /**
   * Counts `count` events (1 by default) from the address given as four 32-bit words, each
   * read most significant byte first (IPv4: word 0, the others zero), to `port`: what
   * {@link Decoded.words} holds. No allocation.
   */
  addWords(family: 4 | 6, words: Int32Array, port: number, count = 1): void {
    const w0 = words[0];
    const w1 = words[1];
    const w2 = words[2];
    const w3 = words[3];
    const index = this.#index;
    const mask = this.#mask;
    const keys = this.#words;
    const hash = mix(w0, w1, w2, w3, family);
    let at = hash & mask;
    this.#total += count;
    const before = this.#portTotal[port];
    this.#portTotal[port] = before + count;
    if (before === 0) this.#touched[this.#touchedCount++] = port;
    for (;;) {
      const entry = index[at] - 1;
      if (entry < 0) break;
      const k = entry << 2;
      if (
        keys[k] === w0 && keys[k + 1] === w1 && keys[k + 2] === w2 && keys[k + 3] === w3 &&
        this.#family[entry] === family
      ) {
        this.#count[entry] += count;
        // A source's first port is the one it uses most of the time: the rest out of line.
        if (this.#port0[entry] === port) this.#count0[entry] += count;
        else this.#addPort(entry, port, count);
        return;
      }
      at = (at + 1) & mask;
    }
    this.#admit(family, w0, w1, w2, w3, hash, at, port, count);
  }

  /**
   * A summary of exact counts per (source, port) pair, as {@link ConnectionCounter.entries}
   * yields them. Beyond the bounds, it keeps the most counted sources (ties: lowest address),
   * and of each the most counted ports (ties: lowest port), with their exact counts: what a
   * summary fed the same events would guarantee, and exact where it can be.
   *
   * @example
   * ```ts
   * const summary = ConnectionSummary.fromCounts(counter.entries(), { maxSources: 100 });
   * ```
   */
  static fromCounts(
    pairs: Iterable<{ family: 4 | 6; address: Uint8Array; port: number; count: number }>,
    bounds: SummaryBounds = {},
  ): ConnectionSummary {
    return ConnectionSummary.fromPairs((add) => {
      for (const { family, address, port, count } of pairs) {
        let w0 = 0, w1 = 0, w2 = 0, w3 = 0;
        for (let i = 0; i < address.length; i++) {
          const byte = address[i] << (24 - 8 * (i & 3));
          if (i < 4) w0 |= byte;
          else if (i < 8) w1 |= byte;
          else if (i < 12) w2 |= byte;
          else w3 |= byte;
        }
        add(family, w0, w1, w2, w3, port, count);
      }
    }, bounds);
  }

  /**
   * As {@link fromCounts}, from pairs that `visit` hands to its `add` callback one by one, the
   * address as four words: no object per pair (what {@link ConnectionCounter.summarize} uses).
   * `into`, a summary of the same bounds, is cleared and filled instead of a new one.
   */
  static fromPairs(
    visit: (
      add: (
        family: 4 | 6,
        w0: number,
        w1: number,
        w2: number,
        w3: number,
        port: number,
        count: number,
      ) => void,
    ) => void,
    bounds: SummaryBounds = {},
    into?: ConnectionSummary,
  ): ConnectionSummary {
    // A summary of the same bounds is reused (cleared) rather than allocated anew.
    const reuse = into !== undefined &&
      into.maxSources === (bounds.maxSources ?? into.maxSources) &&
      into.maxPorts === (bounds.maxPorts ?? into.maxPorts);
    const summary = reuse ? into : new ConnectionSummary(bounds);
    if (reuse) summary.clear();
    // The pairs into typed arrays.
    let capacity = 1024;
    let words = new Int32Array(capacity * 4);
    let families = new Uint8Array(capacity);
    let ports = new Uint16Array(capacity);
    let counts = new Float64Array(capacity);
    let n = 0;
    visit((family, w0, w1, w2, w3, port, count) => {
      if (n === capacity) {
        capacity *= 2;
        words = grown(words, capacity * 4);
        families = grown(families, capacity);
        ports = grown(ports, capacity);
        counts = grown(counts, capacity);
      }
      words[4 * n] = w0;
      words[4 * n + 1] = w1;
      words[4 * n + 2] = w2;
      words[4 * n + 3] = w3;
      families[n] = family;
      ports[n] = port;
      counts[n] = count;
      n++;
    });
    // Address order (IPv4 first, then numeric): each source's pairs side by side.
    const bySource = (a: number, b: number) => {
      if (families[a] !== families[b]) return families[a] - families[b];
      for (let i = 0; i < 4; i++) {
        const x = words[4 * a + i] >>> 0;
        const y = words[4 * b + i] >>> 0;
        if (x !== y) return x - y;
      }
      return 0;
    };
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort(bySource);
    // Runs of one source: where each starts, and its total.
    const starts: number[] = [];
    const totals: number[] = [];
    // (Arrays of small integers and doubles: V8 stores them unboxed.)
    for (let i = 0; i < n; i++) {
      const pair = order[i];
      if (i === 0 || bySource(order[i - 1], pair) !== 0) {
        starts.push(i);
        totals.push(0);
        const k = 4 * pair;
        summary.#distinct.add(families[pair], words[k], words[k + 1], words[k + 2], words[k + 3]);
      }
      totals[totals.length - 1] += counts[pair];
      summary.#total += counts[pair];
      summary.#countPort(ports[pair], counts[pair]);
    }
    starts.push(n);
    const runs = Array.from({ length: totals.length }, (_, i) => i);
    if (runs.length > summary.maxSources) {
      // The most counted first; ties in address order (the runs are in it already).
      runs.sort((a, b) => totals[b] - totals[a] || a - b);
      summary.#replacedSources = runs.length - summary.maxSources;
      summary.#dropped = summary.#replacedSources;
      summary.#droppedMax = totals[runs[summary.maxSources]];
      runs.length = summary.maxSources;
    }
    const maxPorts = summary.maxPorts;
    for (const run of runs) {
      const first = order[starts[run]];
      const slice = order.subarray(starts[run], starts[run + 1]);
      if (slice.length > maxPorts) {
        slice.sort((a, b) => counts[b] - counts[a] || ports[a] - ports[b]);
        summary.#replacedPorts += slice.length - maxPorts;
      }
      const entry = summary.#size++;
      const k = 4 * first;
      const hash = mix(words[k], words[k + 1], words[k + 2], words[k + 3], families[first]);
      summary.#words.set(words.subarray(k, k + 4), entry << 2);
      summary.#family[entry] = families[first];
      summary.#hash[entry] = hash;
      summary.#count[entry] = totals[run];
      summary.#error[entry] = 0;
      let at = hash & summary.#mask;
      while (summary.#index[at] !== 0) at = (at + 1) & summary.#mask;
      summary.#index[at] = entry + 1;
      const used = Math.min(slice.length, maxPorts);
      summary.#port0[entry] = ports[slice[0]];
      summary.#count0[entry] = counts[slice[0]];
      summary.#error0[entry] = 0;
      const base = entry * (maxPorts - 1) - 1;
      for (let i = 1; i < used; i++) {
        summary.#ports[base + i] = ports[slice[i]];
        summary.#portCount[base + i] = counts[slice[i]];
        summary.#portError[base + i] = 0;
      }
      summary.#used[entry] = used;
    }
    if (summary.#size === summary.maxSources) {
      summary.#buildHeap();
      summary.#ordered = true;
    }
    return summary;
  }

  /**
   * The tracked sources, in no particular order.
   */
  sources(): SummarySource[] {
    return Array.from({ length: this.#size }, (_, id) => this.source(id));
  }

  /**
   * The source `id` (0 to {@link size} - 1), as {@link sources} would list it, with an address
   * of its own.
   */
  source(id: number): SummarySource {
    if (!(id >= 0 && id < this.#size)) throw new RangeError(`No source ${id}`);
    const address = this.addressOf(id).slice();
    const connections = this.#count[id] - this.#error[id];
    let untracked = connections - (this.#count0[id] - this.#error0[id]);
    const base = id * (this.maxPorts - 1);
    for (let i = base; i < base + this.#used[id] - 1; i++) {
      untracked -= this.#portCount[i] - this.#portError[i];
    }
    const family = this.#family[id] === 6 ? 6 : 4;
    return { id, family, address, connections, error: this.#error[id], untracked };
  }

  /**
   * The address of source `id` (4 or 16 bytes) in a buffer that the next call overwrites: no
   * allocation, for naming every source in turn.
   */
  addressOf(id: number): Uint8Array {
    const v4 = this.#family[id] === 4;
    const out = v4 ? this.#address4 : this.#address16;
    for (let i = 0; i < out.length; i++) {
      out[i] = this.#words[4 * id + (i >> 2)] >>> (24 - 8 * (i & 3));
    }
    return out;
  }

  /** Connections certainly from source `id` (its count minus its error). */
  connectionsOf(id: number): number {
    return this.#count[id] - this.#error[id];
  }

  /** Address order of sources `a` and `b`: IPv4 first, then numeric. */
  compareSources(a: number, b: number): number {
    if (this.#family[a] !== this.#family[b]) return this.#family[a] - this.#family[b];
    for (let i = 0; i < 4; i++) {
      const x = this.#words[4 * a + i] >>> 0;
      const y = this.#words[4 * b + i] >>> 0;
      if (x !== y) return x - y;
    }
    return 0;
  }

  /** The tracked ports of the source `id` (from {@link sources}), in no particular order. */
  portsOf(id: number): SummaryPort[] {
    if (!(id >= 0 && id < this.#size)) throw new RangeError(`No source ${id}`);
    const out: SummaryPort[] = [];
    const base = id * (this.maxPorts - 1);
    const sourceError = this.#error[id];
    out.push({
      port: this.#port0[id],
      connections: this.#count0[id] - this.#error0[id],
      error: this.#error0[id] + sourceError,
    });
    for (let i = base; i < base + this.#used[id] - 1; i++) {
      const error = this.#portError[i];
      out.push({
        port: this.#ports[i],
        connections: this.#portCount[i] - error,
        error: error + sourceError,
      });
    }
    return out;
  }

  /** Forgets everything counted. */
  clear(): void {
    this.#index.fill(0);
    this.#ordered = false;
    this.#heapSize = 0;
    this.#queueHead = 0;
    this.#queueLength = 0;
    this.#distinct.clear();
    this.#size = 0;
    this.#total = 0;
    this.#replacedSources = 0;
    this.#replacedPorts = 0;
    for (let i = 0; i < this.#touchedCount; i++) this.#portTotal[this.#touched[i]] = 0;
    this.#touchedCount = 0;
    this.#dropped = 0;
    this.#droppedMax = 0;
  }

  /** Adds `count` to the exact total of `port`. */
  #countPort(port: number, count: number): void {
    const before = this.#portTotal[port];
    this.#portTotal[port] = before + count;
    if (before === 0) this.#touched[this.#touchedCount++] = port;
  }

  /** Counts events to a port that is not the first of its tracked source `entry`. */
  #addPort(entry: number, port: number, count: number): void {
    const ports = this.#ports;
    const counts = this.#portCount;
    const used = this.#used[entry];
    const base = entry * (this.maxPorts - 1);
    const end = base + used - 1;
    for (let i = base; i < end; i++) {
      if (ports[i] === port) {
        counts[i] += count;
        return;
      }
    }
    if (used < this.maxPorts) {
      ports[end] = port;
      counts[end] = count;
      this.#portError[end] = 0;
      this.#used[entry] = used + 1;
      return;
    }
    // Full: the new port takes the place of the least counted one (-1: the first port).
    let least = -1;
    let min = this.#count0[entry];
    for (let i = base; i < end; i++) {
      if (counts[i] < min) {
        min = counts[i];
        least = i;
      }
    }
    if (least < 0) {
      this.#port0[entry] = port;
      this.#error0[entry] = min;
      this.#count0[entry] = min + count;
    } else {
      ports[least] = port;
      this.#portError[least] = min;
      counts[least] = min + count;
    }
    this.#replacedPorts++;
  }

  /** Counts events from a source that is not tracked; `at` is a free slot of the index. */
  #admit(
    family: 4 | 6,
    w0: number,
    w1: number,
    w2: number,
    w3: number,
    hash: number,
    at: number,
    port: number,
    count: number,
  ): void {
    this.#distinct.add(family, w0, w1, w2, w3);
    let entry: number;
    let error = 0;
    if (this.#size < this.maxSources) {
      entry = this.#size++;
    } else {
      // Full: the new source takes the place of the least counted one.
      entry = this.#takeLeast();
      error = this.#count[entry];
      this.#unindex(entry);
      this.#replacedSources++;
      // Removing shifted slots back: find a free one again.
      at = hash & this.#mask;
      while (this.#index[at] !== 0) at = (at + 1) & this.#mask;
    }
    const k = entry << 2;
    this.#words[k] = w0;
    this.#words[k + 1] = w1;
    this.#words[k + 2] = w2;
    this.#words[k + 3] = w3;
    this.#family[entry] = family;
    this.#hash[entry] = hash;
    this.#count[entry] = error + count;
    this.#error[entry] = error;
    this.#used[entry] = 1;
    this.#index[at] = entry + 1;
    this.#port0[entry] = port;
    this.#count0[entry] = count;
    this.#error0[entry] = 0;
    if (this.#ordered) {
      this.#place(entry, error + count);
    } else if (this.#size === this.maxSources) {
      this.#buildHeap();
      this.#ordered = true;
    }
  }

  /**
   * Takes out of the order the entry with the smallest count. Keys lag behind counts (counting
   * does not touch the order), so a stale candidate is put back with its count until the
   * smaller of the heap's top and the queue's head is current: it is then the least, since no
   * key exceeds its count.
   */
  #takeLeast(): number {
    const heapKeys = this.#heapKey;
    const queueKeys = this.#queueKey;
    for (;;) {
      let entry: number;
      let key: number;
      if (
        this.#heapSize > 0 &&
        (this.#queueLength === 0 || heapKeys[0] <= queueKeys[this.#queueHead])
      ) {
        entry = this.#heap[0];
        key = heapKeys[0];
        const last = --this.#heapSize;
        if (last > 0) {
          this.#heap[0] = this.#heap[last];
          heapKeys[0] = heapKeys[last];
          this.#siftDown(0);
        }
      } else {
        const head = this.#queueHead;
        entry = this.#queue[head];
        key = queueKeys[head];
        this.#queueHead = head + 1 === this.maxSources ? 0 : head + 1;
        this.#queueLength--;
      }
      const count = this.#count[entry];
      if (key === count) return entry;
      this.#place(entry, count);
    }
  }

  /**
   * Puts `entry` in the order with `key`: at the end of the queue when no key there is larger
   * (always so for a source just admitted, since the least count never decreases), otherwise
   * in the heap.
   */
  #place(entry: number, key: number): void {
    const n = this.maxSources;
    const length = this.#queueLength;
    const tail = this.#queueHead + length - 1;
    if (length === 0 || key >= this.#queueKey[tail >= n ? tail - n : tail]) {
      const at = tail + 1 >= n ? tail + 1 - n : tail + 1;
      this.#queue[at] = entry;
      this.#queueKey[at] = key;
      this.#queueLength = length + 1;
      return;
    }
    const heap = this.#heap;
    const keys = this.#heapKey;
    let at = this.#heapSize++;
    while (at > 0) {
      const parent = (at - 1) >> 2;
      if (keys[parent] <= key) break;
      heap[at] = heap[parent];
      keys[at] = keys[parent];
      at = parent;
    }
    heap[at] = entry;
    keys[at] = key;
  }

  /** Makes the order of a summary that has just become full: every entry in the heap. */
  #buildHeap(): void {
    const n = this.maxSources;
    for (let i = 0; i < n; i++) {
      this.#heap[i] = i;
      this.#heapKey[i] = this.#count[i];
    }
    this.#heapSize = n;
    for (let i = (n - 2) >> 2; i >= 0; i--) this.#siftDown(i);
  }

  /** Sinks the heap's node `at`. Four children per node: a shallow heap, each node's children
   * on one or two cache lines. */
  #siftDown(at: number): void {
    const heap = this.#heap;
    const keys = this.#heapKey;
    const n = this.#heapSize;
    const entry = heap[at];
    const key = keys[at];
    for (;;) {
      const first = 4 * at + 1;
      if (first >= n) break;
      let child = first;
      let least = keys[first];
      const last = first + 4 < n ? first + 4 : n;
      for (let c = first + 1; c < last; c++) {
        if (keys[c] < least) {
          least = keys[c];
          child = c;
        }
      }
      if (least >= key) break;
      heap[at] = heap[child];
      keys[at] = least;
      at = child;
    }
    heap[at] = entry;
    keys[at] = key;
  }

  /** Removes `entry` from the index, shifting back the slots after it (linear probing). */
  #unindex(entry: number): void {
    const index = this.#index;
    const mask = this.#mask;
    const hashes = this.#hash;
    let hole = hashes[entry] & mask;
    while (index[hole] !== entry + 1) hole = (hole + 1) & mask;
    let at = hole;
    for (;;) {
      at = (at + 1) & mask;
      const other = index[at] - 1;
      if (other < 0) break;
      const home = hashes[other] & mask;
      // The entry at `at` stays when its home lies cyclically in (hole, at].
      const stays = hole <= at ? hole < home && home <= at : hole < home || home <= at;
      if (stays) continue;
      index[hole] = index[at];
      hole = at;
    }
    index[hole] = 0;
  }
}

/** A copy of `array` in a larger one of `length`. */
function grown<T extends Int32Array | Uint8Array | Uint16Array | Float64Array>(
  array: T,
  length: number,
): T {
  const out = new (array.constructor as new (length: number) => T)(length);
  out.set(array);
  return out;
}

/**
 * The hash of an address's four words and a fifth (its family, with a port or not) that the
 * summary's and the counter's tables index by, keyed by a seed of the process: a crafted flood
 * must not be able to pile its keys onto one run of slots.
 *
 * @example
 * ```ts
 * const slot = mix(0x0a000001, 0, 0, 0, (4 << 16) | 443) & (slots - 1);
 * ```
 */
export function mix(w0: number, w1: number, w2: number, w3: number, w4: number): number {
  let h = Math.imul(w0 ^ SEED, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ w1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ w2, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ w3, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ w4, 0x85ebca6b);
  return h ^ (h >>> 15);
}
