import assert from "node:assert/strict";
import { sharedArray } from "./shared_memory.ts";

Deno.test("sharedArray: zeroed, of the kind and length asked, on shared memory", () => {
  for (const kind of [Int32Array, Uint8Array, Uint16Array, Float64Array]) {
    const array = sharedArray(kind, 10);
    assert.ok(array instanceof kind);
    assert.equal(array.length, 10);
    assert.ok(array.buffer instanceof SharedArrayBuffer);
    assert.ok(array.every((x) => x === 0));
  }
  const a = sharedArray(Int32Array, 1);
  const b = structuredClone(a);
  b[0] = 7;
  assert.equal(a[0], 7, "a clone shares the memory");
});
