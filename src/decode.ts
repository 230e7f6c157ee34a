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
  /** Source address in network order: bytes 0-3 for IPv4, 0-15 for IPv6 (the rest zero). */
  readonly address: Uint8Array = new Uint8Array(16);
  /** TCP destination port. */
  port = 0;
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
  if (length > frame.length) length = frame.length;
  switch (linkType) {
    case LinkType.EN10MB:
      if (length < 14) return Verdict.MALFORMED;
      return decodeEthertype(frame, length, (frame[12] << 8) | frame[13], 14, out);
    case LinkType.LINUX_SLL:
      if (length < 16) return Verdict.MALFORMED;
      return decodeEthertype(frame, length, (frame[14] << 8) | frame[15], 16, out);
    case LinkType.LINUX_SLL2:
      if (length < 20) return Verdict.MALFORMED;
      return decodeEthertype(frame, length, (frame[0] << 8) | frame[1], 20, out);
    case LinkType.NULL:
    case LinkType.LOOP:
      return decodeLoopback(frame, length, out);
    case LinkType.RAW:
      if (length < 1) return Verdict.MALFORMED;
      switch (frame[0] >> 4) {
        case 4:
          return decodeIPv4(frame, length, 0, out);
        case 6:
          return decodeIPv6(frame, length, 0, out);
        default:
          return Verdict.OTHER;
      }
    case LinkType.IPV4:
      return decodeIPv4(frame, length, 0, out);
    case LinkType.IPV6:
      return decodeIPv6(frame, length, 0, out);
    default:
      return Verdict.OTHER;
  }
}

/** The payload at `at` of ethertype `type`: optional VLAN tags, then the network layer. */
function decodeEthertype(
  frame: Uint8Array,
  length: number,
  type: number,
  at: number,
  out: Decoded,
): Verdict {
  while (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ || type === ETHERTYPE_QINQ_OLD) {
    if (at + 4 > length) return Verdict.MALFORMED;
    type = (frame[at + 2] << 8) | frame[at + 3];
    at += 4;
  }
  return decodeL3(frame, length, at, type, out);
}

function decodeL3(
  frame: Uint8Array,
  length: number,
  at: number,
  ethertype: number,
  out: Decoded,
): Verdict {
  if (ethertype === ETHERTYPE_IPV4) return decodeIPv4(frame, length, at, out);
  if (ethertype === ETHERTYPE_IPV6) return decodeIPv6(frame, length, at, out);
  return Verdict.OTHER;
}

/** BSD loopback: a 4-byte address family, in host order (NULL) or network order (LOOP). */
function decodeLoopback(frame: Uint8Array, length: number, out: Decoded): Verdict {
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
  if (frame[at + 9] !== IPPROTO_TCP) return Verdict.OTHER;
  // Non-first fragments carry no TCP header.
  if ((((frame[at + 6] & 0x1f) << 8) | frame[at + 7]) !== 0) return Verdict.OTHER;
  let end = at + totalLength;
  if (end > length) end = length;
  const tcp = at + headerLength;
  if (tcp + TCP_MIN_HEADER > end) return Verdict.MALFORMED;
  if (!isConnectionAttempt(frame, tcp)) return Verdict.OTHER;
  const a = out.address;
  a[0] = frame[at + 12];
  a[1] = frame[at + 13];
  a[2] = frame[at + 14];
  a[3] = frame[at + 15];
  // Twelve stores cost less than a call of fill().
  for (let i = 4; i < 16; i++) a[i] = 0;
  out.family = 4;
  out.port = (frame[tcp + 2] << 8) | frame[tcp + 3];
  return Verdict.EVENT;
}

function decodeIPv6(frame: Uint8Array, length: number, at: number, out: Decoded): Verdict {
  if (at + 40 > length) return Verdict.MALFORMED;
  if (frame[at] >> 4 !== 6) return Verdict.MALFORMED;
  const payloadLength = (frame[at + 4] << 8) | frame[at + 5];
  // A payload length of zero announces a jumbogram: the frame's length bounds it instead.
  let end = payloadLength === 0 ? length : at + 40 + payloadLength;
  if (end > length) end = length;
  let next = frame[at + 6];
  let cursor = at + 40;
  for (;;) {
    if (next === IPPROTO_TCP) break;
    if (next === IPPROTO_HOPOPTS || next === IPPROTO_ROUTING || next === IPPROTO_DSTOPTS) {
      if (cursor + 8 > end) return Verdict.MALFORMED;
      next = frame[cursor];
      cursor += (frame[cursor + 1] + 1) << 3;
    } else if (next === IPPROTO_FRAGMENT) {
      if (cursor + 8 > end) return Verdict.MALFORMED;
      // Non-first fragments carry no TCP header.
      if ((((frame[cursor + 2] << 8) | frame[cursor + 3]) & 0xfff8) !== 0) return Verdict.OTHER;
      next = frame[cursor];
      cursor += 8;
    } else if (next === IPPROTO_AH) {
      if (cursor + 8 > end) return Verdict.MALFORMED;
      next = frame[cursor];
      cursor += (frame[cursor + 1] + 2) << 2;
    } else {
      return Verdict.OTHER;
    }
  }
  const tcp = cursor;
  if (tcp + TCP_MIN_HEADER > end) return Verdict.MALFORMED;
  if (!isConnectionAttempt(frame, tcp)) return Verdict.OTHER;
  const a = out.address;
  for (let i = 0; i < 16; i++) a[i] = frame[at + 8 + i];
  out.family = 6;
  out.port = (frame[tcp + 2] << 8) | frame[tcp + 3];
  return Verdict.EVENT;
}

function isConnectionAttempt(frame: Uint8Array, tcp: number): boolean {
  return (frame[tcp + 13] & (TCP_SYN | TCP_ACK)) === TCP_SYN;
}
