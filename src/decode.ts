/**
 * The frame decoder: finds new connection events (TCP segments with SYN set and ACK clear) in
 * link-layer frames. Pure TypeScript without FFI or I/O, allocation-free per frame.
 *
 * @module
 */

/** Link types (libpcap DLT values) that the decoder understands. */
export const LinkType = {
  /** BSD loopback, address family in host byte order. */
  NULL: 0,
  /** Ethernet, with any number of 802.1Q / 802.1ad tags. */
  EN10MB: 1,
  /** Raw IPv4 or IPv6 (DLT_RAW on most systems). */
  RAW: 12,
  /** OpenBSD loopback, address family in network byte order. */
  LOOP: 108,
  /** Linux cooked capture v1 (the `any` device). */
  LINUX_SLL: 113,
  /** Raw IPv4. */
  IPV4: 228,
  /** Raw IPv6. */
  IPV6: 229,
  /** Linux cooked capture v2. */
  LINUX_SLL2: 276,
} as const;

const SUPPORTED: ReadonlySet<number> = new Set(Object.values(LinkType));

/**
 * Whether the decoder handles frames of this link type.
 *
 * @example
 * ```ts
 * isSupportedLinkType(LinkType.EN10MB); // true
 * isSupportedLinkType(127); // false (802.11 radiotap)
 * ```
 */
export function isSupportedLinkType(linkType: number): boolean {
  return SUPPORTED.has(linkType);
}

/** What {@link decodeFrame} found in a frame. */
export const Verdict = {
  /** A well-formed frame that is not a new connection event. */
  OTHER: 0,
  /** A new connection event; the {@link Decoded} holds its key. */
  EVENT: 1,
  /** A frame cut short or with impossible header fields. */
  MALFORMED: 2,
} as const;

/** One of the {@link Verdict} values. */
export type Verdict = typeof Verdict[keyof typeof Verdict];

/**
 * The key of an event, filled in place by {@link decodeFrame} (one instance is reused for every
 * frame, so decoding allocates nothing).
 *
 * @example
 * ```ts
 * const out = new Decoded();
 * if (decodeFrame(LinkType.EN10MB, frame, frame.length, out) === Verdict.EVENT) {
 *   console.log(out.family, out.address.subarray(0, out.family === 4 ? 4 : 16), out.port);
 * }
 * ```
 */
export class Decoded {
  /** 4 for IPv4, 6 for IPv6. */
  family: 4 | 6 = 4;
  /**
   * Source address as four 32-bit words, each read most significant byte first (so an IPv4
   * address is word 0, and words 1-3 are zero). What the counter keys on.
   */
  readonly words: Int32Array = new Int32Array(4);
  /** TCP destination port. */
  port = 0;
  /** Offset of the IP header in the frame (for what else a caller reads: the destination). */
  ipOffset = 0;
  /** Offset of the TCP header in the frame (source port, sequence number). */
  tcpOffset = 0;

  /**
   * Source address in network order: bytes 0-3 for IPv4, 0-15 for IPv6 (the rest zero). A new
   * array at each call, made from {@link words}.
   */
  get address(): Uint8Array {
    const bytes = new Uint8Array(16);
    for (let i = 0; i < 16; i++) bytes[i] = this.words[i >> 2] >>> (24 - 8 * (i & 3));
    return bytes;
  }
}

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const ETHERTYPE_QINQ_OLD = 0x9100;

const IPPROTO_HOPOPTS = 0;
const IPPROTO_TCP = 6;
const IPPROTO_ROUTING = 43;
const IPPROTO_FRAGMENT = 44;
const IPPROTO_AH = 51;
const IPPROTO_DSTOPTS = 60;

const TCP_SYN = 0x02;
const TCP_ACK = 0x10;
const TCP_MIN_HEADER = 20;
/** TCP byte 12 has the data offset in its high nibble: below this, under 20 bytes (impossible). */
const TCP_MIN_OFFSET_BYTE = 5 << 4;

/** A decoder of the frames of one link type: see {@link decoderFor}. */
export type FrameDecoder = (frame: Uint8Array, length: number, out: Decoded) => Verdict;

