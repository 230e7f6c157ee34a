/**
 * Byte helpers for tests that build frames by hand.
 *
 * @module
 */

/** Bytes as a list of numbers or an array. */
export type Bytes = readonly number[] | Uint8Array;

/** The concatenation of `parts`, e.g. `cat([1, 2], new Uint8Array([3]))` is `[1, 2, 3]`. */
export function cat(...parts: Bytes[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A 16-bit number in network order, e.g. `u16(443)` is `[1, 187]`. */
export function u16(n: number): number[] {
  return [(n >> 8) & 0xff, n & 0xff];
}
