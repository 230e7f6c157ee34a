/**
 * Pseudonymisation of source addresses: HMAC (RFC 2104) over BLAKE2b with an 8-byte digest.
 *
 * The digest-length parameter of BLAKE2b is 8 (this is not a truncated BLAKE2b-512), the key is
 * the UTF-8 encoding of the secret (or its bytes as given, when it is not text) and the message is the address in network byte order. The
 * result, as 16 lowercase hex digits, equals what the original pulso printed.
 *
 * @module
 */
import { blake2b } from "@noble/hashes/blake2.js";
import { hmac } from "@noble/hashes/hmac.js";

const BLAKE2B_64 = Object.assign(
  (message: Uint8Array): Uint8Array => blake2b(message, { dkLen: 8 }),
  { outputLen: 8, blockLen: 128, canXOF: false, create: () => blake2b.create({ dkLen: 8 }) },
);

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lowercase hex of some bytes, e.g. `toHex(new Uint8Array([1, 255]))` is `"01ff"`. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += HEX[b];
  return out;
}

/**
 * A keyed hash of addresses, bound to one secret.
 *
 * @example
 * ```ts
 * const hasher = new KeyedHasher("test");
 * hasher.hash(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])); // "e3b4bdc68b94c649"
 * ```
 */
export class KeyedHasher {
  readonly #key: Uint8Array;

  /**
   * Binds the hasher to `secret`: text (keyed with its UTF-8 bytes) or bytes as they are.
   * Throws a `RangeError` when it is empty.
   */
  constructor(secret: string | Uint8Array) {
    if (secret.length === 0) throw new RangeError("The secret must not be empty");
    this.#key = typeof secret === "string" ? new TextEncoder().encode(secret) : secret.slice();
  }

  /** HMAC-BLAKE2b-64 of `address` (4 or 16 bytes, network order) as 16 hex digits. */
  hash(address: Uint8Array): string {
    return toHex(hmac(BLAKE2B_64, this.#key, address));
  }

  /** Never reveals the secret when logged or inspected. */
  toString(): string {
    return "KeyedHasher(<secret>)";
  }

  /** Never reveals the secret in `Deno.inspect` or `console.log`. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }
}
