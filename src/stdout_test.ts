import assert from "node:assert/strict";
import { Stdout, writeAll } from "./stdout.ts";

Deno.test("writeAll: writes every byte, however few each write takes; false on a closed pipe", () => {
  const got: number[] = [];
  const slow = { writeSync: (p: Uint8Array) => (got.push(p[0]), 1) };
  assert.equal(writeAll(slow, "abc"), true);
  assert.deepEqual(got, [97, 98, 99]);
  const closed = {
    writeSync: (): number => {
      throw new Deno.errors.BrokenPipe("gone");
    },
  };
  assert.equal(writeAll(closed, "x"), false);
});

Deno.test("Stdout: a closed pipe is noted, not an error; another error is kept and said once", () => {
  let calls = 0;
  const gone = new Stdout({
    writeSync: () => {
      calls++;
      throw new Deno.errors.BrokenPipe("gone");
    },
  });
  assert.equal(gone.write("a"), true);
  assert.equal(gone.closed, true);
  assert.equal(gone.write("b"), true);
  assert.equal(calls, 1, "nothing more is written once the reader has gone");
  const full = new Stdout({
    writeSync: () => {
      throw new Error("No space left on device (os error 28)");
    },
  });
  assert.equal(full.write("a"), false);
  assert.match(full.error!, /^Cannot write to stdout: No space left on device/);
  assert.equal(full.closed, false);
});
