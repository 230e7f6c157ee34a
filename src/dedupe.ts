/**
 * Retransmitted SYNs: with `--dedupe`, pulso counts connection attempts instead of SYN
 * segments. A SYN that repeats the addresses, ports and initial sequence number of one seen in
 * the last {@link DEDUPE_SECONDS} seconds of capture time is a retransmission, not counted again.
 *
 * What is remembered is bounded: {@link DEDUPE_CAPACITY} fingerprints (64-bit keyed hashes of the
 * attempt) in 4-way buckets, 4 MiB. When a bucket is full of attempts younger than the window,
 * the oldest is forgotten, and counted: a retransmission of it would be counted again (the count
 * can then only be too high, never too low).
 *
 * @module
 */
import type { Decoded } from "./decode.ts";

/** How long, in seconds of capture time, a SYN is remembered. */
export const DEDUPE_SECONDS = 60;
/** Attempts remembered at most. */
export const DEDUPE_CAPACITY = 1 << 18;

const WAYS = 4;

/**
 * Tells first SYNs from retransmissions.
 *
 * @example
 * ```ts
 * const dedupe = new RetransmissionFilter();
 * if (decode(frame, frame.length, decoded) === Verdict.EVENT) {
 *   if (!dedupe.repeated(frame, decoded, seconds)) counter.addWords(decoded.family, decoded.words, decoded.port);
 * }
 * dedupe.retransmissions; // SYNs not counted
 * ```
 */
export class RetransmissionFilter {
  readonly #high: Int32Array;
  readonly #low: Int32Array;
  readonly #time: Float64Array;
  readonly #mask: number;
  readonly #seed = crypto.getRandomValues(new Int32Array(2));
  #retransmissions = 0;
  #forgotten = 0;
  #turn = 0;

  /** An empty filter remembering up to `capacity` attempts (a power of two, at least 4). */
  constructor(capacity = DEDUPE_CAPACITY) {
    if (!(capacity >= WAYS && (capacity & (capacity - 1)) === 0)) {
      throw new RangeError(`The capacity must be a power of two from ${WAYS}, not ${capacity}`);
    }
    this.#high = new Int32Array(capacity);
    this.#low = new Int32Array(capacity);
    this.#time = new Float64Array(capacity).fill(-Infinity);
    this.#mask = capacity / WAYS - 1;
  }

  /** SYNs found to repeat an attempt: not counted. */
  get retransmissions(): number {
    return this.#retransmissions;
  }

  /** Attempts forgotten within the window for want of room. */
  get forgotten(): number {
    return this.#forgotten;
  }

  /**
   * Whether the SYN that `decoded` describes in `frame` repeats one of the last
   * {@link DEDUPE_SECONDS} seconds before `seconds` (its capture time); remembers it either
   * way. No allocation.
   */
  repeated(frame: Uint8Array, decoded: Decoded, seconds: number): boolean {
    const w = decoded.words;
    const ip = decoded.ipOffset;
    const tcp = decoded.tcpOffset;
    // The rest of the attempt: destination address, source port, sequence number.
    const ports = (((frame[tcp] << 8) | frame[tcp + 1]) << 16) | decoded.port;
    const sequence = word(frame, tcp + 4);
    let d0: number, d1 = 0, d2 = 0, d3 = 0;
    if (decoded.family === 4) {
      d0 = word(frame, ip + 16);
    } else {
      d0 = word(frame, ip + 24);
      d1 = word(frame, ip + 28);
      d2 = word(frame, ip + 32);
      d3 = word(frame, ip + 36);
    }
    let high = this.#seed[0] ^ decoded.family;
    let low = this.#seed[1] ^ decoded.family;
    high = step(high, w[0]), low = step(low ^ 0x5bd1e995, w[0]);
    high = step(high, w[1]), low = step(low, w[1]);
    high = step(high, w[2]), low = step(low, w[2]);
    high = step(high, w[3]), low = step(low, w[3]);
    high = step(high, d0), low = step(low, d0);
    high = step(high, d1), low = step(low, d1);
    high = step(high, d2), low = step(low, d2);
    high = step(high, d3), low = step(low, d3);
    high = step(high, ports), low = step(low, ports);
    high = finish(step(high, sequence));
    low = finish(step(low, sequence));
    const base = (high & this.#mask) * WAYS;
    const highs = this.#high;
    const lows = this.#low;
    const times = this.#time;
    // Ties for the oldest (equal timestamps) go round the ways, so that no way churns alone.
    const start = this.#turn++ & (WAYS - 1);
    let oldest = base + start;
    for (let j = 0; j < WAYS; j++) {
      const i = base + ((start + j) & (WAYS - 1));
      if (highs[i] === high && lows[i] === low && Math.abs(seconds - times[i]) <= DEDUPE_SECONDS) {
        times[i] = seconds;
        this.#retransmissions++;
        return true;
      }
      if (times[i] < times[oldest]) oldest = i;
    }
    if (seconds - times[oldest] <= DEDUPE_SECONDS) this.#forgotten++;
    highs[oldest] = high;
    lows[oldest] = low;
    times[oldest] = seconds;
    return false;
  }

  /** Forgets every attempt and resets the counts. */
  clear(): void {
    this.#time.fill(-Infinity);
    this.#retransmissions = 0;
    this.#forgotten = 0;
  }
}

function word(b: Uint8Array, at: number): number {
  return (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
}

/** One round of murmur3's 32-bit mixing. */
function step(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}
