/**
 * RecordFraming on crafted pcap and pcapng streams: after every byte, whatever the chunking,
 * `opened` and `ready` are exactly what libpcap 1.10's reader needs (sf-pcap.c, sf-pcapng.c).
 * Each case states its expectations by hand where it is built: where libpcap's open completes,
 * and where each read completes (a record whose header libpcap refuses completes with its
 * header). tests/stream_test.ts runs the same cases through libpcap itself.
 */
import assert from "node:assert/strict";
import { RecordFraming } from "./record_framing.ts";

/** A crafted stream and what the framing must say of each of its prefixes. */
export interface Case {
  name: string;
  bytes: Uint8Array;
  /** The prefix length from which libpcap can open the stream (Infinity: only at the end). */
  openAt: number;
  /** The prefix lengths at which each read can complete, ascending. */
  readyAt: number[];
  /** The format the framing reports once it has the first four bytes. */
  format: "pcap" | "pcapng" | "unknown";
}

/** Bytes of a capture in one byte order, with the expectations marked as it is written. */
export class Capture {
  #bytes = new Uint8Array(256);
  #length = 0;
  #openAt = Infinity;
  readonly #readyAt: number[] = [];

  constructor(
    readonly name: string,
    readonly littleEndian: boolean,
    readonly format: Case["format"],
  ) {}

  get length(): number {
    return this.#length;
  }

