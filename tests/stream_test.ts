/**
 * RecordFraming against libpcap itself (1.10): bytes pushed into a FedStream as far as the
 * framing says libpcap can go never starve libpcap's reader, and a capture fed in two parts
 * reads the same packets, with the same error, as libpcap reading the whole file. On every file
 * of the corpus cut at several points (every record boundary of the lab files), on corpus files
 * with damaged headers, and on the crafted streams of src/record_framing_test.ts, where libpcap
 * must also need exactly what the framing says: no more, no less. Hostile headers are refused
 * with no more than one chunk buffered.
 */
import assert from "node:assert/strict";
import { closeFile, FedStream } from "../ffi/libc.ts";
import { NextResult, Pcap, PcapError } from "../ffi/libpcap.ts";
import { RecordFraming } from "../src/record_framing.ts";
import {
  Capture,
  type Case,
  expected,
  LARGE_CASES,
  random,
  SMALL_CASES,
} from "../src/record_framing_test.ts";
import { CORPUS } from "./_pulso.ts";

/** What reading a capture gave: the open's error, or the packets and the read error. */
interface Outcome {
  openError?: string;
  frames: number;
  /** A hash of every frame's bytes, length and timestamp. */
  digest: number;
  readError?: string;
}

function newOutcome(): Outcome {
  return { frames: 0, digest: 0x811c9dc5 };
}

function mix(h: number, n: number): number {
  return Math.imul(h ^ n, 0x01000193) >>> 0;
}

/** One `pcap.next()` into `out`; true when the capture is over (end of file or an error). */
function readOne(pcap: Pcap, out: Outcome): boolean {
  let status: number;
  try {
    status = pcap.next();
  } catch (e) {
    if (!(e instanceof PcapError)) throw e;
    out.readError = e.message;
    return true;
  }
  if (status !== NextResult.PACKET) {
    assert.equal(status, NextResult.END);
    return true;
  }
  const frame = pcap.frame;
  let h = mix(mix(mix(out.digest, frame.length), pcap.seconds), pcap.microseconds);
  for (let i = 0; i < frame.length; i++) h = Math.imul(h ^ frame[i], 0x01000193);
  out.digest = h >>> 0;
  out.frames++;
  return false;
}

/** libpcap reading the regular file `path`. */
function readFile(path: string): Outcome {
  const out = newOutcome();
  let pcap: Pcap;
  try {
    pcap = Pcap.openOffline(path);
  } catch (e) {
    if (!(e instanceof PcapError)) throw e;
    out.openError = e.message;
    return out;
  }
  try {
    while (!readOne(pcap, out));
  } finally {
    pcap.close();
  }
  return out;
}

/** A FedStream, a RecordFraming fed the same bytes, and the handle once opened. */
class Feed {
  readonly stream = new FedStream();
  readonly framing = new RecordFraming();
  pcap: Pcap | undefined;
  /** Whether the stream went to libpcap (which then owns it). */
  handed = false;
  readonly out = newOutcome();
  /** The capture is over: the open failed, or a read met the end or an error. */
  over = false;
  /** Packet reads made. */
  reads = 0;

  constructor(readonly name: string) {}

  push(bytes: Uint8Array): void {
    this.stream.push(bytes);
    this.framing.push(bytes);
  }

  end(): void {
    this.stream.end();
    this.framing.end();
  }

  open(): void {
    this.handed = true;
    try {
      this.pcap = Pcap.openStream(this.name, this.stream);
    } catch (e) {
      if (!(e instanceof PcapError)) throw e;
      this.out.openError = e.message;
      this.over = true;
    }
  }

  /** One read (the handle is open and the capture not over). */
  read(): void {
    this.over = readOne(this.pcap!, this.out);
    this.reads++;
  }

  close(): void {
    if (this.pcap) this.pcap.close();
    else if (!this.handed) {
      closeFile(this.stream.file);
      this.stream.close();
    }
  }
}

/**
 * Feeds the first `cut` bytes, opens when the framing says so and reads as many records as it
 * says are ready, asserting that libpcap never starves; then feeds the rest, ends the stream and
 * reads to the end.
 */
