/**
 * The event counter: how many connection events each (source address, destination port) pair
 * made, in bounded memory.
 *
 * It counts exactly in an open-addressing hash table over typed arrays (counting allocates
 * nothing except when the table grows), up to {@link EXACT_PAIRS} pairs. Past them it hands its
 * counts over to a {@link ConnectionSummary}, which keeps a fixed bound whatever arrives (and
 * is exact as long as its own bounds are not reached).
 *
 * @module
 */
import {
  checkBounds,
  ConnectionSummary,
  mix,
  type SummaryBounds,
  type SummaryState,
} from "./summary.ts";
import { sharedArray } from "./shared_memory.ts";

/**
 * What a {@link ConnectionCounter} is made of, for another thread: its table on shared memory
 * (not copied), its scalars, and its summary's state once the summary counts.
 */
export interface CounterState {
  bounds: Required<SummaryBounds>;
  keys: Int32Array;
  mask: number;
  size: number;
  total: number;
  summary?: SummaryState;
}

/** One counted pair, as {@link ConnectionCounter.entries} yields it. */
export interface CounterEntry {
  /** 4 or 6. */
  family: 4 | 6;
  /** The source address: 4 bytes for IPv4, 16 for IPv6, network order. */
  address: Uint8Array;
  /** TCP destination port. */
  port: number;
  /** Events counted. */
  count: number;
}

const WORDS = 5; // four address words, then family << 16 | port (never 0 in a used slot)
/**
 * A slot of the table, in 32-bit words: the five key words, one unused, then the count as a
 * float64. Key and count share 32 bytes, half a cache line: one miss per event where two arrays
 * cost two (under a flood, the kernel's buffer streaming through the cache evicts the table).
 */
const STRIDE = 8;
/** A slot of {@link ConnectionCounter.distinctSources}' set: the address words and the family. */
const SET_WORDS = 5;
const INITIAL_CAPACITY = 1024;
/** Pairs counted in the exact table at most (4 MiB of table); past them, a summary counts. */
export const EXACT_PAIRS = 1 << 16;

/**
 * Counts events per source address and destination port, within bounds: what
 * {@link summarize} gives is exact as long as no more than `maxSources` sources and
 * `maxPorts` ports per source were seen.
 *
 * @example
 * ```ts
 * const counter = new ConnectionCounter();
 * counter.add(4, new Uint8Array([10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 443);
 * counter.total; // 1
 * [...counter.entries()]; // [{ family: 4, address: Uint8Array [10, 0, 0, 1], port: 443, count: 1 }]
 * ```
 */
export class ConnectionCounter {
  #keys: Int32Array;
  readonly #scratch = new Int32Array(4);
  #counts: Float64Array;
  #mask: number;
  #size = 0;
  #total = 0;
  readonly #bounds: Required<SummaryBounds>;
  #summary: ConnectionSummary | undefined;
  /** The summary {@link summarize} made last from the exact table, and one to reuse. */
  #built: ConnectionSummary | undefined;
  #spare: ConnectionSummary | undefined;
  /** Made by {@link fromState}: it does not count any more. */
  #adopted = false;

  /**
   * An empty counter, with the bounds of its summary (defaults: `DEFAULT_MAX_SOURCES`,
   * `DEFAULT_MAX_PORTS`). Throws a `RangeError` when a bound is out of range.
   */
  constructor(bounds: SummaryBounds = {}, state?: CounterState) {
    this.#bounds = state?.bounds ?? checkBounds(bounds);
    this.#keys = state?.keys ?? sharedArray(Int32Array, INITIAL_CAPACITY * STRIDE);
    this.#counts = new Float64Array(this.#keys.buffer);
    this.#mask = state?.mask ?? INITIAL_CAPACITY - 1;
    if (state) {
      this.#size = state.size;
      this.#total = state.total;
      if (state.summary) this.#summary = ConnectionSummary.fromState(state.summary);
    }
  }

