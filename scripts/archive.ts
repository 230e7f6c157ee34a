/**
 * Reproducible archives for the release: a tar.gz and a zip writer whose output depends only on
 * the entries and one time (fixed owner, modes and order, no build time anywhere), and a zip
 * reader for Deno's runtime archives (`denort-<target>.zip`).
 *
 * @module
 */
import { crc32, deflateRawSync, gzipSync, inflateRawSync } from "node:zlib";

/** A file in an archive. */
export interface ArchiveEntry {
  /** Its name in the archive (ASCII, at most 100 bytes, no directory needed). */
  name: string;
  data: Uint8Array;
  /** Unix permission bits, e.g. `0o755`. */
  mode: number;
}

const encoder = new TextEncoder();

function checkName(name: string): Uint8Array {
  if (!/^[\x21-\x7e][\x20-\x7e]*$/.test(name) || name.length > 100) {
    throw new Error(
      `Unsupported archive entry name '${name}' (printable ASCII, at most 100 bytes)`,
    );
  }
  return encoder.encode(name);
}

function checkTime(seconds: number): void {
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new Error(`Invalid archive time '${seconds}' (whole seconds since 1970)`);
  }
}

/** `value` in octal, zero-padded to `width - 1` digits and a NUL, at `at` in `header`. */
function putOctal(header: Uint8Array, at: number, width: number, value: number): void {
  const digits = value.toString(8).padStart(width - 1, "0");
  if (digits.length > width - 1) throw new Error(`Value ${value} too large for a tar header`);
  header.set(encoder.encode(digits), at);
  header[at + width - 1] = 0;
}

/**
 * A POSIX ustar archive of `entries`, in their order, each owned by root (0/0) and modified at
 * `mtime` (seconds since 1970).
 *
 * @example
 * ```ts
 * const bytes = tar([{ name: "README.md", data: new TextEncoder().encode("hi\n"), mode: 0o644 }], 0);
 * ```
 */
export function tar(entries: readonly ArchiveEntry[], mtime: number): Uint8Array<ArrayBuffer> {
  checkTime(mtime);
  const size = entries.reduce((n, e) => n + 512 + Math.ceil(e.data.length / 512) * 512, 0) + 1024;
  const out = new Uint8Array(size);
  let at = 0;
  for (const entry of entries) {
    const header = out.subarray(at, at + 512);
    header.set(checkName(entry.name), 0);
    putOctal(header, 100, 8, entry.mode & 0o7777);
    putOctal(header, 108, 8, 0); // uid
    putOctal(header, 116, 8, 0); // gid
    putOctal(header, 124, 12, entry.data.length);
    putOctal(header, 136, 12, mtime);
    header[156] = 0x30; // '0': a regular file
    header.set(encoder.encode("ustar\x0000"), 257);
    header.set(encoder.encode("root"), 265); // uname
    header.set(encoder.encode("root"), 297); // gname
    // The checksum is taken with its own field as eight spaces.
    header.fill(0x20, 148, 156);
    const sum = header.reduce((s, b) => s + b, 0);
    header.set(encoder.encode(sum.toString(8).padStart(6, "0") + "\x00 "), 148);
    out.set(entry.data, at + 512);
    at += 512 + Math.ceil(entry.data.length / 512) * 512;
  }
  // Two zero blocks end the archive (already zero).
  return out;
}

/**
 * `tar(entries, mtime)` compressed with gzip at level 9, its header without a time and with a
 * fixed system byte (Unix), so that the same entries give the same bytes anywhere.
 *
 * @example
 * ```ts
 * Deno.writeFileSync("pulso.tar.gz", tarGz(entries, 1700000000));
 * ```
 */
export function tarGz(entries: readonly ArchiveEntry[], mtime: number): Uint8Array<ArrayBuffer> {
  const gz = new Uint8Array(gzipSync(tar(entries, mtime), { level: 9 }));
  gz.fill(0, 4, 8); // MTIME: none
  gz[9] = 3; // OS: Unix, whichever system wrote it
  return gz;
}

/** MS-DOS date and time of `seconds` since 1970 (UTC), clamped to 1980-2107, to 2 s. */
function dosDateTime(seconds: number): { date: number; time: number } {
  const min = Date.UTC(1980, 0, 1) / 1000;
  const max = Date.UTC(2107, 11, 31, 23, 59, 58) / 1000;
  const d = new Date(Math.min(Math.max(seconds, min), max) * 1000);
  return {
    date: ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1),
  };
}

/** Options of {@link zip}. */
export interface ZipOptions {
  /** Deflate level, 1 (fastest) to 9 (smallest, the default). */
  level?: number;
}

