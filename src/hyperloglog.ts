/**
 * HyperLogLog (Flajolet et al. 2007): an estimate of how many distinct source addresses were
 * seen, in 2^precision one-byte registers (16 KiB at precision 14, about 0.8 % standard error),
 * whatever their number. The estimate is Ertl's improved raw estimator ("New cardinality
 * estimation algorithms for HyperLogLog sketches", 2017), which needs no bias tables and no
 * switch to linear counting: it holds from one address to billions.
 *
 * @module
 */

import { sharedArray } from "./shared_memory.ts";

/** What a {@link HyperLogLog} is made of, to be read in another thread ({@link HyperLogLog.fromState}). */
export interface HyperLogLogState {
  registers: Uint8Array;
  precision: number;
  seed: number;
}

/** Bits of hash that follow the register index: 64 bits in all. */
const HASH_BITS = 64;

/**
 * Counts distinct addresses, approximately, in fixed memory.
 *
 * @example
 * ```ts
 * const hll = new HyperLogLog();
 * for (let i = 0; i < 100_000; i++) hll.add(4, i, 0, 0, 0);
 * Math.abs(hll.estimate() - 100_000) < 3 * hll.standardError * 100_000; // true, almost always
 * ```
 */
export class HyperLogLog {
  #registers: Uint8Array;
  #precision: number;
  readonly #seed: number;

  /**
   * An empty sketch of 2^`precision` registers (4 to 18; 14 by default). The hash is keyed by
   * `seed`, random by default, so that crafted addresses cannot steer the estimate.
   */
  constructor(precision = 14, seed = crypto.getRandomValues(new Int32Array(1))[0]) {
    if (!Number.isInteger(precision) || precision < 4 || precision > 18) {
      throw new RangeError(`The precision must be an integer from 4 to 18, not ${precision}`);
    }
    this.#precision = precision;
    this.#seed = seed;
    this.#registers = sharedArray(Uint8Array, 1 << precision);
  }

  /**
   * The sketch's state: its registers on shared memory, not copied.
   *
   * @example
   * ```ts
   * const copy = HyperLogLog.fromState(hll.state()); // the same registers
   * ```
   */
  state(): HyperLogLogState {
    return { registers: this.#registers, precision: this.#precision, seed: this.#seed };
  }

  /** A sketch over the registers of `state` (shared with the one it came from). */
  static fromState(state: HyperLogLogState): HyperLogLog {
    const hll = new HyperLogLog(4, state.seed);
    hll.#precision = state.precision;
    hll.#registers = state.registers;
    return hll;
  }

  /** The relative standard error of the estimate: 1.04 / sqrt(2^precision). */
  get standardError(): number {
    return 1.04 / Math.sqrt(this.#registers.length);
  }

  /**
   * Adds an address, given as its family and four 32-bit words (IPv4: the address, then zeros).
   * No allocation.
   */
  add(family: number, w0: number, w1: number, w2: number, w3: number): void {
    const high = mix(w0, w1, w2, w3, family, this.#seed ^ 0x3c6ef372);
    const low = mix(w0, w1, w2, w3, family, this.#seed ^ 0xa54ff53a);
    const p = this.#precision;
    const index = high >>> (32 - p);
    // The 64 - p bits after the index: the rest of `high`, then `low`.
    const rest = (high << p) >>> p;
    const rank = rest !== 0
      ? Math.clz32(rest) - p + 1
      : low !== 0
      ? 32 - p + Math.clz32(low) + 1
      : HASH_BITS - p + 1;
    if (rank > this.#registers[index]) this.#registers[index] = rank;
  }

  /** The estimated number of distinct addresses added. */
  estimate(): number {
    const registers = this.#registers;
    const m = registers.length;
    const q = HASH_BITS - this.#precision;
    const histogram = new Float64Array(q + 2);
    for (let i = 0; i < m; i++) histogram[registers[i]]++;
    let z = m * tau(1 - histogram[q + 1] / m);
    for (let k = q; k >= 1; k--) z = 0.5 * (z + histogram[k]);
    z += m * sigma(histogram[0] / m);
    return Math.round(m * m / (2 * Math.LN2 * z));
  }

  /** Forgets every address. */
  clear(): void {
    this.#registers.fill(0);
  }
}

function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  for (;;) {
    x *= x;
    const next = z + x * y;
    if (next === z) return z;
    z = next;
    y += y;
  }
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  for (;;) {
    x = Math.sqrt(x);
    y *= 0.5;
    const next = z - (1 - x) * (1 - x) * y;
    if (next === z) return z / 3;
    z = next;
  }
}

/** A 32-bit hash of an address (murmur3's finaliser steps), seeded. */
function mix(w0: number, w1: number, w2: number, w3: number, w4: number, seed: number): number {
  let h = Math.imul(w0 ^ seed, 0xcc9e2d51);
  h = Math.imul(h ^ (h >>> 15) ^ w1, 0x1b873593);
  h = Math.imul(h ^ (h >>> 13) ^ w2, 0xcc9e2d51);
  h = Math.imul(h ^ (h >>> 15) ^ w3, 0x1b873593);
  h = Math.imul(h ^ (h >>> 13) ^ w4, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 16), 0xc2b2ae35);
  return h ^ (h >>> 16);
}