  /** libpcap's open can complete with what was written so far. */
  opened(): this {
    assert.equal(this.#openAt, Infinity, `${this.name}: opened twice`);
    this.#openAt = this.length;
    return this;
  }

  /** One more read can complete with what was written so far. */
  ready(): this {
    this.#readyAt.push(this.length);
    return this;
  }

  #room(n: number): void {
    if (this.#length + n <= this.#bytes.length) return;
    const bigger = new Uint8Array(Math.max(2 * this.#bytes.length, this.#length + n));
    bigger.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = bigger;
  }

  raw(bytes: ArrayLike<number>): this {
    this.#room(bytes.length);
    for (let i = 0; i < bytes.length; i++) this.#bytes[this.#length++] = bytes[i];
    return this;
  }

  /** `n` bytes counting up from `value`. */
  fill(n: number, value = 0xa5): this {
    this.#room(n);
    for (let i = 0; i < n; i++) this.#bytes[this.#length++] = value + i;
    return this;
  }

  u16(n: number): this {
    const b = [n & 0xff, (n >>> 8) & 0xff];
    return this.raw(this.littleEndian ? b : b.reverse());
  }

  u32(n: number): this {
    const b = [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
    return this.raw(this.littleEndian ? b : b.reverse());
  }

  // pcap

  /** A pcap file header (24 bytes). */
  pcapHeader(
    options: {
      magic?: number;
      major?: number;
      minor?: number;
      snaplen?: number;
      linkType?: number;
    } = {},
  ): this {
    return this.u32(options.magic ?? 0xa1b2c3d4)
      .u16(options.major ?? 2)
      .u16(options.minor ?? 4)
      .u32(0) // thiszone
      .u32(0) // sigfigs
      .u32(options.snaplen ?? 65535)
      .u32(options.linkType ?? 1);
  }

  /** A pcap record header: 16 bytes, or 24 with Kuznetzov's magic (`patched`). */
  pcapRecordHeader(caplen: number, len = caplen, patched = false): this {
    this.u32(1_700_000_000).u32(123_456).u32(caplen).u32(len);
    if (patched) this.u32(7).u16(0x0800).raw([0, 0]); // ifindex, protocol, pkt_type, pad
    return this;
  }

  /** A whole pcap record of `body` bytes (the caplen field says `caplen`, `len` the other). */
  pcapRecord(body: number, fields?: { caplen: number; len: number }, patched = false): this {
    return this.pcapRecordHeader(fields?.caplen ?? body, fields?.len ?? body, patched).fill(body);
  }

  // pcapng

  /** A block: type, length, body (padded to 4), trailer; `length` overrides both lengths. */
  block(type: number, body: ArrayLike<number>, length?: number): this {
    const padded = (body.length + 3) & ~3;
    const total = length ?? 12 + padded;
    this.u32(type).u32(total).raw(body).fill(padded - body.length, 0);
    return this.u32(total);
  }

  /** Body bytes in this capture's byte order. */
  body(build: (c: Capture) => void): Uint8Array {
    const c = new Capture("", this.littleEndian, this.format);
    build(c);
    return c.bytes();
  }

  /** A Section Header Block, version 1.0 by default, with an optional comment option. */
  shb(options: { major?: number; minor?: number; comment?: string } = {}): this {
    return this.block(
      0x0a0d0d0a,
      this.body((c) => {
        c.u32(0x1a2b3c4d).u16(options.major ?? 1).u16(options.minor ?? 0).u32(0xffffffff)
          .u32(0xffffffff);
        if (options.comment !== undefined) {
          c.option(1, new TextEncoder().encode(options.comment)).u32(0); // opt_endofopt
        }
      }),
    );
  }

  /** An option: code, length, value padded to 4. */
  option(code: number, value: ArrayLike<number>): this {
    this.u16(code).u16(value.length).raw(value);
    return this.fill(((value.length + 3) & ~3) - value.length, 0);
  }

  /** An Interface Description Block, with an if_tsresol option when `tsresol` is given. */
  idb(linkType = 1, snaplen = 65535, tsresol?: number): this {
    return this.block(
      1,
      this.body((c) => {
        c.u16(linkType).u16(0).u32(snaplen);
        if (tsresol !== undefined) c.option(9, [tsresol]).u32(0);
      }),
    );
  }

  /** An Enhanced Packet Block on interface 0 with `caplen` bytes of data. */
  epb(caplen: number, len = caplen): this {
    return this.block(
      6,
      this.body((c) =>
        c.u32(0).u32(0x0005_e000).u32(0x1234_5678).u32(caplen).u32(len).fill(caplen)
      ),
    );
  }

  /** A Simple Packet Block of `len` bytes. */
  spb(len: number): this {
    return this.block(3, this.body((c) => c.u32(len).fill(len)));
  }

  /** An (obsolete) Packet Block on interface 0. */
  pb(caplen: number): this {
    return this.block(
      2,
      this.body((c) =>
        c.u16(0).u16(0).u32(0x0005_e000).u32(0x1234_5678).u32(caplen).u32(caplen).fill(caplen)
      ),
    );
  }

  /** A Name Resolution Block with one IPv4 record (laid out as an option is). */
  nrb(): this {
    return this.block(
      4,
      this.body((c) =>
        c.option(1, [10, 0, 0, 1, ...new TextEncoder().encode("host\0")]).u16(0).u16(0)
      ),
    );
  }

  /** An Interface Statistics Block for interface 0. */
  isb(): this {
    return this.block(5, this.body((c) => c.u32(0).u32(0x0005_e000).u32(0x1234_5678)));
  }

  /** A custom block (copiable), or any block libpcap passes over. */
  custom(type = 0x00000bad, bytes = 9): this {
    return this.block(type, this.body((c) => c.u32(32473).fill(bytes)));
  }

  /** Just a block header: type and a length, nothing after it yet. */
  blockHeader(type: number, length: number): this {
    return this.u32(type).u32(length);
  }

  bytes(): Uint8Array {
    return this.#bytes.slice(0, this.#length);
  }

  done(): Case {
    return {
      name: this.name,
      bytes: this.bytes(),
      openAt: this.#openAt,
      readyAt: [...this.#readyAt],
      format: this.format,
    };
  }
}

// Block types.
const SHB = 0x0a0d0d0a;
const IDB = 1;
const EPB = 6;
const NRB = 4;

const MiB = 1024 * 1024;
/** libpcap's bound on a pcapng block after an IDB of DBUS: an EPB of 128 MiB, 128 KiB of options. */
const DBUS_MAX_BLOCK = 8 + 20 + 128 * MiB + 131072 + 4;

function pcap(name: string, le: boolean): Capture {
  return new Capture(name, le, "pcap");
}

function pcapng(name: string, le: boolean): Capture {
  return new Capture(name, le, "pcapng");
}

/** Cases small enough to check at every split, in both byte orders. */
function smallCases(le: boolean): Case[] {
  const e = le ? "LE" : "BE";
  const cases: Case[] = [];

  cases.push(
    pcap(`pcap ${e}: microseconds, records of 60, 0, 1 and 1514 bytes`, le)
      .pcapHeader().opened()
      .pcapRecord(60).ready().pcapRecord(0).ready().pcapRecord(1).ready()
      .pcapRecord(1514).ready().done(),
  );
  cases.push(
    pcap(`pcap ${e}: nanoseconds`, le)
      .pcapHeader({ magic: 0xa1b23c4d }).opened()
      .pcapRecord(42).ready().pcapRecord(54).ready().done(),
  );
  cases.push(
    pcap(`pcap ${e}: Kuznetzov's magic, 24-byte record headers`, le)
      .pcapHeader({ magic: 0xa1b2cd34 }).opened()
      .pcapRecord(60, undefined, true).ready().pcapRecord(0, undefined, true).ready()
      .pcapRecord(100, undefined, true).ready().done(),
  );
  cases.push(
    pcap(`pcap ${e}: header only`, le).pcapHeader().opened().done(),
  );
  cases.push(
    pcap(`pcap ${e}: version 2.3, lengths swapped only where caplen > len`, le)
      .pcapHeader({ minor: 3 }).opened()
      .pcapRecord(60, { caplen: 60, len: 1500 }).ready() // caplen <= len: as is
      .pcapRecord(40, { caplen: 0xffff_ffff, len: 40 }).ready() // swapped: caplen 40
      .pcapRecord(64, { caplen: 1000, len: 64 }).ready() // swapped: caplen 64
      .pcapRecord(7, { caplen: 7, len: 7 }).ready().done(),
  );
  cases.push(
    pcap(`pcap ${e}: version 2.2, lengths always swapped`, le)
      .pcapHeader({ minor: 2 }).opened()
      .pcapRecord(80, { caplen: 20, len: 80 }).ready() // reads len bytes
      .pcapRecord(10, { caplen: 9999, len: 10 }).ready().done(),
  );
  cases.push(
    pcap(`pcap ${e}: version 543.0, lengths always swapped`, le)
      .pcapHeader({ major: 543, minor: 0 }).opened()
      .pcapRecord(30, { caplen: 10, len: 30 }).ready().done(),
  );
  cases.push(
    pcap(`pcap ${e}: version 2.4 never swaps, whatever the lengths`, le)
      .pcapHeader({ minor: 4 }).opened()
      .pcapRecord(100, { caplen: 100, len: 20 }).ready().done(),
  );
  cases.push(
    pcap(`pcap ${e}: a record longer than the snaplen (read, then the rest discarded)`, le)
      .pcapHeader({ snaplen: 64 }).opened()
      .pcapRecord(200).ready().pcapRecord(10).ready().done(),
  );
  cases.push(
    pcap(`pcap ${e}: the file header cut short is never opened before the end`, le)
      .u32(0xa1b2c3d4).u16(2).u16(4).fill(10).done(),
  );
  // The open fails after the header: no read is ever made, so what follows is moot. The
  // framing does not look at versions, and counts the records.
  cases.push(
    pcap(`pcap ${e}: archaic version 1.0 opens (and fails) after the header`, le)
      .pcapHeader({ major: 1, minor: 0 }).opened().pcapRecord(10).ready().done(),
  );
  cases.push(
    pcap(`pcap ${e}: unsupported version 2.5 opens (and fails) after the header`, le)
      .pcapHeader({ minor: 5 }).opened().pcapRecord(10).ready().done(),
  );

  // Refused pcap record headers: ready with the header, nothing after it counts.
  cases.push(
    pcap(`pcap ${e}: caplen 4 GiB - 1 is refused after its header`, le)
      .pcapHeader().opened().pcapRecord(20).ready()
      .pcapRecordHeader(0xffff_ffff).ready().fill(100).pcapRecord(4).done(),
  );
  cases.push(
    pcap(`pcap ${e}: caplen 262145 is refused (Ethernet)`, le)
      .pcapHeader({ snaplen: 0 }).opened().pcapRecordHeader(262145, 60).ready().fill(40).done(),
  );
  cases.push(
    pcap(`pcap ${e}: the first record refused, with 24-byte headers`, le)
      .pcapHeader({ magic: 0xa1b2cd34 }).opened()
      .pcapRecordHeader(0x8000_0000, 60, true).ready().fill(30).done(),
  );
  cases.push(
    pcap(`pcap ${e}: version 2.2, a huge len is the caplen: refused`, le)
      .pcapHeader({ minor: 2 }).opened()
      .pcapRecord(20, { caplen: 20, len: 20 }).ready()
      .pcapRecordHeader(60, 0x1000_0000).ready().fill(60).done(),
  );
  cases.push(
    pcap(`pcap ${e}: link type bits above the low 26 are not the link type`, le)
      .pcapHeader({ linkType: 0x0400_0000 | 1 }).opened()
      .pcapRecordHeader(262145).ready().done(),
  );

  // pcapng.
  cases.push(
    pcapng(`pcapng ${e}: blocks before and after the IDB, EPB SPB PB, a second section`, le)
      .shb({ comment: "crafted" }).nrb().custom().isb().custom(0x40000bad, 1)
      .idb(1, 65535, 6).opened()
      .epb(60).ready().nrb().spb(42).ready().isb().pb(54).ready().custom()
      .epb(0).ready().epb(61, 1500).ready()
      .shb({ minor: 2 }).custom().idb(1, 65535).epb(33).ready().spb(3).ready().done(),
  );
  cases.push(
    pcapng(`pcapng ${e}: SHB and IDB only`, le).shb().idb().opened().done(),
  );
  cases.push(
    pcapng(`pcapng ${e}: two IDBs, packets after each`, le)
      .shb().idb(1, 262144).opened().epb(10).ready().idb(1, 262144).epb(11).ready().done(),
  );
  cases.push(
    pcapng(`pcapng ${e}: a packet block before any IDB fails the open`, le)
      .shb().nrb().epb(10).opened().idb().epb(10).ready().done(), // (moot: no handle)
  );
  cases.push(
    pcapng(`pcapng ${e}: an SHB whose length is no multiple of 4 is read as it says`, le)
      .u32(SHB).u32(30).u32(0x1a2b3c4d).u16(1).u16(0).u32(0xffffffff).u32(0xffffffff)
      .fill(2, 0).u32(30).idb().opened().epb(20).ready().done(),
  );
  cases.push(
    pcapng(`pcapng ${e}: a later SHB longer than 1 MiB is only an ordinary block`, le)
      .shb().idb().opened().epb(4).ready()
      .block(SHB, pcapng("", le).u32(0x1a2b3c4d).u16(1).u16(0).u32(0).u32(0).fill(MiB).bytes())
      .idb().epb(5).ready().done(),
  );
  cases.push(
    pcapng(`pcapng ${e}: an IDB cut before its link type`, le)
      .shb().u32(IDB).u32(20).fill(1, 0).done(),
  );

  // Refused pcapng headers.
  cases.push(
    pcapng(`pcapng ${e}: an SHB of length 24 < 28 is refused`, le)
      .u32(SHB).u32(24).u32(0x1a2b3c4d).opened().fill(12).idb().done(),
  );
  cases.push(
    pcapng(`pcapng ${e}: an SHB longer than 1 MiB is refused`, le)
      .u32(SHB).u32(MiB + 4).u32(0x1a2b3c4d).opened().fill(64).done(),
  );
  cases.push(
    pcapng(`pcapng ${e}: an SHB of exactly 1 MiB is read`, le)
      .u32(SHB).u32(MiB).u32(0x1a2b3c4d).u16(1).u16(0).u32(0).u32(0).fill(MiB - 28).u32(MiB)
      .idb().opened().epb(1).ready().done(),
  );
  cases.push(
    pcapng(`pcapng ${e}: a bad byte-order magic is no pcapng file`, le)
      .u32(SHB).u32(28).u32(0x1a2b3c4e).opened().fill(16).done(),
  );
  for (const [what, length] of [["8 < 12", 8], ["0", 0], ["13, no multiple of 4", 13]] as const) {
    cases.push(
      pcapng(`pcapng ${e}: a block of length ${what} before the IDB fails the open`, le)
        .shb().nrb().blockHeader(NRB, length).opened().fill(20).done(),
    );
    cases.push(
      pcapng(`pcapng ${e}: a block of length ${what} after the IDB fails a read`, le)
        .shb().idb().opened().epb(10).ready().blockHeader(EPB, length).ready().fill(20).done(),
    );
  }
  cases.push(
    pcapng(`pcapng ${e}: an IDB of length 16 MiB + 4 is refused at once`, le)
      .shb().blockHeader(IDB, 16 * MiB + 4).opened().u16(1).fill(10).done(),
  );
  cases.push(
    pcapng(`pcapng ${e}: an EPB of 4 GiB - 4 is refused at once`, le)
      .shb().idb().opened().blockHeader(EPB, 0xffff_fffc).ready().fill(20).done(),
  );
  cases.push(
    pcapng(`pcapng ${e}: after an IDB of USBPCAP the bound stays 16 MiB`, le)
      .shb().idb(249).opened().blockHeader(EPB, 16 * MiB + 4).ready().done(),
  );
  cases.push(
    pcapng(`pcapng ${e}: a later SHB of 16 MiB + 4 is refused at once`, le)
      .shb().idb().opened().blockHeader(SHB, 16 * MiB + 4).ready().u32(0x1a2b3c4d).done(),
  );
  cases.push(
    pcapng(`pcapng ${e}: after an IDB of DBUS, a block just above its bound is refused`, le)
      .shb().idb(231).opened().epb(3).ready().blockHeader(EPB, DBUS_MAX_BLOCK + 4).ready()
      .done(),
  );

  // Lengths at the bounds are read, so the record is ready only once its bytes are there.
  cases.push(
    pcapng(`pcapng ${e}: after an IDB of DBUS, a block of exactly its bound is read`, le)
      .shb().idb(231).opened().blockHeader(EPB, DBUS_MAX_BLOCK).fill(20).done(),
  );
  cases.push(
    pcapng(`pcapng ${e}: a block of exactly 16 MiB is read, before the IDB`, le)
      .shb().blockHeader(NRB, 16 * MiB).fill(20).done(),
  );
  cases.push(
    pcapng(`pcapng ${e}: an EPB of exactly 16 MiB is read`, le)
      .shb().idb().opened().epb(5).ready().blockHeader(EPB, 16 * MiB).fill(20).done(),
  );
  cases.push(
    pcap(`pcap ${e}: a record of caplen 262144 is read`, le)
      .pcapHeader().opened().pcapRecordHeader(262144).fill(20).done(),
  );
  cases.push(
    new Capture(`unknown ${e}: four bytes and libpcap gives up`, le, "unknown")
      .u32(0xa1b2c3d5).opened().fill(40).done(),
  );
  return cases;
}

/** Cases with large records: checked at chosen splits and in random chunks. */
function largeCases(le: boolean): Case[] {
  const e = le ? "LE" : "BE";
  return [
    pcap(`pcap ${e}: caplen 262144 exactly is read (Ethernet)`, le)
      .pcapHeader({ snaplen: 0 }).opened().pcapRecord(262144).ready().pcapRecord(1).ready()
      .done(),
    pcap(`pcap ${e}: DBUS allows records above 256 KiB`, le)
      .pcapHeader({ linkType: 231, snaplen: 0 }).opened().pcapRecord(300_000).ready()
      .pcapRecordHeader(128 * MiB + 1).ready().done(),
    pcap(`pcap ${e}: DBUS with link-type extension bits`, le)
      .pcapHeader({ linkType: 0x1000_0000 | 231, snaplen: 0 }).opened()
      .pcapRecord(262145).ready().done(),
    pcap(`pcap ${e}: USBPCAP allows 1 MiB, refuses more`, le)
      .pcapHeader({ linkType: 249, snaplen: 0 }).opened().pcapRecord(MiB).ready()
      .pcapRecordHeader(MiB + 1).ready().done(),
    pcap(`pcap ${e}: EBHSCR allows 8 MiB, refuses more`, le)
      .pcapHeader({ linkType: 279, snaplen: 0 }).opened().pcapRecord(400_000).ready()
      .pcapRecordHeader(8 * MiB + 1).ready().done(),
    pcap(`pcap ${e}: version 2.3, a 300 000-byte caplen with a smaller len is swapped`, le)
      .pcapHeader({ minor: 3, linkType: 231, snaplen: 0 }).opened()
      .pcapRecord(300, { caplen: 300_000, len: 300 }).ready().done(),
    pcapng(`pcapng ${e}: a block of exactly 16 MiB before the IDB is read`, le)
      .shb().custom(0x00000bad, 16 * MiB - 16).idb().opened().epb(8).ready().done(),
    pcapng(`pcapng ${e}: after an IDB of DBUS, a 20 MiB EPB is read`, le)
      .shb().idb(231, 0).opened().epb(20 * MiB).ready().epb(1).ready().done(),
  ];
}

export const SMALL_CASES: readonly Case[] = [...smallCases(true), ...smallCases(false)];
export const LARGE_CASES: readonly Case[] = [...largeCases(true), ...largeCases(false)];

/** What the framing must say after the first `length` bytes of `c`. */
export function expected(c: Case, length: number): { opened: boolean; ready: number } {
  return { opened: length >= c.openAt, ready: c.readyAt.filter((at) => at <= length).length };
}

function check(framing: RecordFraming, c: Case, length: number, how: string): void {
  const want = expected(c, length);
  const got = { opened: framing.opened, ready: framing.ready };
  if (got.opened !== want.opened || got.ready !== want.ready) {
    assert.fail(
      `${c.name}, ${how}, after ${length} of ${c.bytes.length} bytes: ` +
        `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`,
    );
  }
  if (length >= 4) assert.equal(framing.format, c.format, `${c.name}: format`);
  else assert.equal(framing.format, undefined, `${c.name}: format after ${length} bytes`);
}

/** Pushes `c` in chunks ending at `cuts` (ascending, the last one its length), checking each. */
function pushAt(c: Case, cuts: number[], how: string): RecordFraming {
  const framing = new RecordFraming();
  check(framing, c, 0, how);
  let at = 0;
  for (const cut of cuts) {
    framing.push(c.bytes.subarray(at, cut));
    at = cut;
    check(framing, c, at, how);
  }
  return framing;
}

/** A deterministic pseudo-random generator (mulberry32). */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random chunk ends, of sizes up to `max`. */
function randomCuts(length: number, max: number, next: () => number): number[] {
  const cuts: number[] = [];
  for (let at = 0; at < length;) {
    at = Math.min(length, at + 1 + Math.floor(next() * max));
    cuts.push(at);
  }
  return cuts;
}

/** The offsets where something changes, and their neighbours up to `radius` away. */
function interesting(c: Case, radius = 12): number[] {
  const marks = new Set<number>([0, 1, 3, 4, 5, 8, 12, 16, 23, 24, 25, 28, c.bytes.length]);
  for (const m of [c.openAt, ...c.readyAt]) {
    for (let d = -radius; d <= radius; d++) marks.add(m + d);
  }
  return [...marks].filter((m) => m >= 0 && m <= c.bytes.length).sort((a, b) => a - b);
}

/**
 * Deno.test, only when this module is the test file run: tests/stream_test.ts imports its cases,
 * and would run these tests again.
 */
const test: (name: string, fn: () => void) => void = Deno.mainModule === import.meta.url
  ? (name, fn) => Deno.test(name, fn)
  : () => {};

test("the crafted cases are what they claim", () => {
  for (const c of [...SMALL_CASES, ...LARGE_CASES]) {
    assert.ok(c.bytes.length > 0, c.name);
    assert.ok(c.readyAt.every((at, i) => i === 0 || c.readyAt[i - 1] <= at), c.name);
    assert.ok(c.readyAt.every((at) => at >= c.openAt), `${c.name}: a read before the open`);
  }
  // Spot checks of the builder against hand-written bytes.
  const le = pcap("", true).pcapHeader().pcapRecord(2).bytes();
  assert.deepEqual(
    [...le],
    [
      0xd4,
      0xc3,
      0xb2,
      0xa1,
      2,
      0,
      4,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0xff,
      0xff,
      0,
      0,
      1,
      0,
      0,
      0,
      0x00,
      0xf1,
      0x53,
      0x65,
      0x40,
      0xe2,
      0x01,
      0,
      2,
      0,
      0,
      0,
      2,
      0,
      0,
      0,
      0xa5,
      0xa6,
    ],
  );
  const be = pcapng("", false).shb().bytes();
  assert.deepEqual(
    [...be.subarray(0, 12)],
    [0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 28, 0x1a, 0x2b, 0x3c, 0x4d],
  );
  assert.deepEqual([...be.subarray(24)], [0, 0, 0, 28]);
});

test("whole, byte by byte, and split in two at every offset", () => {
  for (const c of SMALL_CASES) {
    const n = c.bytes.length;
    if (n > 4096) {
      // Long bodies: the neighbourhoods of what matters, byte by byte.
      for (const at of interesting(c)) {
        if (at > 0 && at < n) pushAt(c, [at, n], `split at ${at}`);
      }
      pushAt(c, interesting(c).filter((m) => m > 0), "at each mark");
      continue;
    }
    pushAt(c, [n], "whole");
    pushAt(c, Array.from({ length: n }, (_, i) => i + 1), "byte by byte");
    for (let at = 1; at < n; at++) pushAt(c, [at, n], `split at ${at}`);
    // In three, around each mark.
    const marks = interesting(c, 2);
    for (const a of marks) {
      for (const b of marks) {
        if (0 < a && a < b && b < n) pushAt(c, [a, b, n], `split at ${a} and ${b}`);
      }
    }
  }
});

test("random chunk sizes", () => {
  const next = random(0x5eed);
  for (const c of SMALL_CASES) {
    for (const max of [2, 5, 17, 64, 1000, 65536]) {
      // Many small chunks for the short cases; larger ones for the long bodies.
      if (max * 4096 < c.bytes.length) continue;
      for (let trial = 0; trial < 10; trial++) {
        pushAt(c, randomCuts(c.bytes.length, max, next), `random chunks up to ${max}`);
      }
    }
  }
  for (const c of LARGE_CASES) {
    for (const max of [4096, 65536, 1 << 20]) {
      const cuts = randomCuts(c.bytes.length, max, next);
      // Add the marks so that each prefix that matters is looked at.
      const all = [...new Set([...cuts, ...interesting(c).filter((m) => m > 0)])];
      pushAt(c, all.sort((a, b) => a - b), `random chunks up to ${max} and the marks`);
    }
  }
});

test("large records: whole and split at each mark", () => {
  for (const c of LARGE_CASES) {
    const n = c.bytes.length;
    pushAt(c, [n], "whole");
    for (const at of interesting(c)) if (at > 0 && at < n) pushAt(c, [at, n], `split at ${at}`);
  }
});

test("end() makes libpcap able to open and read without limit, at any point", () => {
  for (const c of SMALL_CASES) {
    const n = c.bytes.length;
    const ends = n > 4096 ? interesting(c) : Array.from({ length: n + 1 }, (_, i) => i);
    for (const at of ends) {
      const framing = new RecordFraming();
      framing.push(c.bytes.subarray(0, at));
      framing.end();
      assert.equal(framing.opened, true, `${c.name}: opened after end() at ${at}`);
      assert.equal(framing.ready, Infinity, `${c.name}: ready after end() at ${at}`);
      // Bytes after the end change nothing.
      framing.push(c.bytes.subarray(at));
      assert.equal(framing.opened, true);
      assert.equal(framing.ready, Infinity);
    }
  }
  const empty = new RecordFraming();
  assert.equal(empty.opened, false);
  assert.equal(empty.ready, 0);
  empty.push(new Uint8Array(0));
  assert.equal(empty.opened, false);
  assert.equal(empty.format, undefined);
  empty.end();
  assert.equal(empty.opened, true);
  assert.equal(empty.ready, Infinity);
});

test("a refused header stops the count: nothing after it is ever ready", () => {
  // A hostile stream: a refused record header, then a mass of well-formed records.
  const c = pcap("pcap LE: refused, then more", true).pcapHeader().opened()
    .pcapRecordHeader(0xffff_ffff).ready();
  for (let i = 0; i < 1000; i++) c.pcapRecord(10);
  const framing = pushAt(c.done(), [c.length], "whole");
  assert.equal(framing.ready, 1);
  // pcapng: the same after a refused block.
  const ng = pcapng("pcapng LE: refused, then more", true).shb().idb().opened()
    .blockHeader(EPB, 13).ready();
  for (let i = 0; i < 1000; i++) ng.epb(10);
  assert.equal(pushAt(ng.done(), [ng.length], "whole").ready, 1);
});

test("ready grows by one per record, however many records come in one push", () => {
  const c = pcap("pcap LE: 10 000 records", true).pcapHeader().opened();
  for (let i = 0; i < 10_000; i++) c.pcapRecord(i % 97).ready();
  pushAt(c.done(), [c.length], "whole");
  const ng = pcapng("pcapng BE: 5 000 blocks", false).shb().idb().opened();
  for (let i = 0; i < 2_500; i++) ng.epb(i % 61).ready().custom();
  pushAt(ng.done(), randomCuts(ng.length, 10_000, random(7)), "random");
});
