/**
 * Record boundaries of a pcap or pcapng byte stream, found as the bytes arrive: how many reads
 * libpcap can make without waiting for bytes that have not come yet. Pure: no FFI, no I/O.
 *
 * A capture read from a pipe, a FIFO or a terminal arrives at the writer's pace. libpcap reads
 * it with blocking `fread` calls, which would hold the whole process (signals included) while
 * the writer is silent. pulso instead reads the stream itself, without blocking, and lets
 * libpcap read only what has fully arrived: this module says when that is. It follows libpcap
 * 1.10's reader exactly: a record libpcap refuses after its header (a length it thinks insane)
 * is ready once its header is, so that a hostile stream cannot make pulso buffer without bound.
 *
 * @module
 */

/** The most bytes a record of libpcap's reader can span before libpcap refuses it. */
const MAXIMUM_SNAPLEN = 262144;
/** pcapng: libpcap's initial and usual bound on a block's length. */
const INITIAL_MAX_BLOCKSIZE = 16 * 1024 * 1024;
/** pcapng: libpcap's bound on a Section Header Block's length. */
const SHB_INSANE_MAX = 1024 * 1024;

const PCAP_MAGIC = 0xa1b2c3d4;
const PCAP_MAGIC_NSEC = 0xa1b23c4d;
const PCAP_MAGIC_KUZNETZOV = 0xa1b2cd34;
const BT_SHB = 0x0a0d0d0a;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const BT_IDB = 1;
const BT_PB = 2;
const BT_SPB = 3;
const BT_EPB = 6;

/** libpcap's `max_snaplen_for_dlt`: the longest record it accepts for a link type. */
function maxSnaplen(linkType: number): number {
  switch (linkType) {
    case 231: // DBUS
      return 128 * 1024 * 1024;
    case 279: // EBHSCR
      return 8 * 1024 * 1024;
    case 249: // USBPCAP
      return 1024 * 1024;
    default:
      return MAXIMUM_SNAPLEN;
  }
}

/** libpcap's `MAX_BLOCKSIZE_FOR_SNAPLEN`: an EPB of that snaplen with 128 KiB of options. */
function maxBlockFor(snaplen: number): number {
  return 8 + 20 + snaplen + 131072 + 4;
}

const enum State {
  /** The first four bytes: the format. */
  MAGIC,
  /** pcap: the rest of the 24-byte file header. */
  PCAP_HEADER,
  /** pcap: a record header. */
  PCAP_RECORD,
  /** pcapng: the first 12 bytes of the first Section Header Block. */
  SHB_START,
  /** pcapng: a block header (type, length) and the first bytes of its body. */
  BLOCK_HEADER,
  /** Bytes to pass over to the end of the current record or block. */
  SKIP,
  /** libpcap will stop reading here (an error it reports): what follows does not matter. */
  DONE,
}

/**
 * Follows a capture stream's records as its bytes arrive.
 *
 * - {@link opened}: libpcap can open the stream (read its file header, and with pcapng every
 *   block up to the first interface description) without waiting;
 * - {@link ready}: how many packet reads it can make without waiting: every record that has
 *   fully arrived counts one, and so does a record whose header libpcap refuses;
 * - after {@link end}, libpcap never waits: both become unlimited.
 *
 * @example
 * ```ts
 * const framing = new RecordFraming();
 * framing.push(chunk);
 * if (framing.opened) openWithLibpcap();
 * while (packetsRead < framing.ready) readOnePacket();
 * ```
 */
