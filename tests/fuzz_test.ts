/**
 * Fuzzing the frame decoder: a million frames and more, from the real capture corpus mutated
 * at random and from random bytes, must decode without throwing; every event must have a whole
 * TCP header; and the verdicts must agree with a small reference walker written here.
 *
 * Deterministic: the PRNG seed is printed; set PULSO_FUZZ_SEED to replay a run, and
 * PULSO_FUZZ_ITERATIONS to change its length.
 *
 * Run with `--allow-read --allow-ffi --allow-env`.
 */
import assert from "node:assert/strict";
import { NextResult, Pcap, PcapError } from "../ffi/libpcap.ts";
import { Decoded, decodeFrame, isSupportedLinkType, LinkType, Verdict } from "../src/decode.ts";
import { cat, u16 } from "./_bytes.ts";

const CORPUS = new URL("../../shared/corpus/", import.meta.url);
const SEED = Number(Deno.env.get("PULSO_FUZZ_SEED") ?? 0x5eed_c0de) >>> 0;
const ITERATIONS = Number(Deno.env.get("PULSO_FUZZ_ITERATIONS") ?? 1_000_000);
const SUPPORTED: readonly number[] = Object.values(LinkType);

// ---------------------------------------------------------------------------------------------
// PRNG: mulberry32
// ---------------------------------------------------------------------------------------------

class Random {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** An integer in [0, n). */
  below(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }
  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.u32() < p * 0x1_0000_0000;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }
}

// ---------------------------------------------------------------------------------------------
// A reference walker, written apart from the decoder: where the layers are, and the verdict
// ---------------------------------------------------------------------------------------------

interface Walk {
  verdict: Verdict;
  family: 4 | 6;
  /** Offset of the IP header, or -1. */
  ip: number;
  /** Offsets of IPv6 extension headers and IPv4 authentication headers met. */
  ext: number[];
  /** Offset where a TCP header starts (found by the headers, present or not), or -1. */
  tcp: number;
  /** End of the IP packet as bounded by the captured length. */
  end: number;
  /** The decoder may say OTHER where this walker says otherwise. */
  lenient: boolean;
}

const EXT_HOP = 0, EXT_ROUTING = 43, EXT_FRAGMENT = 44, EXT_AH = 51, EXT_DST = 60;

