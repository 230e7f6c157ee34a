import assert from "node:assert/strict";
import { KeyedHasher, toHex } from "./keyed_hash.ts";

const V6_LOOPBACK = new Uint8Array(16);
V6_LOOPBACK[15] = 1;

Deno.test("keyed hash matches the original tool's vectors", async () => {
  assert.equal((await KeyedHasher.create("test")).hash(V6_LOOPBACK), "e3b4bdc68b94c649");
  assert.equal(
    (await KeyedHasher.create("secret")).hash(new Uint8Array([10, 0, 0, 1])),
    "d503c722bce43939",
  );
  assert.equal(
    (await KeyedHasher.create("k".repeat(200))).hash(new Uint8Array([10, 0, 0, 1])),
    "1a41ce031490cbba",
  );
  assert.equal(
    (await KeyedHasher.create("clé")).hash(new Uint8Array([192, 0, 2, 7])),
    "0f591c9ec0fe0099",
  );
});

Deno.test("keyed hash depends on key and on address length", async () => {
  const h = await KeyedHasher.create("test");
  assert.notEqual(h.hash(new Uint8Array([0, 0, 0, 1])), h.hash(V6_LOOPBACK));
  assert.notEqual((await KeyedHasher.create("test2")).hash(V6_LOOPBACK), h.hash(V6_LOOPBACK));
  assert.match(h.hash(new Uint8Array([127, 0, 0, 1])), /^[0-9a-f]{16}$/);
});

Deno.test("keyed hasher refuses an empty secret and hides its secret", async () => {
  await assert.rejects(() => KeyedHasher.create(""), RangeError);
  const h = await KeyedHasher.create("hunter2");
  assert.ok(!Deno.inspect(h).includes("hunter2"));
  assert.ok(!String(h).includes("hunter2"));
});

Deno.test("keyed hash of a secret given as bytes (not UTF-8) equals that of the same bytes as text", async () => {
  const bytes = await KeyedHasher.create(new Uint8Array([0x63, 0x6c, 0xc3, 0xa9]));
  assert.equal(bytes.hash(new Uint8Array([192, 0, 2, 7])), "0f591c9ec0fe0099");
  const raw = await KeyedHasher.create(new Uint8Array([0x74, 0xff]));
  assert.match(raw.hash(V6_LOOPBACK), /^[0-9a-f]{16}$/);
  assert.notEqual(raw.hash(V6_LOOPBACK), (await KeyedHasher.create("t")).hash(V6_LOOPBACK));
});

Deno.test("one hasher gives the same hash every time, among many others", async () => {
  const h = await KeyedHasher.create("test");
  for (let i = 0; i < 10_000; i++) h.hash(new Uint8Array([10, 0, i >> 8, i & 255]));
  assert.equal(h.hash(V6_LOOPBACK), "e3b4bdc68b94c649");
});

Deno.test("toHex pads and lowercases", () => {
  assert.equal(toHex(new Uint8Array([0, 10, 255])), "000aff");
});