/**
 * Decodes one frame of link type `linkType` whose first `length` bytes are in `frame`, and
 * says whether it is a new connection event. Never throws, whatever the bytes.
 *
 * @example
 * ```ts
 * const out = new Decoded();
 * const verdict = decodeFrame(LinkType.RAW, bytes, bytes.length, out);
 * ```
 */
export function decodeFrame(
  linkType: number,
  frame: Uint8Array,
  length: number,
  out: Decoded,
): Verdict {
  return decoderFor(linkType)(frame, length, out);
}

/**
 * The decoder of one link type, to pick once per capture rather than once per frame: a call
 * site that always calls the same small decoder is compiled inline. Link types that pulso does
 * not decode get a decoder that finds nothing.
 *
 * @example
 * ```ts
 * const decode = decoderFor(LinkType.EN10MB);
 * const out = new Decoded();
 * if (decode(frame, frame.length, out) === Verdict.EVENT) console.log(out.port);
 * ```
 */
export function decoderFor(linkType: number): FrameDecoder {
  switch (linkType) {
    case LinkType.EN10MB:
      return decodeEthernet;
    case LinkType.LINUX_SLL:
      return decodeCooked;
    case LinkType.LINUX_SLL2:
      return decodeCooked2;
    case LinkType.NULL:
    case LinkType.LOOP:
      return decodeLoopback;
    case LinkType.RAW:
      return decodeRaw;
    case LinkType.IPV4:
      return decodeRawIPv4;
    case LinkType.IPV6:
      return decodeRawIPv6;
    default:
      return decodeNothing;
  }
}

function decodeEthernet(frame: Uint8Array, length: number, out: Decoded): Verdict {
  // The common case: untagged IPv4 without options, carrying TCP with its whole header, not a
  // fragment. Anything else (or anything malformed) takes the general path.
  if (
    length >= 54 && frame.length >= 54 && frame[12] === 0x08 && frame[13] === 0 &&
    frame[14] === 0x45 && frame[23] === IPPROTO_TCP && (frame[20] & 0x1f) === 0 &&
    frame[21] === 0 && ((frame[16] << 8) | frame[17]) >= 40 && frame[46] >= TCP_MIN_OFFSET_BYTE
  ) {
    if ((frame[47] & (TCP_SYN | TCP_ACK)) !== TCP_SYN) return Verdict.OTHER;
    const w = out.words;
    w[0] = (frame[26] << 24) | (frame[27] << 16) | (frame[28] << 8) | frame[29];
    w[1] = 0;
    w[2] = 0;
    w[3] = 0;
    out.family = 4;
    out.port = (frame[36] << 8) | frame[37];
    out.ipOffset = 14;
    out.tcpOffset = 34;
    return Verdict.EVENT;
  }
  return decodeAfterLinkHeader(frame, length, 14, 12, out);
}

function decodeCooked(frame: Uint8Array, length: number, out: Decoded): Verdict {
  return decodeAfterLinkHeader(frame, length, 16, 14, out);
}

function decodeCooked2(frame: Uint8Array, length: number, out: Decoded): Verdict {
  return decodeAfterLinkHeader(frame, length, 20, 0, out);
}

/** A link header of `headerLength` bytes whose ethertype is at `typeAt`, then its payload. */
function decodeAfterLinkHeader(
  frame: Uint8Array,
  length: number,
  headerLength: number,
  typeAt: number,
  out: Decoded,
): Verdict {
  if (length > frame.length) length = frame.length;
  if (length < headerLength) return Verdict.MALFORMED;
  return decodeEthertype(
    frame,
    length,
    (frame[typeAt] << 8) | frame[typeAt + 1],
    headerLength,
    out,
  );
}

function decodeRaw(frame: Uint8Array, length: number, out: Decoded): Verdict {
  if (length > frame.length) length = frame.length;
  if (length < 1) return Verdict.MALFORMED;
  switch (frame[0] >> 4) {
    case 4:
      return decodeIPv4(frame, length, 0, out);
    case 6:
      return decodeIPv6(frame, length, 0, out);
    default:
      return Verdict.OTHER;
  }
}

function decodeRawIPv4(frame: Uint8Array, length: number, out: Decoded): Verdict {
  if (length > frame.length) length = frame.length;
  return decodeIPv4(frame, length, 0, out);
}