function walk(linkType: number, f: Uint8Array, length: number): Walk {
  const n = Math.max(0, Math.min(length, f.length));
  const w: Walk = {
    verdict: Verdict.OTHER,
    family: 4,
    ip: -1,
    ext: [],
    tcp: -1,
    end: -1,
    lenient: false,
  };
  const be16 = (i: number) => f[i] * 256 + f[i + 1];
  const done = (verdict: Verdict) => {
    w.verdict = verdict;
    return w;
  };

  // A TCP header at `at`: whole (20 bytes) and with a data offset of 5 words or more.
  const tcp = (at: number): Walk => {
    w.tcp = at;
    if (w.end - at < 20 || Math.floor(f[at + 12] / 16) < 5) return done(Verdict.MALFORMED);
    return done(synWithoutAck(f[at + 13]) ? Verdict.EVENT : Verdict.OTHER);
  };

  const ipv4 = (at: number): Walk => {
    w.ip = at;
    w.family = 4;
    if (n - at < 20) return done(Verdict.MALFORMED);
    if (Math.floor(f[at] / 16) !== 4) return done(Verdict.MALFORMED);
    const hl = (f[at] % 16) * 4;
    const total = be16(at + 2);
    if (hl < 20 || total < hl) return done(Verdict.MALFORMED);
    if (f[at + 9] !== 6 && f[at + 9] !== EXT_AH) return done(Verdict.OTHER);
    if (be16(at + 6) % 0x2000 !== 0) return done(Verdict.OTHER);
    w.end = Math.min(at + total, n);
    let next = f[at + 9];
    let cursor = at + hl;
    while (next === EXT_AH) {
      if (w.end - cursor < 8) return done(Verdict.MALFORMED);
      w.ext.push(cursor);
      next = f[cursor];
      cursor += 4 * (f[cursor + 1] + 2);
    }
    if (next !== 6) return done(Verdict.OTHER);
    return tcp(cursor);
  };

  const ipv6 = (at: number): Walk => {
    w.ip = at;
    w.family = 6;
    if (n - at < 40) return done(Verdict.MALFORMED);
    if (Math.floor(f[at] / 16) !== 6) return done(Verdict.MALFORMED);
    const payload = be16(at + 4);
    w.end = payload === 0 ? n : Math.min(at + 40 + payload, n);
    let next = f[at + 6];
    let cursor = at + 40;
    while (next !== 6) {
      if (![EXT_HOP, EXT_ROUTING, EXT_DST, EXT_FRAGMENT, EXT_AH].includes(next)) {
        return done(Verdict.OTHER);
      }
      if (w.end - cursor < 8) return done(Verdict.MALFORMED);
      w.ext.push(cursor);
      if (next === EXT_FRAGMENT && be16(cursor + 2) >= 8) return done(Verdict.OTHER);
      const size = next === EXT_FRAGMENT
        ? 8
        : next === EXT_AH
        ? 4 * (f[cursor + 1] + 2)
        : 8 * (f[cursor + 1] + 1);
      next = f[cursor];
      cursor += size;
    }
    return tcp(cursor);
  };

  const byType = (type: number, at: number): Walk =>
    type === 0x0800 ? ipv4(at) : type === 0x86dd ? ipv6(at) : done(Verdict.OTHER);

  switch (linkType) {
    case LinkType.EN10MB:
    case LinkType.LINUX_SLL:
    case LinkType.LINUX_SLL2: {
      const typeAt = linkType === LinkType.EN10MB ? 12 : linkType === LinkType.LINUX_SLL ? 14 : 0;
      const headerEnd = linkType === LinkType.LINUX_SLL2 ? 20 : typeAt + 2;
      if (n < headerEnd) return done(Verdict.MALFORMED);
      let type = be16(typeAt);
      let at = headerEnd;
      while (type === 0x8100 || type === 0x88a8 || type === 0x9100) {
        if (n < at + 4) return done(Verdict.MALFORMED);
        type = be16(at + 2);
        at += 4;
      }
      return byType(type, at);
    }
    case LinkType.NULL:
    case LinkType.LOOP: {
      if (n < 4) return done(Verdict.MALFORMED);
      const afs = [
        f[0] + f[1] * 2 ** 8 + f[2] * 2 ** 16 + f[3] * 2 ** 24,
        be16(0) * 2 ** 16 + be16(2),
      ];
      if (afs.includes(2)) return ipv4(4);
      if (afs.some((af) => [24, 28, 30].includes(af))) return ipv6(4);
      return done(Verdict.OTHER);
    }
    case LinkType.RAW:
      if (n < 1) return done(Verdict.MALFORMED);
      return f[0] >> 4 === 4 ? ipv4(0) : f[0] >> 4 === 6 ? ipv6(0) : done(Verdict.OTHER);
    case LinkType.IPV4:
      return ipv4(0);
    case LinkType.IPV6:
      return ipv6(0);
    default:
      return done(Verdict.OTHER);
  }
}

function synWithoutAck(flags: number): boolean {
  return (flags & 0x02) !== 0 && (flags & 0x10) === 0;
}

// ---------------------------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------------------------

interface Seed {
  linkType: number;
  frame: Uint8Array;
  origin: string;
}

function* captureFiles(dir: URL): Generator<URL> {
  for (const entry of [...Deno.readDirSync(dir)].sort((a, b) => a.name < b.name ? -1 : 1)) {
    if (entry.isDirectory) yield* captureFiles(new URL(`${entry.name}/`, dir));
    else if (/\.(pcap|pcapng|cap)$/.test(entry.name)) yield new URL(entry.name, dir);
  }
}

function corpusSeeds(): { seeds: Seed[]; files: number; damaged: number } {
  const seeds: Seed[] = [];
  let files = 0, damaged = 0;
  for (const url of captureFiles(CORPUS)) {
    const path = decodeURIComponent(url.pathname);
    let pcap: Pcap;
    try {
      pcap = Pcap.openOffline(path);
    } catch (e) {
      if (!(e instanceof PcapError)) throw e;
      damaged++;
      continue;
    }
    try {
      const linkType = pcap.linkType;
      if (!isSupportedLinkType(linkType)) continue;
      files++;
      const name = path.slice(path.lastIndexOf("/") + 1);
      try {
        while (pcap.next() === NextResult.PACKET) {
          seeds.push({ linkType, frame: pcap.frame.slice(), origin: name });
        }
      } catch (e) {
        if (!(e instanceof PcapError)) throw e;
        damaged++;
      }
    } finally {
      pcap.close();
    }
  }
  return { seeds, files, damaged };
}