function feedInTwo(name: string, bytes: Uint8Array, cut: number): Outcome {
  const feed = new Feed(name);
  const where = () => `${name} cut at ${cut} of ${bytes.length}`;
  try {
    feed.push(bytes.subarray(0, cut));
    if (feed.framing.opened) {
      feed.open();
      assert.ok(!feed.stream.starved, `${where()}: the open starved`);
      const ready = feed.framing.ready;
      while (!feed.over && feed.reads < ready) {
        feed.read();
        assert.ok(!feed.stream.starved, `${where()}: read ${feed.reads} of ${ready} starved`);
      }
    }
    if (!feed.over) {
      feed.push(bytes.subarray(cut));
      feed.end();
      if (!feed.handed) feed.open();
      while (!feed.over) feed.read();
    }
    assert.ok(!feed.stream.starved, `${where()}: starved after the end`);
    return feed.out;
  } finally {
    feed.close();
  }
}

/** How libpcap fares on the first `cut` bytes alone, next to what the framing says. */
type Probe =
  /** The framing said libpcap cannot open, and its open did starve. */
  | "open starves"
  /** The open failed (an error of libpcap's own, not a starved read). */
  | "open fails"
  /** The framing's ready reads were made, and one more starved. */
  | "next read starves"
  /** A ready read met libpcap's error, so nothing more is read. */
  | "read fails"
  /** libpcap could have opened, though the framing said not yet. */
  | "could open"
  /** libpcap could have made one more read than the framing said. */
  | "could read";

/** Feeds only the first `cut` bytes and tries one step past what the framing allows. */
function probe(name: string, bytes: Uint8Array, cut: number): Probe {
  const feed = new Feed(name);
  const where = () => `${name} cut at ${cut} of ${bytes.length}`;
  try {
    feed.push(bytes.subarray(0, cut));
    const opened = feed.framing.opened;
    feed.open();
    if (!opened) return feed.stream.starved ? "open starves" : "could open";
    assert.ok(!feed.stream.starved, `${where()}: the open starved`);
    if (feed.over) return "open fails";
    const ready = feed.framing.ready;
    while (feed.reads < ready) {
      feed.read();
      assert.ok(!feed.stream.starved, `${where()}: read ${feed.reads} of ${ready} starved`);
      if (feed.over) return "read fails";
    }
    feed.read();
    return feed.stream.starved ? "next read starves" : "could read";
  } finally {
    feed.close();
  }
}

/** The prefix lengths at which the framing's `opened` or `ready` changes, up to `limit` of them. */
function marks(bytes: Uint8Array, limit = Infinity): number[] {
  const framing = new RecordFraming();
  const found: number[] = [];
  let opened = false, ready = 0;
  for (let at = 0; at < bytes.length && found.length < limit; at++) {
    framing.push(bytes.subarray(at, at + 1));
    if (framing.opened !== opened || framing.ready !== ready) found.push(at + 1);
    opened = framing.opened;
    ready = framing.ready;
  }
  return found;
}

function corpusFiles(): string[] {
  const files: string[] = [];
  for (const dir of ["tcpdump", "lab"]) {
    for (const entry of Deno.readDirSync(`${CORPUS}${dir}`)) {
      if (entry.isFile && /\.pcap(ng)?$/.test(entry.name)) {
        files.push(`${CORPUS}${dir}/${entry.name}`);
      }
    }
  }
  return files.sort();
}

/** A seed from a name, so that each file gets its own cuts, the same every run. */
function seedOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

Deno.test("every corpus file, cut anywhere: libpcap never starves, reads what the file holds", () => {
  const files = corpusFiles();
  assert.ok(files.length >= 839, `${files.length} corpus files`);
  const probes = new Map<Probe, number>();
  const loose: string[] = [];
  let cuts = 0, starts = 0;
  for (const path of files) {
    const bytes = Deno.readFileSync(path);
    const truth = readFile(path);
    if (truth.openError === undefined) starts++;
    const n = bytes.length;
    const lab = path.includes("/lab/");
    const next = random(seedOf(path));
    const at = new Set<number>([0, 1, 4, 24, n - 1, n]);
    for (let i = 0; i < 4; i++) at.add(Math.floor(next() * (n + 1)));
    // Every record boundary of the lab files; the first few of the others.
    for (const m of marks(bytes, lab ? Infinity : 6)) {
      at.add(m - 1);
      at.add(m);
    }
    for (const cut of [...at].filter((c) => c >= 0 && c <= n)) {
      cuts++;
      assert.deepEqual(feedInTwo(path, bytes, cut), truth, `${path} cut at ${cut}`);
      if (cut < n) {
        const p = probe(path, bytes, cut);
        probes.set(p, (probes.get(p) ?? 0) + 1);
        if (p === "could open" || p === "could read") loose.push(`${path} at ${cut}: ${p}`);
      }
    }
  }
  // The corpus is read at all: every file opens (its damage is in the packets).
  assert.ok(starts > 800, `${starts} files open`);
  assert.ok(cuts > 8000, `${cuts} cuts`);
  // libpcap needed exactly what the framing said: no cut where it could have gone further.
  assert.deepEqual(
    loose,
    [],
    `libpcap could go further than the framing says:\n${loose.join("\n")}`,
  );
  assert.ok((probes.get("next read starves") ?? 0) > 1000, JSON.stringify([...probes]));
  assert.ok((probes.get("open starves") ?? 0) > 800, JSON.stringify([...probes]));
});