export class RecordFraming {
  #state = State.MAGIC;
  /** Bytes of the current header gathered so far, and how many the state needs. */
  readonly #header = new Uint8Array(28);
  #have = 0;
  #need = 4;
  #skip = 0;
  /** State after the skip. */
  #after = State.PCAP_RECORD;
  #littleEndian = true;
  /** pcap: record header size, length order, longest record. */
  #recordHeader = 16;
  #lengthsSwapped: "no" | "maybe" | "yes" = "no";
  #maxSnaplen = MAXIMUM_SNAPLEN;
  /** pcapng: longest block libpcap accepts. */
  #maxBlock = INITIAL_MAX_BLOCKSIZE;
  /** What the block being skipped is. */
  #blockType = 0;
  #opened = false;
  #ready = 0;
  #ended = false;
  /** pcapng: the first SHB has a version libpcap refuses once it has read the block. */
  #badVersion = false;
  #format: "unknown" | "pcap" | "pcapng" | undefined;

  /** Whether libpcap can open the stream without waiting for more bytes. */
  get opened(): boolean {
    return this.#opened || this.#ended;
  }

  /** Packet reads libpcap can make without waiting (Infinity once the stream ended). */
  get ready(): number {
    return this.#ended ? Infinity : this.#ready;
  }

  /**
   * The most bytes one read can take before libpcap refuses it (a record header and the
   * longest record, or the longest block): what may be buffered while no read is ready.
   */
  get longestRead(): number {
    return this.#format === "pcap" ? this.#recordHeader + this.#maxSnaplen : this.#maxBlock;
  }

  /** The format seen in the first bytes, once known. */
  get format(): "unknown" | "pcap" | "pcapng" | undefined {
    return this.#format;
  }

  /** Marks the end of the stream: libpcap meets end of file, or a cut record, at once. */
  end(): void {
    this.#ended = true;
  }

  /** Takes the next bytes of the stream. */
  push(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length && this.#state !== State.DONE) {
      if (this.#state === State.SKIP) {
        const n = Math.min(this.#skip, bytes.length - at);
        this.#skip -= n;
        at += n;
        if (this.#skip === 0) this.#finishSkip();
        continue;
      }
      const n = Math.min(this.#need - this.#have, bytes.length - at);
      this.#header.set(bytes.subarray(at, at + n), this.#have);
      this.#have += n;
      at += n;
      if (this.#have === this.#need) this.#parse();
    }
  }

  #u32(at: number, littleEndian = this.#littleEndian): number {
    const h = this.#header;
    return littleEndian
      ? (h[at] | (h[at + 1] << 8) | (h[at + 2] << 16) | (h[at + 3] << 24)) >>> 0
      : ((h[at] << 24) | (h[at + 1] << 16) | (h[at + 2] << 8) | h[at + 3]) >>> 0;
  }

  #u16(at: number): number {
    const h = this.#header;
    return this.#littleEndian ? h[at] | (h[at + 1] << 8) : (h[at] << 8) | h[at + 1];
  }

  #expect(state: State, need: number): void {
    this.#state = state;
    this.#have = 0;
    this.#need = need;
  }