// Builders for synthetic seeds and for the truncation property.

function tcpHeader(r: Random, dport: number, flags: number, optionWords: number): Uint8Array {
  const h = new Uint8Array(20 + 4 * optionWords);
  for (let i = 0; i < h.length; i++) h[i] = r.below(256);
  h.set(u16(dport), 2);
  h[12] = (5 + optionWords) << 4;
  h[13] = flags;
  return h;
}

/** A random IPv6 extension header chain ending in TCP: [bytes, first next-header value]. */
function extChain(r: Random, count: number): [Uint8Array, number] {
  const types = [EXT_HOP, EXT_ROUTING, EXT_DST, EXT_FRAGMENT, EXT_AH];
  const chosen = Array.from({ length: count }, () => r.pick(types));
  const parts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const next = i + 1 < count ? chosen[i + 1] : 6;
    let h: Uint8Array;
    if (chosen[i] === EXT_FRAGMENT) {
      h = new Uint8Array(8);
      h[3] = r.below(2); // offset 0, M flag random
    } else if (chosen[i] === EXT_AH) {
      const len = r.between(1, 6);
      h = new Uint8Array(4 * (len + 2));
      h[1] = len;
    } else {
      const len = r.between(0, 4);
      h = new Uint8Array(8 * (len + 1));
      h[1] = len;
    }
    h[0] = next;
    parts.push(h);
  }
  return [cat(...parts), count === 0 ? 6 : chosen[0]];
}

/** `count` IPv4 authentication headers ending in TCP, of random lengths. */
function authChain(r: Random, count: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const len = r.between(0, 6);
    const h = new Uint8Array(4 * (len + 2)).map(() => r.below(256));
    h[0] = i + 1 < count ? EXT_AH : 6;
    h[1] = len;
    parts.push(h);
  }
  return cat(...parts);
}

interface Built {
  linkType: number;
  frame: Uint8Array;
  /** Offset of the TCP header, known by construction. */
  tcp: number;
  family: 4 | 6;
  source: Uint8Array;
  port: number;
}