function decodeRawIPv6(frame: Uint8Array, length: number, out: Decoded): Verdict {
  if (length > frame.length) length = frame.length;
  return decodeIPv6(frame, length, 0, out);
}

function decodeNothing(): Verdict {
  return Verdict.OTHER;
}

/** The payload at `at` of ethertype `type`: optional VLAN tags, then the network layer. */
function decodeEthertype(
  frame: Uint8Array,
  length: number,
  type: number,
  at: number,
  out: Decoded,
): Verdict {
  if (type === ETHERTYPE_IPV4) return decodeIPv4(frame, length, at, out);
  if (type === ETHERTYPE_IPV6) return decodeIPv6(frame, length, at, out);
  return isVlan(type) ? decodeTagged(frame, length, type, at, out) : Verdict.OTHER;
}

function isVlan(type: number): boolean {
  return type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ || type === ETHERTYPE_QINQ_OLD;
}

/** VLAN tags (rare: kept out of the common path so that it stays small enough to inline). */
function decodeTagged(
  frame: Uint8Array,
  length: number,
  type: number,
  at: number,
  out: Decoded,
): Verdict {
  while (isVlan(type)) {
    if (at + 4 > length) return Verdict.MALFORMED;
    type = (frame[at + 2] << 8) | frame[at + 3];
    at += 4;
  }
  // No tag is left: this does not come back here.
  return decodeEthertype(frame, length, type, at, out);
}

/** BSD loopback: a 4-byte address family, in host order (NULL) or network order (LOOP). */
function decodeLoopback(frame: Uint8Array, length: number, out: Decoded): Verdict {
  if (length > frame.length) length = frame.length;
  if (length < 4) return Verdict.MALFORMED;
  const le = frame[0] | (frame[1] << 8) | (frame[2] << 16) | (frame[3] << 24);
  const be = (frame[0] << 24) | (frame[1] << 16) | (frame[2] << 8) | frame[3];
  if (le === 2 || be === 2) return decodeIPv4(frame, length, 4, out);
  // AF_INET6 is 24 (NetBSD, OpenBSD), 28 (FreeBSD) or 30 (macOS): the values libpcap's
  // filters and tshark know.
  if (isInet6(le) || isInet6(be)) return decodeIPv6(frame, length, 4, out);
  return Verdict.OTHER;
}

function isInet6(af: number): boolean {
  return af === 24 || af === 28 || af === 30;
}

function decodeIPv4(frame: Uint8Array, length: number, at: number, out: Decoded): Verdict {
  if (at + 20 > length) return Verdict.MALFORMED;
  const vihl = frame[at];
  if (vihl >> 4 !== 4) return Verdict.MALFORMED;
  const headerLength = (vihl & 0x0f) << 2;
  const totalLength = (frame[at + 2] << 8) | frame[at + 3];
  if (headerLength < 20 || totalLength < headerLength) return Verdict.MALFORMED;
  const protocol = frame[at + 9];
  if (protocol !== IPPROTO_TCP && protocol !== IPPROTO_AH) return Verdict.OTHER;
  // Non-first fragments carry no TCP header.
  if ((((frame[at + 6] & 0x1f) << 8) | frame[at + 7]) !== 0) return Verdict.OTHER;
  let end = at + totalLength;
  if (end > length) end = length;
  let tcp = at + headerLength;
  if (protocol !== IPPROTO_TCP) {
    tcp = skipAuthenticationHeaders(frame, end, tcp);
    if (tcp < 0) return tcp === NOT_TCP ? Verdict.OTHER : Verdict.MALFORMED;
  }
  if (tcp + TCP_MIN_HEADER > end || frame[tcp + 12] < TCP_MIN_OFFSET_BYTE) {
    return Verdict.MALFORMED;
  }
  if (!isConnectionAttempt(frame, tcp)) return Verdict.OTHER;
  const w = out.words;
  w[0] = bigEndian32(frame, at + 12);
  w[1] = 0;
  w[2] = 0;
  w[3] = 0;
  out.family = 4;
  out.port = (frame[tcp + 2] << 8) | frame[tcp + 3];
  out.ipOffset = at;
  out.tcpOffset = tcp;
  return Verdict.EVENT;
}