  /** Passes over `bytes` more bytes, then goes to `after`. */
  #skipThen(bytes: number, after: State): void {
    this.#after = after;
    if (bytes === 0) {
      this.#state = after;
      this.#finishSkip();
      return;
    }
    this.#state = State.SKIP;
    this.#skip = bytes;
  }

  /** libpcap stops at this header with an error: one more read returns at once, then none. */
  #refuse(): void {
    // While opening, the open fails; later, the read that meets it does.
    if (this.#opened) this.#ready++;
    this.#opened = true;
    this.#state = State.DONE;
  }

  #parse(): void {
    switch (this.#state) {
      case State.MAGIC:
        return this.#parseMagic();
      case State.PCAP_HEADER:
        return this.#parsePcapHeader();
      case State.PCAP_RECORD:
        return this.#parsePcapRecord();
      case State.SHB_START:
        return this.#parseShbStart();
      case State.BLOCK_HEADER:
        return this.#parseBlockHeader();
    }
  }

  #parseMagic(): void {
    const le = this.#u32(0, true);
    const be = this.#u32(0, false);
    const pcap = (m: number) =>
      m === PCAP_MAGIC || m === PCAP_MAGIC_NSEC || m === PCAP_MAGIC_KUZNETZOV;
    if (pcap(le) || pcap(be)) {
      this.#format = "pcap";
      this.#littleEndian = pcap(le);
      this.#recordHeader = (pcap(le) ? le : be) === PCAP_MAGIC_KUZNETZOV ? 24 : 16;
      this.#state = State.PCAP_HEADER;
      this.#need = 24;
    } else if (le === BT_SHB) {
      this.#format = "pcapng";
      this.#state = State.SHB_START;
      this.#need = 12;
    } else {
      // libpcap reads these four bytes only, and gives up.
      this.#format = "unknown";
      this.#opened = true;
      this.#state = State.DONE;
    }
  }

  #parsePcapHeader(): void {
    const major = this.#u16(4);
    const minor = this.#u16(6);
    // libpcap refuses other versions after reading the header: nothing more is read.
    this.#lengthsSwapped = major === 2
      ? (minor < 3 ? "yes" : minor === 3 ? "maybe" : "no")
      : major === 543
      ? "yes"
      : "no";
    this.#maxSnaplen = maxSnaplen(this.#u32(20) & 0x03ff_ffff);
    this.#opened = true;
    this.#expect(State.PCAP_RECORD, this.#recordHeader);
  }

  #parsePcapRecord(): void {
    let caplen = this.#u32(8);
    const len = this.#u32(12);
    if (this.#lengthsSwapped === "yes" || (this.#lengthsSwapped === "maybe" && caplen > len)) {
      caplen = len;
    }
    if (caplen > this.#maxSnaplen) return this.#refuse();
    this.#blockType = BT_EPB;
    this.#skipThen(caplen, State.PCAP_RECORD);
  }

  #parseShbStart(): void {
    if (this.#need === 12) {
      const magic = this.#u32(8, true);
      if (magic === BYTE_ORDER_MAGIC) this.#littleEndian = true;
      else if (this.#u32(8, false) === BYTE_ORDER_MAGIC) this.#littleEndian = false;
      else return this.#refuse();
      const length = this.#u32(4);
      if (length < 28 || length > SHB_INSANE_MAX) return this.#refuse();
      // The version, which libpcap checks once it has read the whole block.
      this.#need = 16;
      return;
    }
    const major = this.#u16(12);
    const minor = this.#u16(14);
    this.#badVersion = !(major === 1 && (minor === 0 || minor === 2));
    this.#blockType = BT_SHB;
    this.#skipThen(this.#u32(4) - 16, State.BLOCK_HEADER);
  }

  #parseBlockHeader(): void {
    const type = this.#u32(0);
    const length = this.#u32(4);
    if (length < 12 || length % 4 !== 0 || length > this.#maxBlock) return this.#refuse();
    if (type === BT_IDB && this.#need === 8) {
      // The link type, which bounds the blocks that may follow it.
      this.#need = 10;
      return;
    }
    if (type === BT_IDB && length >= 10) {
      const bound = maxBlockFor(maxSnaplen(this.#u16(8)));
      if (bound > this.#maxBlock) this.#maxBlock = bound;
    }
    this.#blockType = type;
    this.#skipThen(length - this.#have, State.BLOCK_HEADER);
  }

  /** The end of a record or block: count it, and read the next header. */
  #finishSkip(): void {
    const type = this.#blockType;
    if (this.#format === "pcap") {
      this.#ready++;
    } else if (!this.#opened) {
      // libpcap fails the open once it has read an SHB of a version it does not read.
      if (type === BT_SHB && this.#badVersion) {
        this.#opened = true;
        this.#state = State.DONE;
        return;
      }
      // pcapng's opening reads blocks up to the first IDB; a packet before it is an error.
      if (type === BT_IDB || type === BT_EPB || type === BT_SPB || type === BT_PB) {
        this.#opened = true;
      }
    } else if (type === BT_EPB || type === BT_SPB || type === BT_PB) {
      this.#ready++;
    }
    this.#expect(this.#after, this.#after === State.BLOCK_HEADER ? 8 : this.#recordHeader);
  }
}
