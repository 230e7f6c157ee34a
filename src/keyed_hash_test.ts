import assert from "node:assert/strict";
import { KeyedHasher, toHex } from "./keyed_hash.ts";

const V6_LOOPBACK = new Uint8Array(16);
V6_LOOPBACK[15] = 1;

Deno.test("keyed hash matches the original tool's vectors", () => {
  assert.equal(new KeyedHasher("test").hash(V6_LOOPBACK), "e3b4bdc68b94c649");
  assert.equal(new KeyedHasher("secret").hash(new Uint8Array([10, 0, 0, 1])), "d503c722bce43939");
  assert.equal(
    new KeyedHasher("k".repeat(200)).hash(new Uint8Array([10, 0, 0, 1])),
    "1a41ce031490cbba",
  );
  assert.equal(new KeyedHasher("clé").hash(new Uint8Array([192, 0, 2, 7])), "0f591c9ec0fe0099");
});

Deno.test("keyed hash depends on key and on address length", () => {
  const h = new KeyedHasher("test");
  assert.notEqual(h.hash(new Uint8Array([0, 0, 0, 1])), h.hash(V6_LOOPBACK));
  assert.notEqual(new KeyedHasher("test2").hash(V6_LOOPBACK), h.hash(V6_LOOPBACK));
  assert.match(h.hash(new Uint8Array([127, 0, 0, 1])), /^[0-9a-f]{16}$/);
});

Deno.test("keyed hasher refuses an empty secret and hides its secret", () => {
  assert.throws(() => new KeyedHasher(""), RangeError);
  const h = new KeyedHasher("hunter2");
  assert.ok(!Deno.inspect(h).includes("hunter2"));
  assert.ok(!String(h).includes("hunter2"));
});

Deno.test("toHex pads and lowercases", () => {
  assert.equal(toHex(new Uint8Array([0, 10, 255])), "000aff");
});
