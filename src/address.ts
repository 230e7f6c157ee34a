/**
 * Text forms of IP addresses: dotted quad for IPv4, RFC 5952 for IPv6.
 *
 * @module
 */

/**
 * Formats a 4-byte (IPv4) or 16-byte (IPv6) address.
 *
 * @example
 * ```ts
 * formatAddress(new Uint8Array([192, 0, 2, 7])); // "192.0.2.7"
 * formatAddress(new Uint8Array([0xfd, 0x99, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2])); // "fd99:2::2"
 * ```
 */
export function formatAddress(address: Uint8Array): string {
  if (address.length === 4) return address.join(".");
  if (address.length !== 16) {
    throw new RangeError(`An address has 4 or 16 bytes, not '${address.length}'`);
  }
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((address[i] << 8) | address[i + 1]);
  // IPv4-mapped addresses keep their dotted tail (RFC 5952, section 5).
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${address.subarray(12).join(".")}`;
  }
  // The longest run of two or more zero groups becomes "::" (the first one on a tie).
  let bestStart = -1, bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  const head = hex.slice(0, bestStart).join(":");
  const tail = hex.slice(bestStart + bestLength).join(":");
  return `${head}::${tail}`;
}

/**
 * Parses an IPv4 or IPv6 address in text form to its 4 or 16 bytes, or returns `undefined`.
 *
 * @example
 * ```ts
 * parseAddress("10.0.0.1"); // Uint8Array [10, 0, 0, 1]
 * parseAddress("::1"); // Uint8Array of 16 bytes ending in 1
 * ```
 */
export function parseAddress(text: string): Uint8Array | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) {
    const parts = text.split(".").map(Number);
    return parts.every((p) => p <= 255) ? new Uint8Array(parts) : undefined;
  }
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  let tailV4: Uint8Array | undefined;
  let body = text;
  const lastColon = text.lastIndexOf(":");
  if (lastColon < 0) return undefined;
  if (text.includes(".")) {
    tailV4 = parseAddress(text.slice(lastColon + 1));
    if (!tailV4) return undefined;
    body = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const parse = (s: string) => (s === "" ? [] : s.split(":"));
  const head = parse(halves[0]);
  const tail = halves.length === 2 ? parse(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(groups[i])) return undefined;
    const g = parseInt(groups[i], 16);
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  }
  if (tailV4) out.set(tailV4, 12);
  return out;
}