Deno.test("corpus files with damaged headers: never starved, same as read whole", () => {
  const next = random(0xda4a6e);
  const probes = new Map<Probe, number>();
  const loose: string[] = [];
  let errors = 0;
  for (const [mutant, path] of corpusFiles().flatMap((p) => [[0, p], [1, p]] as const)) {
    const bytes = Deno.readFileSync(path);
    // A few bytes changed in the 24 after a record boundary: a record or block header.
    const boundaries = [0, ...marks(bytes, 40)];
    const at = boundaries[Math.floor(next() * boundaries.length)];
    for (let k = 0; k < 1 + Math.floor(next() * 3); k++) {
      const i = at + Math.floor(next() * 24);
      if (i < bytes.length) bytes[i] = next() < 0.3 ? 0xff : Math.floor(next() * 256);
    }
    const name = `${path} damaged near ${at} (${mutant})`;
    const whole = feedInTwo(name, bytes, bytes.length);
    if (whole.openError !== undefined || whole.readError !== undefined) errors++;
    const cuts = new Set<number>();
    for (let i = 0; i < 2; i++) cuts.add(Math.floor(next() * bytes.length));
    for (const m of marks(bytes, 16)) {
      cuts.add(m - 1);
      cuts.add(m);
    }
    for (const cut of cuts) {
      if (cut < 0 || cut > bytes.length) continue;
      assert.deepEqual(feedInTwo(name, bytes, cut), whole, `${name} cut at ${cut}`);
      if (cut === bytes.length) continue;
      const p = probe(name, bytes, cut);
      probes.set(p, (probes.get(p) ?? 0) + 1);
      // The one way libpcap may need less than the framing says: an SHB of a version it
      // does not read fails the open, while the framing waits for the first IDB.
      if (
        (p === "could open" || p === "could read") &&
        !/: unsupported pcapng savefile version /.test(whole.openError ?? "")
      ) loose.push(`${name} at ${cut}: ${p} ${JSON.stringify(whole)}`);
    }
  }
  assert.deepEqual(
    loose,
    [],
    `libpcap could go further than the framing says:\n${loose.join("\n")}`,
  );
  // The damage does reach libpcap's errors, at the open and in reads.
  assert.ok(errors > 400, `${errors} damaged files fail`);
  assert.ok((probes.get("read fails") ?? 0) > 100, JSON.stringify([...probes]));
  assert.ok((probes.get("open fails") ?? 0) > 100, JSON.stringify([...probes]));
});

/** libpcap reading the whole of `c` at once (the same as reading it from a file). */
function readWhole(c: Case): Outcome {
  return feedInTwo(c.name, c.bytes, c.bytes.length);
}

function crossCheck(c: Case, cuts: Iterable<number>): void {
  const whole = readWhole(c);
  for (const cut of cuts) {
    assert.deepEqual(feedInTwo(c.name, c.bytes, cut), whole, `${c.name} cut at ${cut}`);
    if (cut === c.bytes.length) continue;
    // libpcap needs exactly what the case says it does.
    const want = expected(c, cut);
    const got = probe(c.name, c.bytes, cut);
    const where = `${c.name} cut at ${cut} (${JSON.stringify(want)})`;
    if (!want.opened) assert.equal(got, "open starves", where);
    else if (got !== "open fails") {
      assert.ok(got === "next read starves" || got === "read fails", `${where}: ${got}`);
    }
  }
}