/**
 * A zip archive of `entries`, in their order, deflated, each dated `mtime` (seconds since 1970,
 * as UTC) and marked as made on Unix with its mode; no extra fields, so no other time.
 *
 * @example
 * ```ts
 * Deno.writeFileSync("pulso.zip", zip([{ name: "pulso.exe", data: binary, mode: 0o755 }], 0));
 * ```
 */
export function zip(
  entries: readonly ArchiveEntry[],
  mtime: number,
  options: ZipOptions = {},
): Uint8Array<ArrayBuffer> {
  checkTime(mtime);
  const { date, time } = dosDateTime(mtime);
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = checkName(entry.name);
    const data = new Uint8Array(deflateRawSync(entry.data, { level: options.level ?? 9 }));
    const crc = crc32(entry.data) >>> 0;
    if (entry.data.length >= 2 ** 32 || offset >= 2 ** 32) throw new Error("Archive too large");
    const local = new Uint8Array(30 + name.length);
    const l = new DataView(local.buffer);
    l.setUint32(0, 0x04034b50, true);
    l.setUint16(4, 20, true); // version needed: 2.0 (deflate)
    l.setUint16(6, 0, true); // flags
    l.setUint16(8, 8, true); // method: deflate
    l.setUint16(10, time, true);
    l.setUint16(12, date, true);
    l.setUint32(14, crc, true);
    l.setUint32(18, data.length, true);
    l.setUint32(22, entry.data.length, true);
    l.setUint16(26, name.length, true);
    l.setUint16(28, 0, true); // extra field length
    local.set(name, 30);
    const header = new Uint8Array(46 + name.length);
    const c = new DataView(header.buffer);
    c.setUint32(0, 0x02014b50, true);
    c.setUint16(4, (3 << 8) | 20, true); // made by: Unix, 2.0
    c.setUint16(6, 20, true);
    c.setUint16(8, 0, true);
    c.setUint16(10, 8, true);
    c.setUint16(12, time, true);
    c.setUint16(14, date, true);
    c.setUint32(16, crc, true);
    c.setUint32(20, data.length, true);
    c.setUint32(24, entry.data.length, true);
    c.setUint16(28, name.length, true);
    // extra, comment, disk, internal attributes: 0
    c.setUint32(38, ((0o100000 | (entry.mode & 0o7777)) << 16) >>> 0, true); // a regular file
    c.setUint32(42, offset, true);
    header.set(name, 46);
    parts.push(local, data);
    central.push(header);
    offset += local.length + data.length;
  }
  const centralSize = central.reduce((n, h) => n + h.length, 0);
  const end = new Uint8Array(22);
  const e = new DataView(end.buffer);
  e.setUint32(0, 0x06054b50, true);
  e.setUint16(8, entries.length, true);
  e.setUint16(10, entries.length, true);
  e.setUint32(12, centralSize, true);
  e.setUint32(16, offset, true);
  const out = new Uint8Array(offset + centralSize + end.length);
  let at = 0;
  for (const part of [...parts, ...central, end]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * The contents of the file `name` in the zip archive `bytes` (stored or deflated, its CRC
 * checked), or undefined when the archive has no such file. Throws on a damaged archive.
 *
 * @example
 * ```ts
 * const denort = unzipFile(Deno.readFileSync("denort-x86_64-unknown-linux-gnu.zip"), "denort");
 * ```
 */
export function unzipFile(bytes: Uint8Array, name: string): Uint8Array | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The end of central directory record: 22 bytes and a comment of up to 65535.
  let end = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 65535); at--) {
    if (view.getUint32(at, true) === 0x06054b50) {
      end = at;
      break;
    }
  }
  if (end < 0) throw new Error("Not a zip archive (no end of central directory)");
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  const decoder = new TextDecoder();
  for (let i = 0; i < count; i++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== 0x02014b50) {
      throw new Error("Damaged zip archive (central directory)");
    }
    const method = view.getUint16(at + 10, true);
    const crc = view.getUint32(at + 16, true);
    const compressed = view.getUint32(at + 20, true);
    const size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const local = view.getUint32(at + 42, true);
    const entryName = decoder.decode(bytes.subarray(at + 46, at + 46 + nameLength));
    at += 46 + nameLength + extraLength + commentLength;
    if (entryName !== name) continue;
    if (local + 30 > bytes.length || view.getUint32(local, true) !== 0x04034b50) {
      throw new Error(`Damaged zip archive (local header of '${name}')`);
    }
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    const raw = bytes.subarray(start, start + compressed);
    let data: Uint8Array;
    if (method === 0) data = raw;
    else if (method === 8) data = new Uint8Array(inflateRawSync(raw));
    else throw new Error(`Unsupported zip method ${method} for '${name}'`);
    if (data.length !== size || (crc32(data) >>> 0) !== crc) {
      throw new Error(`Damaged zip archive (size or CRC of '${name}')`);
    }
    return data;
  }
  return undefined;
}