/** A valid SYN in a random encapsulation, with the TCP offset known by construction. */
function buildSyn(r: Random): Built {
  const v6 = r.chance(0.5);
  const source = new Uint8Array(v6 ? 16 : 4).map(() => r.below(256));
  const port = r.below(65536);
  const flags = 0x02 | (r.below(256) & ~0x12);
  const tcp = tcpHeader(r, port, flags, r.chance(0.3) ? r.between(1, 10) : 0);
  const payload = r.chance(0.3) ? new Uint8Array(r.between(1, 40)) : new Uint8Array(0);
  let ip: Uint8Array, tcpInIp: number;
  if (v6) {
    const [chain, first] = extChain(r, r.chance(0.5) ? r.between(1, 4) : 0);
    const rest = cat(chain, tcp, payload);
    ip = cat(
      [0x60, 0, 0, 0],
      u16(r.chance(0.1) ? 0 : rest.length),
      [first, 64],
      source,
      new Uint8Array(16),
      rest,
    );
    tcpInIp = 40 + chain.length;
  } else {
    const optionWords = r.chance(0.4) ? r.between(1, 10) : 0;
    const options = new Uint8Array(4 * optionWords).fill(1);
    const chain = authChain(r, r.chance(0.25) ? r.between(1, 3) : 0);
    const total = 20 + options.length + chain.length + tcp.length + payload.length;
    const fragment = r.pick([0, 0x2000, 0x4000, 0x8000]);
    ip = cat(
      [0x45 + optionWords, 0],
      u16(total),
      [0, 1],
      u16(fragment),
      [64, chain.length > 0 ? EXT_AH : 6, 0, 0],
      source,
      [10, 0, 0, 1],
      options,
      chain,
      tcp,
      payload,
    );
    tcpInIp = 20 + options.length + chain.length;
  }
  const type = v6 ? 0x86dd : 0x0800;
  const choice = r.below(8);
  let linkType: number, header: Uint8Array;
  switch (choice) {
    case 0:
    case 1: {
      const tags = r.below(4);
      const tagBytes = Array.from({ length: tags }, (_, i) => [
        ...u16(i === 0 && tags > 1 ? 0x88a8 : r.pick([0x8100, 0x9100])),
        ...u16(r.below(4096)),
      ]).flat();
      linkType = LinkType.EN10MB;
      header = cat(new Uint8Array(12).fill(0x02), tagBytes, u16(type));
      break;
    }
    case 2: {
      const tagged = r.chance(0.3);
      linkType = LinkType.LINUX_SLL;
      header = cat(new Uint8Array(14), tagged ? [0x81, 0, 0, 7] : [], u16(type));
      break;
    }
    case 3:
      linkType = LinkType.LINUX_SLL2;
      header = cat(u16(type), new Uint8Array(18));
      break;
    case 4: {
      const af = v6 ? r.pick([24, 28, 30]) : 2;
      linkType = r.pick([LinkType.NULL, LinkType.LOOP]);
      header = new Uint8Array(linkType === LinkType.NULL ? [af, 0, 0, 0] : [0, 0, 0, af]);
      break;
    }
    case 5:
      linkType = v6 ? LinkType.IPV6 : LinkType.IPV4;
      header = new Uint8Array(0);
      break;
    default:
      linkType = LinkType.RAW;
      header = new Uint8Array(0);
  }
  return {
    linkType,
    frame: cat(header, ip),
    tcp: header.length + tcpInIp,
    family: v6 ? 6 : 4,
    source,
    port,
  };
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

function hex(frame: Uint8Array, length: number): string {
  return [...frame.subarray(0, Math.min(frame.length, 256))].map((b) =>
    b.toString(16).padStart(2, "0")
  ).join("") + (frame.length > 256 ? "…" : "") + ` (array ${frame.length}, length ${length})`;
}

function safeDecode(linkType: number, frame: Uint8Array, length: number, out: Decoded): Verdict {
  try {
    return decodeFrame(linkType, frame, length, out);
  } catch (e) {
    throw new Error(
      `decodeFrame threw on link type ${linkType}, frame ${
        hex(frame, length)
      } (seed ${SEED}): ${e}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

Deno.test("fuzz: a frame whose TCP header is cut short is never counted", () => {
  const r = new Random(SEED ^ 0xa5a5_a5a5);
  const out = new Decoded();
  let checked = 0;
  for (let i = 0; i < 3000; i++) {
    const b = buildSyn(r);
    const context = () => `link type ${b.linkType}, frame ${hex(b.frame, b.frame.length)}`;
    // Whole: an event with the right key.
    assert.equal(safeDecode(b.linkType, b.frame, b.frame.length, out), Verdict.EVENT, context());
    assert.equal(out.family, b.family, context());
    assert.deepEqual(out.address.subarray(0, b.source.length), b.source, context());
    assert.ok(out.address.subarray(b.source.length).every((x) => x === 0), context());
    assert.equal(out.port, b.port, context());
    // Cut anywhere before the end of the 20-byte TCP header: malformed, never an event.
    for (let length = 0; length < b.tcp + 20; length++) {
      const verdict = safeDecode(b.linkType, b.frame, length, out);
      if (verdict !== Verdict.MALFORMED) assert.fail(`cut to ${length}: ${verdict}, ${context()}`);
      checked++;
    }
    // Cut anywhere after it (TCP options, payload): still the event.
    for (let length = b.tcp + 20; length <= b.frame.length; length++) {
      const verdict = safeDecode(b.linkType, b.frame, length, out);
      if (verdict !== Verdict.EVENT) assert.fail(`cut to ${length}: ${verdict}, ${context()}`);
      checked++;
    }
    // The reference walker finds the TCP header where it was put.
    assert.equal(walk(b.linkType, b.frame, b.frame.length).tcp, b.tcp, context());
  }
  assert.ok(checked > 100_000, `${checked}`);
});

const INTERESTING = [
  0x00,
  0x01,
  0x02,
  0x04,
  0x05,
  0x06,
  0x08,
  0x0a,
  0x10,
  0x11,
  0x12,
  0x14,
  0x18,
  0x1c,
  0x1e,
  0x20,
  0x2b,
  0x2c,
  0x33,
  0x3a,
  0x3b,
  0x3c,
  0x40,
  0x45,
  0x4f,
  0x60,
  0x7f,
  0x80,
  0x81,
  0x86,
  0x88,
  0x91,
  0xa8,
  0xdd,
  0xfe,
  0xff,
];

/**
 * Mutates `buf[0, length)` in place, 1 to 4 rounds, each aimed with the reference walker at
 * the layers as they are then; returns the new length (at most buf.length).
 */
function mutate(r: Random, buf: Uint8Array, length: number, linkType: number): number {
  const rounds = r.between(1, 4);
  for (let round = 0; round < rounds; round++) {
    const w = walk(linkType, buf, length);
    const op = r.below(16);
    const at = r.below(Math.max(length, 1));
    switch (op) {
      case 0: // truncation anywhere
        length = r.below(length + 1);
        break;
      case 1: // truncation around the end of the TCP header
        if (w.tcp >= 0) length = Math.max(0, Math.min(length, w.tcp + 20 + r.between(-6, 2)));
        else length = r.below(length + 1);
        break;
      case 2: // flipped bits
        for (let k = r.between(1, 8); k > 0 && length > 0; k--) {
          buf[r.below(length)] ^= 1 << r.below(8);
        }
        break;
      case 3: // flipped bytes
        for (let k = r.between(1, 4); k > 0 && length > 0; k--) buf[r.below(length)] ^= 0xff;
        break;
      case 4: // random byte values, interesting or not
        for (let k = r.between(1, 4); k > 0 && length > 0; k--) {
          buf[r.below(length)] = r.chance(0.5) ? r.pick(INTERESTING) : r.below(256);
        }
        break;
      case 5: // IPv4 total length / IHL, IPv6 payload length
        if (w.ip >= 0 && w.ip + 6 <= length) {
          if (w.family === 4) {
            if (r.chance(0.5)) {
              const hl = (buf[w.ip] & 0x0f) * 4;
              const tcpAt = w.tcp >= 0 ? w.tcp - w.ip : hl;
              const total = r.pick([0, hl - 1, hl, tcpAt + 19, tcpAt + 20, length - w.ip, 0xffff]);
              buf.set(u16(r.chance(0.2) ? r.below(65536) : Math.max(0, total)), w.ip + 2);
            } else {
              buf[w.ip] = 0x40 | r.below(16);
            }
          } else {
            const chain = w.tcp >= 0 ? w.tcp - w.ip - 40 : 0;
            const pl = r.pick([0, 1, 7, 8, chain + 19, chain + 20, length - w.ip - 40, 0xffff]);
            buf.set(u16(r.chance(0.2) ? r.below(65536) : Math.max(0, pl)), w.ip + 4);
          }
        }
        break;
      case 6: // extension header lengths, possibly pointing past the end
        if (w.ext.length > 0) {
          const e = r.pick(w.ext);
          if (e + 1 < length) buf[e + 1] = r.chance(0.5) ? r.below(256) : r.pick([0, 1, 0xff]);
        }
        break;
      case 7: // next-header / protocol rewritten to chain extension headers onto whatever follows
        if (w.family === 6 && w.ip >= 0 && w.ip + 6 < length) {
          const where = w.ext.length > 0 && r.chance(0.6) ? r.pick(w.ext) : w.ip + 6;
          if (where < length) buf[where] = r.pick([0, 6, 6, 17, 43, 44, 51, 59, 60]);
        } else if (w.ext.length > 0 && r.chance(0.6)) {
          const where = r.pick(w.ext);
          if (where < length) buf[where] = r.pick([6, 6, 17, 50, 51, 0]);
        } else if (w.ip >= 0 && w.ip + 9 < length) {
          buf[w.ip + 9] = r.pick([6, 6, 17, 1, 4, 41, 51]);
        }
        break;
      case 8: // make it a SYN, so that the event path is well exercised; or set the data offset
        if (w.tcp >= 0 && w.tcp + 13 < length) {
          if (r.chance(0.2)) buf[w.tcp + 12] = (r.below(16) << 4) | (buf[w.tcp + 12] & 0x0f);
          else buf[w.tcp + 13] = r.chance(0.7) ? 0x02 | (r.below(256) & ~0x10) : r.below(256);
        }
        break;
      case 9: // fragment fields
        if (w.family === 4 && w.ip >= 0 && w.ip + 8 <= length) {
          buf.set(u16(r.pick([0, 0x2000, 0x4000, 1, 0x2001, 0x1fff, r.below(65536)])), w.ip + 6);
        } else if (w.ext.length > 0) {
          const e = r.pick(w.ext);
          if (e + 4 <= length) buf.set(u16(r.pick([0, 1, 8, 9, r.below(65536)])), e + 2);
        }
        break;
      case 10: { // insert bytes (a VLAN tag, an extension header, garbage)
        const size = r.pick([1, 2, 4, 8, 16]);
        const where = r.below(length + 1);
        const grow = Math.min(size, buf.length - length);
        buf.copyWithin(where + grow, where, length);
        for (let i = 0; i < grow; i++) buf[where + i] = r.below(256);
        if (grow === 4 && r.chance(0.5) && where + 1 < buf.length) {
          buf.set(u16(r.pick([0x8100, 0x88a8, 0x9100])), where);
        }
        length += grow;
        break;
      }
      case 11: { // delete bytes
        const size = Math.min(r.pick([1, 2, 4, 8]), length - at);
        buf.copyWithin(at, at + size, length);
        length -= size;
        break;
      }
      case 12: // the link header's type field
        if (linkType === LinkType.EN10MB && length >= 14) {
          buf.set(u16(r.pick([0x0800, 0x86dd, 0x8100, 0x88a8, 0x9100, 0x0806])), 12);
        } else if (linkType === LinkType.LINUX_SLL && length >= 16) {
          buf.set(u16(r.pick([0x0800, 0x86dd, 0x8100, 0x0806])), 14);
        } else if (linkType === LinkType.LINUX_SLL2 && length >= 2) {
          buf.set(u16(r.pick([0x0800, 0x86dd, 0x8100])), 0);
        } else if ((linkType === LinkType.NULL || linkType === LinkType.LOOP) && length >= 4) {
          const af = r.pick([2, 10, 23, 24, 28, 30, 7]);
          buf.set(r.chance(0.5) ? [af, 0, 0, 0] : [0, 0, 0, af], 0);
        }
        break;
      case 13: // random bytes over a stretch
        for (let i = at, end = Math.min(length, at + r.between(1, 64)); i < end; i++) {
          buf[i] = r.below(256);
        }
        break;
      case 14: // extend with random bytes
        for (let k = r.between(1, 64); k > 0 && length < buf.length; k--) {
          buf[length++] = r.below(256);
        }
        break;
      default: // header length fields at random offsets within the IP header
        if (w.ip >= 0 && w.ip < length) buf[w.ip] = (buf[w.ip] & 0xf0) | r.below(16);
    }
  }
  return length;
}

Deno.test("fuzz: the decoder takes a million random and mutated frames without throwing", () => {
  console.log(`fuzz seed ${SEED} (PULSO_FUZZ_SEED), ${ITERATIONS} iterations`);
  const started = performance.now();
  try {
    Deno.statSync(CORPUS);
  } catch (e) {
    assert.fail(
      `the capture corpus is missing at ${CORPUS.pathname} (shared/ beside the checkout): ${e}`,
    );
  }
  const { seeds, files, damaged } = corpusSeeds();
  // The corpus has hundreds of capture files in link types pulso decodes.
  assert.ok(files >= 100, `only ${files} capture files under ${CORPUS.pathname}`);
  assert.ok(seeds.length >= 1000, `only ${seeds.length} frames`);
  const seedLinkTypes = new Set(seeds.map((s) => s.linkType));
  for (const lt of [LinkType.EN10MB, LinkType.LINUX_SLL, LinkType.NULL, LinkType.RAW]) {
    assert.ok(seedLinkTypes.has(lt), `no seed of link type ${lt}`);
  }
  const r = new Random(SEED);
  for (let i = 0; i < 2000; i++) {
    const b = buildSyn(r);
    seeds.push({ linkType: b.linkType, frame: b.frame, origin: "synthetic" });
  }
  console.log(
    `${seeds.length} seeds from ${files} capture files (${damaged} damaged), ` +
      `link types ${[...seedLinkTypes].sort((a, b) => a - b).join(", ")}`,
  );

  const out = new Decoded();
  const verdicts = [0, 0, 0];
  const work = new Uint8Array(65536 + 1024);
  const shadow = new Uint8Array(work.length);
  let decodes = 0, mutatedEvents = 0;

  const check = (
    linkType: number,
    frame: Uint8Array,
    length: number,
    origin: string,
  ): Verdict => {
    const verdict = safeDecode(linkType, frame, length, out);
    decodes++;
    verdicts[verdict]++;
    const ref = walk(linkType, frame, length);
    const context = () =>
      `link type ${linkType}, ${origin}, frame ${hex(frame, length)}, seed ${SEED}`;
    if (verdict !== ref.verdict && !(ref.lenient && verdict === Verdict.OTHER)) {
      assert.fail(`verdict ${verdict}, reference ${ref.verdict}: ${context()}`);
    }
    if (verdict !== Verdict.EVENT) return verdict;
    // An event: its 20-byte TCP header lies whole inside the frame and inside the IP packet.
    const n = Math.min(length, frame.length);
    if (!(ref.tcp >= 0 && ref.tcp + 20 <= ref.end && ref.end <= n)) {
      assert.fail(
        `event without a whole TCP header (tcp ${ref.tcp}, end ${ref.end}): ${context()}`,
      );
    }
    const flags = frame[ref.tcp + 13];
    const port = frame[ref.tcp + 2] * 256 + frame[ref.tcp + 3];
    const width = ref.family === 4 ? 4 : 16;
    const srcAt = ref.ip + (ref.family === 4 ? 12 : 8);
    let keyOk = out.family === ref.family && out.port === port && synWithoutAck(flags);
    for (let k = 0; k < 16 && keyOk; k++) {
      keyOk = out.address[k] === (k < width ? frame[srcAt + k] : 0);
    }
    if (!keyOk) {
      assert.fail(
        `wrong key: family ${out.family} port ${out.port} address ${out.address}: ${context()}`,
      );
    }
    return verdict;
  };

  // Random bytes, random link types (supported or not), random lengths.
  for (let i = 0; i < ITERATIONS / 10; i++) {
    const length = r.chance(0.5) ? r.below(80) : r.below(1600);
    for (let k = 0; k < length; k++) work[k] = r.below(256);
    if (r.chance(0.5)) work[0] = r.pick([0x45, 0x46, 0x4f, 0x60, 0x6f]);
    const linkType = r.chance(0.9) ? r.pick(SUPPORTED) : r.below(300);
    const arg = r.chance(0.8) ? length : r.between(-4, length + 8);
    check(linkType, work.subarray(0, length), arg, "random bytes");
  }

  // Mutated corpus frames.
  for (let i = decodes; i < ITERATIONS; i++) {
    const seed = seeds[r.below(seeds.length)];
    let length = Math.min(seed.frame.length, work.length - 64);
    work.set(seed.frame.subarray(0, length));
    const linkType = r.chance(0.05) ? r.pick(SUPPORTED) : seed.linkType;
    length = mutate(r, work, length, linkType);
    const before = verdicts[Verdict.EVENT];
    if (r.chance(0.15)) {
      // A length argument below the array's: the bytes after it must not matter.
      const arg = r.below(length + 1);
      const a = check(linkType, work.subarray(0, length), arg, seed.origin);
      shadow.set(work.subarray(0, arg));
      for (let k = arg; k < length; k++) shadow[k] = work[k] ^ 0x5a;
      const b = safeDecode(linkType, shadow.subarray(0, length), arg, out);
      decodes++;
      if (a !== b) {
        assert.fail(
          `bytes past the length argument changed the verdict ${a} -> ${b}: ` +
            `link type ${linkType}, ${hex(work, arg)}`,
        );
      }
    } else {
      check(linkType, work.subarray(0, length), length, seed.origin);
    }
    if (verdicts[Verdict.EVENT] > before) mutatedEvents++;
  }

  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${decodes} decodes in ${seconds.toFixed(1)} s: ${verdicts[Verdict.OTHER]} other, ` +
      `${verdicts[Verdict.EVENT]} events, ${verdicts[Verdict.MALFORMED]} malformed`,
  );
  assert.ok(decodes >= ITERATIONS, `${decodes}`);
  // Every kind of verdict was reached often, so that the checks above did check something.
  for (const v of [Verdict.OTHER, Verdict.EVENT, Verdict.MALFORMED]) {
    assert.ok(verdicts[v] >= ITERATIONS / 100, `verdict ${v}: ${verdicts[v]}`);
  }
  assert.ok(mutatedEvents >= ITERATIONS / 100, `${mutatedEvents} events from mutated frames`);
});