Deno.test("crafted streams: libpcap needs exactly what the framing says, at every cut", () => {
  let packets = 0, errors = 0, openErrors = 0;
  for (const c of SMALL_CASES) {
    const n = c.bytes.length;
    const all = Array.from({ length: n + 1 }, (_, i) => i);
    const near = all.filter((i) =>
      [c.openAt, ...c.readyAt, 4, 12, 24].some((m) => Math.abs(m - i) <= 8)
    );
    crossCheck(c, n <= 600 ? all : near);
    const whole = readWhole(c);
    packets += whole.frames;
    if (whole.readError) errors++;
    if (whole.openError) openErrors++;
    // What the case expects of the whole stream matches what libpcap read from it.
    if (whole.openError === undefined) {
      assert.ok(whole.frames <= c.readyAt.length, `${c.name}: ${JSON.stringify(whole)}`);
    }
  }
  // The cases do reach libpcap's reads and its errors.
  assert.ok(packets > 50, `${packets} packets`);
  assert.ok(errors > 20, `${errors} read errors`);
  assert.ok(openErrors > 20, `${openErrors} open errors`);
});

Deno.test("crafted streams with large records: libpcap agrees at the marks", () => {
  for (const c of LARGE_CASES) {
    const cuts = new Set<number>([0, c.bytes.length]);
    for (const m of [c.openAt, ...c.readyAt]) {
      for (const d of [-1, 0, 1]) {
        if (m + d >= 0 && m + d <= c.bytes.length) cuts.add(m + d);
      }
    }
    crossCheck(c, cuts);
  }
});

/**
 * Feeds `chunks` as pulso's StreamSource does (a chunk only while libpcap can neither open nor
 * read a record), until libpcap is done; fails once more than `limit` bytes went in.
 */
function drive(chunks: Iterator<Uint8Array>, limit: number): Feed & { pushed: number } {
  const feed = Object.assign(new Feed("hostile"), { pushed: 0 });
  const more = () => {
    const next = chunks.next();
    if (next.done) return feed.end();
    feed.push(next.value);
    feed.pushed += next.value.length;
    assert.ok(
      feed.pushed <= limit,
      `${feed.pushed} bytes buffered (${feed.stream.buffered} unread), libpcap not done`,
    );
  };
  try {
    while (!feed.framing.opened) more();
    feed.open();
    while (!feed.over) {
      while (!feed.over && feed.reads < feed.framing.ready) {
        feed.read();
        assert.ok(!feed.stream.starved, "starved");
      }
      if (!feed.over) more();
    }
    assert.ok(!feed.stream.starved, "starved");
    return feed;
  } finally {
    feed.close();
  }
}

/** `head`, then an endless run of 64 KiB chunks of junk. */
function* endless(head: Uint8Array): Generator<Uint8Array> {
  yield head;
  for (;;) yield new Uint8Array(65536).fill(0xa5);
}