  /**
   * The counter's state, for another thread (the output worker): shared, not copied, so this
   * counter must not count, nor be cleared, until that thread is done with it.
   *
   * @example
   * ```ts
   * worker.postMessage(counter.state()); // there: ConnectionCounter.fromState(message, spare)
   * ```
   */
  state(): CounterState {
    return {
      bounds: this.#bounds,
      keys: this.#keys,
      mask: this.#mask,
      size: this.#size,
      total: this.#total,
      ...(this.#summary ? { summary: this.#summary.state() } : {}),
    };
  }

  /**
   * The counter whose {@link state} this is, over the same table; `spare`, a summary of the same
   * bounds, is reused by {@link summarize} when the counts are still in the exact table.
   *
   * @example
   * ```ts
   * const digest = buildDigest(ConnectionCounter.fromState(state).summarize(), clearSource);
   * ```
   */
  static fromState(state: CounterState, spare?: ConnectionSummary): ConnectionCounter {
    const counter = new ConnectionCounter({}, state);
    counter.#spare = spare;
    counter.#adopted = true;
    return counter;
  }

  /** Events counted so far. */
  get total(): number {
    return this.#summary === undefined ? this.#total : this.#summary.total;
  }

  /** Distinct (source, port) pairs in the exact table (0 once a summary counts). */
  get size(): number {
    return this.#summary === undefined ? this.#size : 0;
  }

  /**
   * The counts as a summary: the counter's own once the exact table is full, otherwise one made
   * from the exact table (the counter goes on counting exactly).
   */
  summarize(): ConnectionSummary {
    // Another thread's counter no longer counts: its summary is made once.
    if (this.#adopted && this.#built) return this.#built;
    return this.#summary ?? (this.#built = this.#toSummary());
  }

  /**
   * Counts one event from `address` (16 bytes, of which the first 4 are used when `family`
   * is 4; the rest must then be zero) to `port`.
   */
  add(family: 4 | 6, address: Uint8Array, port: number): void {
    const words = this.#scratch;
    for (let i = 0; i < 4; i++) words[i] = word(address, 4 * i);
    this.addWords(family, words, port);
  }

  /**
   * Counts one event from the address given as four 32-bit words, each read most significant
   * byte first (IPv4: word 0, the others zero), to `port`: what {@link Decoded.words} holds.
   * The hot path: no allocation.
   */
  addWords(family: 4 | 6, words: Int32Array, port: number): void {
    if (this.#summary !== undefined) {
      this.#summary.addWords(family, words, port);
      return;
    }
    const w0 = words[0];
    const w1 = words[1];
    const w2 = words[2];
    const w3 = words[3];
    const w4 = (family << 16) | port;
    const slot = slotOf(w0, w1, w2, w3, w4) & this.#mask;
    const keys = this.#keys;
    const k = slot * STRIDE;
    // The pair's home slot holds it most of the time: the rest is kept out of line, so that
    // this stays small enough to be compiled into the caller.
    if (
      keys[k + 4] === w4 && keys[k] === w0 && keys[k + 1] === w1 && keys[k + 2] === w2 &&
      keys[k + 3] === w3
    ) {
      this.#counts[slot * 4 + 3]++;
      this.#total++;
    } else {
      this.#probe(slot, w0, w1, w2, w3, w4);
    }
  }

  /**
   * Distinct sources counted so far: exact while the exact table counts, else the summary's
   * estimate. Costs a pass over the table (no more than {@link EXACT_PAIRS} pairs), for the
   * metrics between windows, not per packet.
   *
   * @example
   * ```ts
   * counter.distinctSources(); // { count: 12, exact: true }
   * ```
   */
  distinctSources(): { count: number; exact: boolean } {
    if (this.#summary !== undefined) return this.#summary.distinctSources();
    const keys = this.#keys;
    // The sources, each once: an open-addressing set of addresses with their family.
    const capacity = 2 ** Math.ceil(Math.log2(this.#size * 2 + 2));
    const seen = new Int32Array(capacity * SET_WORDS);
    const mask = capacity - 1;
    let count = 0;
    for (let slot = 0; slot <= this.#mask; slot++) {
      const k = slot * STRIDE;
      const tag = keys[k + 4];
      if (tag === 0) continue;
      const family = tag >>> 16;
      let at = mix(keys[k], keys[k + 1], keys[k + 2], keys[k + 3], family) & mask;
      for (;;) {
        const s = at * SET_WORDS;
        if (seen[s + 4] === 0) {
          for (let i = 0; i < 4; i++) seen[s + i] = keys[k + i];
          seen[s + 4] = family;
          count++;
          break;
        }
        if (
          seen[s + 4] === family && seen[s] === keys[k] && seen[s + 1] === keys[k + 1] &&
          seen[s + 2] === keys[k + 2] && seen[s + 3] === keys[k + 3]
        ) break;
        at = (at + 1) & mask;
      }
    }
    return { count, exact: true };
  }

  /**
   * Forgets everything counted, keeping its memory for what comes next (a collector's next
   * window): the summaries {@link summarize} gave are reused, and must not be read after this.
   */
  clear(): void {
    this.#spare = this.#summary ?? this.#built ?? this.#spare;
    this.#summary = this.#built = undefined;
    this.#keys.fill(0);
    this.#size = 0;
    this.#total = 0;
  }

  /**
   * The pairs of the exact table, in no particular order (none once a summary counts: see
   * {@link summarize}). Their addresses are views on one buffer made for the whole iteration
   * (a fresh small typed array each costs several times more).
   */
  *entries(): IterableIterator<CounterEntry> {
    if (this.#summary !== undefined) return;
    const keys = this.#keys;
    const pool = new Uint8Array(this.#size * 16);
    let used = 0;
    for (let slot = 0; slot <= this.#mask; slot++) {
      const k = slot * STRIDE;
      const tag = keys[k + 4];
      if (tag === 0) continue;
      const family = (tag >>> 16) === 6 ? 6 : 4;
      const length = family === 4 ? 4 : 16;
      const address = pool.subarray(used, used + length);
      used += length;
      for (let i = 0; i < length; i++) {
        address[i] = keys[k + (i >> 2)] >>> (24 - 8 * (i & 3));
      }
      yield { family, address, port: tag & 0xffff, count: this.#counts[slot * 4 + 3] };
    }
  }

  /** A summary of the exact table (in the spare one, when there is one). */
  #toSummary(): ConnectionSummary {
    const keys = this.#keys;
    const counts = this.#counts;
    const into = this.#spare;
    this.#spare = undefined;
    return ConnectionSummary.fromPairs(
      (add) => {
        for (let slot = 0; slot <= this.#mask; slot++) {
          const k = slot * STRIDE;
          const tag = keys[k + 4];
          if (tag === 0) continue;
          const family = (tag >>> 16) === 6 ? 6 : 4;
          add(
            family,
            keys[k],
            keys[k + 1],
            keys[k + 2],
            keys[k + 3],
            tag & 0xffff,
            counts[slot * 4 + 3],
          );
        }
      },
      this.#bounds,
      into,
    );
  }

  /** Counts a pair that is not in its home slot `slot`: further along, or new. */
  #probe(slot: number, w0: number, w1: number, w2: number, w3: number, w4: number): void {
    const keys = this.#keys;
    const mask = this.#mask;
    for (;;) {
      const k = slot * STRIDE;
      const tag = keys[k + 4];
      if (tag === 0) break;
      if (
        tag === w4 && keys[k] === w0 && keys[k + 1] === w1 && keys[k + 2] === w2 &&
        keys[k + 3] === w3
      ) {
        this.#counts[slot * 4 + 3]++;
        this.#total++;
        return;
      }
      slot = (slot + 1) & mask;
    }
    const k = slot * STRIDE;
    keys[k] = w0;
    keys[k + 1] = w1;
    keys[k + 2] = w2;
    keys[k + 3] = w3;
    keys[k + 4] = w4;
    this.#counts[slot * 4 + 3] = 1;
    this.#total++;
    if (++this.#size * 2 > mask) {
      if (this.#size < EXACT_PAIRS) {
        this.#grow();
      } else {
        // Full: from now on the summary counts, in its fixed memory. The table stays, unused,
        // for after a clear().
        this.#summary = this.#toSummary();
        this.#size = 0;
      }
    }
  }

  #grow(): void {
    const oldKeys = this.#keys;
    const oldCounts = this.#counts;
    const capacity = (this.#mask + 1) * 2;
    const keys = sharedArray(Int32Array, capacity * STRIDE);
    const counts = new Float64Array(keys.buffer);
    const mask = capacity - 1;
    for (let old = 0; old <= this.#mask; old++) {
      const o = old * STRIDE;
      if (oldKeys[o + 4] === 0) continue;
      let slot =
        slotOf(oldKeys[o], oldKeys[o + 1], oldKeys[o + 2], oldKeys[o + 3], oldKeys[o + 4]) &
        mask;
      while (keys[slot * STRIDE + 4] !== 0) slot = (slot + 1) & mask;
      const k = slot * STRIDE;
      for (let i = 0; i < WORDS; i++) keys[k + i] = oldKeys[o + i];
      counts[slot * 4 + 3] = oldCounts[old * 4 + 3];
    }
    this.#keys = keys;
    this.#counts = counts;
    this.#mask = mask;
  }
}

/** The table's hash of a pair: an IPv4 pair's zero words skipped (two multiplications fewer). */
function slotOf(w0: number, w1: number, w2: number, w3: number, w4: number): number {
  if ((w1 | w2 | w3) !== 0) return mix(w0, w1, w2, w3, w4);
  let h = Math.imul(w0 ^ SEED4, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 16) ^ w4, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 13), 0x85ebca6b);
  return h ^ (h >>> 16);
}

const SEED4 = crypto.getRandomValues(new Int32Array(1))[0];

function word(b: Uint8Array, at: number): number {
  return (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
}