function decodeIPv6(frame: Uint8Array, length: number, at: number, out: Decoded): Verdict {
  if (at + 40 > length) return Verdict.MALFORMED;
  if (frame[at] >> 4 !== 6) return Verdict.MALFORMED;
  const payloadLength = (frame[at + 4] << 8) | frame[at + 5];
  // A payload length of zero announces a jumbogram: the frame's length bounds it instead.
  let end = payloadLength === 0 ? length : at + 40 + payloadLength;
  if (end > length) end = length;
  const next = frame[at + 6];
  let cursor = at + 40;
  if (next !== IPPROTO_TCP) {
    cursor = skipExtensionHeaders(frame, end, next, cursor);
    if (cursor < 0) return cursor === NOT_TCP ? Verdict.OTHER : Verdict.MALFORMED;
  }
  const tcp = cursor;
  if (tcp + TCP_MIN_HEADER > end || frame[tcp + 12] < TCP_MIN_OFFSET_BYTE) {
    return Verdict.MALFORMED;
  }
  if (!isConnectionAttempt(frame, tcp)) return Verdict.OTHER;
  const w = out.words;
  w[0] = bigEndian32(frame, at + 8);
  w[1] = bigEndian32(frame, at + 12);
  w[2] = bigEndian32(frame, at + 16);
  w[3] = bigEndian32(frame, at + 20);
  out.family = 6;
  out.port = (frame[tcp + 2] << 8) | frame[tcp + 3];
  out.ipOffset = at;
  out.tcpOffset = tcp;
  return Verdict.EVENT;
}

/** skipExtensionHeaders or skipAuthenticationHeaders found no TCP header. */
const NOT_TCP = -1;
/** skipExtensionHeaders or skipAuthenticationHeaders found the headers cut short. */
const CUT_SHORT = -2;

/**
 * Walks IPv4 authentication headers from `cursor` (the IP protocol being AH) up to TCP. Returns
 * the TCP header's offset, {@link NOT_TCP} or {@link CUT_SHORT}. Kept apart, so that the common
 * path of plain IPv4 stays small.
 */
function skipAuthenticationHeaders(frame: Uint8Array, end: number, cursor: number): number {
  let next = IPPROTO_AH;
  while (next === IPPROTO_AH) {
    // The next header and the length, within the 8 bytes that AH has at the least.
    if (cursor + 8 > end) return CUT_SHORT;
    next = frame[cursor];
    cursor += (frame[cursor + 1] + 2) << 2;
  }
  return next === IPPROTO_TCP ? cursor : NOT_TCP;
}

/**
 * Walks the IPv6 extension headers from `cursor`, the first being `next`, up to TCP. Returns
 * the TCP header's offset, {@link NOT_TCP} or {@link CUT_SHORT}. Kept apart, so that the common
 * path of plain IPv6 stays small.
 */
function skipExtensionHeaders(frame: Uint8Array, end: number, next: number, cursor: number) {
  for (;;) {
    if (next === IPPROTO_TCP) return cursor;
    if (next === IPPROTO_HOPOPTS || next === IPPROTO_ROUTING || next === IPPROTO_DSTOPTS) {
      if (cursor + 8 > end) return CUT_SHORT;
      next = frame[cursor];
      cursor += (frame[cursor + 1] + 1) << 3;
    } else if (next === IPPROTO_FRAGMENT) {
      if (cursor + 8 > end) return CUT_SHORT;
      // Non-first fragments carry no TCP header.
      if ((((frame[cursor + 2] << 8) | frame[cursor + 3]) & 0xfff8) !== 0) return NOT_TCP;
      next = frame[cursor];
      cursor += 8;
    } else if (next === IPPROTO_AH) {
      if (cursor + 8 > end) return CUT_SHORT;
      next = frame[cursor];
      cursor += (frame[cursor + 1] + 2) << 2;
    } else {
      return NOT_TCP;
    }
  }
}

function isConnectionAttempt(frame: Uint8Array, tcp: number): boolean {
  return (frame[tcp + 13] & (TCP_SYN | TCP_ACK)) === TCP_SYN;
}

function bigEndian32(frame: Uint8Array, at: number): number {
  return (frame[at] << 24) | (frame[at + 1] << 16) | (frame[at + 2] << 8) | frame[at + 3];
}