Deno.test("hostile headers: libpcap refuses them with at most one chunk buffered", () => {
  const le = true;
  const pcap = (options?: Parameters<Capture["pcapHeader"]>[0]) =>
    new Capture("", le, "pcap").pcapHeader(options);
  const ng = () => new Capture("", le, "pcapng").shb();
  const MiB = 1024 * 1024;
  const cases: [string, Capture, RegExp][] = [
    [
      "pcap caplen 4 GiB",
      pcap().pcapRecord(10).pcapRecordHeader(0xffff_ffff),
      /^invalid packet capture length 4294967295, bigger than snaplen of 65535$/,
    ],
    [
      "pcap caplen 2 GiB, 24-byte headers",
      pcap({ magic: 0xa1b2cd34 }).pcapRecordHeader(0x8000_0000, 60, true),
      /^invalid packet capture length 2147483648/,
    ],
    [
      "pcap DBUS caplen 200 MiB",
      pcap({ linkType: 231, snaplen: 0 }).pcapRecordHeader(200 * MiB),
      /^invalid packet capture length 209715200, bigger than snaplen of 134217728$/,
    ],
    [
      "pcap 2.2, len (the caplen) 4 GiB",
      pcap({ minor: 2 }).pcapRecordHeader(60, 0xffff_ffff),
      /^invalid packet capture length 4294967295/,
    ],
    [
      "pcapng SHB of 2 MiB",
      new Capture("", le, "pcapng").u32(0x0a0d0d0a).u32(2 * MiB).u32(0x1a2b3c4d),
      /Section Header Block in pcapng dump file has invalid length 28 < _2097152_ < 1048576/,
    ],
    [
      "pcapng SHB of 24",
      new Capture("", le, "pcapng").u32(0x0a0d0d0a).u32(24).u32(0x1a2b3c4d),
      /has invalid length 28 < _24_/,
    ],
    [
      "pcapng bad byte-order magic",
      new Capture("", le, "pcapng").u32(0x0a0d0d0a).u32(28).u32(0x1a2b3c4e),
      /unknown file format/,
    ],
    ["unknown magic", new Capture("", le, "unknown").u32(0x12345678), /unknown file format/],
    [
      "pcapng block of 4 GiB - 4 before the IDB",
      ng().blockHeader(4, 0xffff_fffc),
      /^Cannot read 'hostile': pcapng block size 4294967292 > maximum 16777216$/,
    ],
    [
      "pcapng EPB of 4 GiB - 4",
      ng().idb().epb(10).blockHeader(6, 0xffff_fffc),
      /^pcapng block size 4294967292 > maximum 16777216$/,
    ],
    [
      "pcapng EPB of 13",
      ng().idb().blockHeader(6, 13),
      /has a length of 13 that is not a multiple of 4/,
    ],
    ["pcapng EPB of 8", ng().idb().blockHeader(6, 8), /has a length of 8 < 12/],
    [
      "pcapng SHB of 16 MiB + 4 in a later section",
      ng().idb().blockHeader(0x0a0d0d0a, 16 * MiB + 4),
      /pcapng block size 16777220 > maximum 16777216/,
    ],
    [
      "pcapng EPB above DBUS's bound",
      ng().idb(231, 0).blockHeader(6, 8 + 20 + 128 * MiB + 131072 + 8),
      /pcapng block size 134348836 > maximum 134348832/,
    ],
  ];
  for (const [name, head, message] of cases) {
    const feed = drive(endless(head.bytes()), head.length + 65536);
    const error = feed.out.openError ?? feed.out.readError;
    assert.ok(error !== undefined, `${name}: no error`);
    assert.match(error, message, name);
    // libpcap read no more than the header it refused: the junk is still there.
    assert.ok(feed.pushed <= head.length + 65536, `${name}: ${feed.pushed} bytes pushed`);
  }
  // A well-formed endless capture goes through with a bounded buffer too.
  function* records(): Generator<Uint8Array> {
    yield new Capture("", le, "pcap").pcapHeader().bytes();
    for (let i = 0; i < 2000; i++) yield new Capture("", le, "pcap").pcapRecord(i % 1500).bytes();
  }
  const fine = drive(records(), Infinity);
  assert.equal(fine.out.frames, 2000);
  assert.equal(fine.out.readError, undefined);
});

Deno.test("errors libpcap meets in blocks that are no packets: never starved", () => {
  // libpcap fails on these once it has read them, inside the pcap_next_ex (or the open) that
  // reads on to the next packet; the framing counts packets only, so it waits for one more
  // (safe: it never lets libpcap starve, it only reports the error later).
  const le = true;
  const after = () => new Capture("", le, "pcapng").shb().idb().epb(10);
  const bad: [string, Capture, RegExp][] = [
    ["an NRB whose trailer differs", after().u32(4).u32(16).u32(0).u32(20), /don't match/],
    [
      "a later SHB of the other byte order",
      after().u32(0x0a0d0d0a).u32(28).u32(0x4d3c2b1a).u32(1).u32(0).u32(0).u32(28),
      /sections with different byte orders/,
    ],
    ["a later SHB of version 2", after().shb({ major: 2 }), /major version number 2/],
    ["an IDB of another link type", after().idb(101), /different from the type/],
    ["an IDB of another snaplen", after().idb(1, 1000), /snapshot length 1000 different/],
    ["an IDB too short", after().block(1, [1, 0, 0, 0]), /too short/],
  ];
  for (const [name, c, message] of bad) {
    const bytes = c.bytes();
    const whole = feedInTwo(name, bytes, bytes.length);
    assert.match(whole.readError ?? "", message, name);
    assert.equal(whole.frames, 1, name);
    for (let cut = 0; cut < bytes.length; cut++) {
      assert.deepEqual(feedInTwo(name, bytes, cut), whole, `${name} cut at ${cut}`);
    }
    // With the whole bad block there, libpcap can already fail: the framing does not count it
    // ("could read"; "read fails" would be exact).
    const p = probe(name, bytes, bytes.length);
    assert.ok(p === "could read" || p === "read fails", `${name}: ${p}`);
  }
});
