/**
 * Typed arrays on shared memory: the counters' tables are allocated there, so that a finished
 * window's counter can be read by the output worker (`src/output_worker.ts`) without a copy,
 * while the capture goes on counting into another.
 *
 * @module
 */

/** A typed array constructor that {@link sharedArray} can allocate. */
export type SharedArrayKind =
  | Int32ArrayConstructor
  | Uint8ArrayConstructor
  | Uint16ArrayConstructor
  | Float64ArrayConstructor;

/**
 * A zeroed typed array of `length` elements on a `SharedArrayBuffer` (its pages are touched
 * only as they are written, as for an ordinary one).
 *
 * @example
 * ```ts
 * const counts = sharedArray(Float64Array, 1024);
 * counts.buffer instanceof SharedArrayBuffer; // true
 * ```
 */
export function sharedArray<C extends SharedArrayKind>(kind: C, length: number): InstanceType<C> {
  const buffer = new SharedArrayBuffer(length * kind.BYTES_PER_ELEMENT);
  return new (kind as unknown as new (buffer: SharedArrayBuffer) => InstanceType<C>)(buffer);
}
