import assert from "node:assert/strict";
import { Decoded, decodeFrame, isSupportedLinkType, LinkType, Verdict } from "./decode.ts";
import { type Bytes, cat, u16 } from "../tests/_bytes.ts";

// ---------------------------------------------------------------------------------------------
// Frame builders: every header written byte by byte.
// ---------------------------------------------------------------------------------------------

const FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10, URG = 0x20, ECE = 0x40;
const CWR = 0x80;

/** A TCP header (20 bytes, plus `options`), source port 40000. */
function tcp(dport: number, flags = SYN, options: Bytes = []): Uint8Array {
  assert.equal(options.length % 4, 0);
  const offset = 5 + options.length / 4;
  return cat(
    u16(40000),
    u16(dport),
    [0x11, 0x22, 0x33, 0x44], // sequence number
    [0, 0, 0, 0], // acknowledgement number
    [offset << 4, flags],
    u16(64240), // window
    [0xab, 0xcd], // checksum
    [0, 0], // urgent pointer
    options,
  );
}

function udp(dport: number): Uint8Array {
  return cat(u16(5353), u16(dport), u16(8), [0, 0]);
}

interface V4Options {
  protocol?: number;
  /** Flags and fragment offset word (bit 0x2000 = MF, 0x4000 = DF, low 13 bits = offset). */
  fragment?: number;
  options?: Bytes;
  /** Overrides the total length field. */
  totalLength?: number;
  /** Overrides the IHL nibble. */
  ihl?: number;
  version?: number;
  src?: Bytes;
}

const V4_SRC = [192, 0, 2, 7];
const V4_DST = [198, 51, 100, 1];

function ipv4(payload: Bytes, o: V4Options = {}): Uint8Array {
  const options = o.options ?? [];
  assert.equal(options.length % 4, 0);
  const ihl = o.ihl ?? 5 + options.length / 4;
  const total = o.totalLength ?? 20 + options.length + payload.length;
  return cat(
    [((o.version ?? 4) << 4) | ihl, 0],
    u16(total),
    u16(0x1234), // identification
    u16(o.fragment ?? 0x4000),
    [64, o.protocol ?? 6],
    [0, 0], // checksum
    o.src ?? V4_SRC,
    V4_DST,
    options,
    payload,
  );
}

const V6_SRC = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xca, 0xfe, 0, 0x01];
const V6_DST = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02];

function ipv6(next: number, payload: Bytes, payloadLength = payload.length, src = V6_SRC) {
  return cat([0x60, 0, 0, 0], u16(payloadLength), [next, 64], src, V6_DST, payload);
}

/** A generic extension header (hop-by-hop, routing, destination options) of (len + 1) * 8. */
function ext(next: number, len: number): Uint8Array {
  const h = new Uint8Array((len + 1) * 8);
  h[0] = next;
  h[1] = len;
  for (let i = 2; i < h.length; i++) h[i] = 1; // PadN-ish filler, not zero on purpose
  return h;
}

/** An IPv6 fragment header; `offset` in 8-byte units, `more` the M flag. */
function frag6(next: number, offset: number, more: boolean): Uint8Array {
  return cat([next, 0], u16((offset << 3) | (more ? 1 : 0)), [0xde, 0xad, 0xbe, 0xef]);
}

/** An authentication header: payload length `len` means (len + 2) * 4 bytes. */
function ah(next: number, len: number): Uint8Array {
  const h = new Uint8Array((len + 2) * 4);
  h[0] = next;
  h[1] = len;
  h.fill(0x5a, 2);
  return h;
}

const ETH_IPV4 = 0x0800, ETH_IPV6 = 0x86dd, ETH_ARP = 0x0806;

function ethernet(type: number, payload: Bytes, tags: [tpid: number, vid: number][] = []) {
  const mac = [[0x02, 0, 0, 0, 0, 0x01], [0x02, 0, 0, 0, 0, 0x02]];
  if (tags.length === 0) return cat(mac[0], mac[1], u16(type), payload);
  // MAC addresses, then TPID TCI per tag, then the ethertype.
  const tagBytes = tags.flatMap(([tpid, vid]) => [...u16(tpid), ...u16(vid)]);
  return cat(mac[0], mac[1], tagBytes, u16(type), payload);
}

function sll(protocol: number, payload: Bytes): Uint8Array {
  return cat(
    u16(0), // packet type: to us
    u16(1), // ARPHRD_ETHER
    u16(6), // address length
    [0x02, 0, 0, 0, 0, 0x01, 0, 0], // address, padded to 8
    u16(protocol),
    payload,
  );
}

function sll2(protocol: number, payload: Bytes): Uint8Array {
  return cat(
    u16(protocol),
    [0, 0], // reserved
    [0, 0, 0, 3], // interface index
    u16(1), // ARPHRD_ETHER
    [0], // packet type
    [6], // address length
    [0x02, 0, 0, 0, 0, 0x01, 0, 0],
    payload,
  );
}

/** BSD NULL: the address family in host (little-endian here) order. */
function nullHeader(af: number, payload: Bytes): Uint8Array {
  return cat([af & 0xff, (af >> 8) & 0xff, (af >> 16) & 0xff, af >>> 24], payload);
}

/** OpenBSD LOOP: the address family in network order. */
function loopHeader(af: number, payload: Bytes): Uint8Array {
  return cat([af >>> 24, (af >> 16) & 0xff, (af >> 8) & 0xff, af & 0xff], payload);
}

interface Result {
  verdict: number;
  family: number;
  address: number[];
  port: number;
}

function decode(linkType: number, frame: Uint8Array, length = frame.length): Result {
  const out = new Decoded();
  const verdict = decodeFrame(linkType, frame, length, out);
  return { verdict, family: out.family, address: [...out.address], port: out.port };
}

function v4Key(address: Bytes = V4_SRC): number[] {
  return [...address, ...new Array(12).fill(0)];
}

function assertEvent(r: Result, family: 4 | 6, address: number[], port: number) {
  assert.equal(r.verdict, Verdict.EVENT);
  assert.equal(r.family, family);
  assert.deepEqual(r.address, address);
  assert.equal(r.port, port);
}

const SYN_V4 = () => ipv4(tcp(443));
const SYN_V6 = () => ipv6(6, tcp(8443));

// ---------------------------------------------------------------------------------------------
// Link types
// ---------------------------------------------------------------------------------------------

Deno.test("Ethernet: plain IPv4 and IPv6 SYNs are events with the right key", () => {
  assertEvent(decode(LinkType.EN10MB, ethernet(ETH_IPV4, SYN_V4())), 4, v4Key(), 443);
  assertEvent(decode(LinkType.EN10MB, ethernet(ETH_IPV6, SYN_V6())), 6, V6_SRC, 8443);
});

Deno.test("Ethernet: one 802.1Q tag, QinQ (0x88a8 + 0x8100), 0x9100 and three tags", () => {
  const cases: [number, number][][] = [
    [[0x8100, 10]],
    [[0x88a8, 100], [0x8100, 10]],
    [[0x9100, 7]],
    [[0x88a8, 1], [0x8100, 2], [0x8100, 3]],
  ];
  for (const tags of cases) {
    const v4 = ethernet(ETH_IPV4, SYN_V4(), tags);
    assert.equal(v4.length, 14 + 4 * tags.length + 40);
    assertEvent(decode(LinkType.EN10MB, v4), 4, v4Key(), 443);
    assertEvent(decode(LinkType.EN10MB, ethernet(ETH_IPV6, SYN_V6(), tags)), 6, V6_SRC, 8443);
    // The same tags in front of ARP: not an event.
    assert.equal(decode(LinkType.EN10MB, ethernet(ETH_ARP, new Uint8Array(28), tags)).verdict, 0);
  }
});

Deno.test("Ethernet: a tag cut short is malformed", () => {
  const frame = ethernet(ETH_IPV4, SYN_V4(), [[0x8100, 10], [0x8100, 11]]);
  // Cut inside the second tag (at 14 + 4 + 2).
  assert.equal(decode(LinkType.EN10MB, frame.subarray(0, 20)).verdict, Verdict.MALFORMED);
  assert.equal(decode(LinkType.EN10MB, frame, 21).verdict, Verdict.MALFORMED);
});

Deno.test("Ethernet: ARP and other ethertypes are not events", () => {
  const arp = ethernet(ETH_ARP, new Uint8Array(28));
  assert.equal(decode(LinkType.EN10MB, arp).verdict, Verdict.OTHER);
  // An IPv4 SYN behind an unknown ethertype is not looked at.
  assert.equal(decode(LinkType.EN10MB, ethernet(0x88cc, SYN_V4())).verdict, Verdict.OTHER);
  // Ethertype IPv6 with an IPv4 packet behind it: the version does not match.
  const v4InV6 = ethernet(ETH_IPV6, SYN_V6().fill(0x45, 0, 1));
  assert.equal(decode(LinkType.EN10MB, v4InV6).verdict, Verdict.MALFORMED);
  assert.equal(decode(LinkType.EN10MB, ethernet(ETH_IPV4, SYN_V6())).verdict, Verdict.MALFORMED);
});

Deno.test("Linux cooked v1 (16-byte header, protocol at 14)", () => {
  const v4 = sll(ETH_IPV4, SYN_V4());
  assert.equal(v4.length, 16 + 40);
  assert.deepEqual([v4[14], v4[15]], [0x08, 0x00]);
  assertEvent(decode(LinkType.LINUX_SLL, v4), 4, v4Key(), 443);
  assertEvent(decode(LinkType.LINUX_SLL, sll(ETH_IPV6, SYN_V6())), 6, V6_SRC, 8443);
  // An 802.1Q tag after the cooked header.
  assertEvent(
    decode(LinkType.LINUX_SLL, sll(0x8100, cat(u16(10), u16(ETH_IPV4), SYN_V4()))),
    4,
    v4Key(),
    443,
  );
  assert.equal(decode(LinkType.LINUX_SLL, sll(ETH_ARP, new Uint8Array(28))).verdict, 0);
  assert.equal(decode(LinkType.LINUX_SLL, v4.subarray(0, 15)).verdict, Verdict.MALFORMED);
});

Deno.test("Linux cooked v2 (20-byte header, protocol at 0)", () => {
  const v4 = sll2(ETH_IPV4, SYN_V4());
  assert.equal(v4.length, 20 + 40);
  assertEvent(decode(LinkType.LINUX_SLL2, v4), 4, v4Key(), 443);
  assertEvent(decode(LinkType.LINUX_SLL2, sll2(ETH_IPV6, SYN_V6())), 6, V6_SRC, 8443);
  assert.equal(decode(LinkType.LINUX_SLL2, sll2(ETH_ARP, new Uint8Array(28))).verdict, 0);
  assert.equal(decode(LinkType.LINUX_SLL2, v4.subarray(0, 19)).verdict, Verdict.MALFORMED);
  // An SLL v1 frame read as v2 has its protocol in the wrong place: not an event.
  assert.notEqual(decode(LinkType.LINUX_SLL2, sll(ETH_IPV4, SYN_V4())).verdict, Verdict.EVENT);
});

// Linux cooked v1 frames have their 802.1Q/802.1ad tags walked, and so do Ethernet frames; v2
// frames do not: the decoder goes straight from the protocol field to the network layer, so a
// tagged SYN is OTHER, though pulso's BPF filter lets such frames through for v2 too
// ("ether proto 0x8100 or …") and tshark (the corpus's ground truth) counts it.
Deno.test("Linux cooked v2: an 802.1Q tag after the header is walked as in v1", () => {
  const tagged = sll2(0x8100, cat(u16(10), u16(ETH_IPV4), SYN_V4()));
  assertEvent(decode(LinkType.LINUX_SLL2, tagged), 4, v4Key(), 443);
  const qinq = sll2(0x88a8, cat(u16(1), u16(0x8100), u16(2), u16(ETH_IPV6), SYN_V6()));
  assertEvent(decode(LinkType.LINUX_SLL2, qinq), 6, V6_SRC, 8443);
});

Deno.test("BSD NULL: address family in host (little-endian) order", () => {
  assertEvent(decode(LinkType.NULL, nullHeader(2, SYN_V4())), 4, v4Key(), 443);
  for (const af of [24, 28, 30]) {
    const frame = nullHeader(af, SYN_V6());
    assert.equal(frame[0], af);
    assertEvent(decode(LinkType.NULL, frame), 6, V6_SRC, 8443);
  }
  // Linux's and Windows' AF_INET6 (10, 23) are not BSD loopback families, as for tshark and
  // libpcap's filters; unknown families are not events; IPv4 behind an IPv6 family is malformed.
  assert.equal(decode(LinkType.NULL, nullHeader(10, SYN_V6())).verdict, Verdict.OTHER);
  assert.equal(decode(LinkType.NULL, nullHeader(23, SYN_V6())).verdict, Verdict.OTHER);
  assert.equal(decode(LinkType.NULL, nullHeader(7, SYN_V4())).verdict, Verdict.OTHER);
  assert.equal(decode(LinkType.NULL, nullHeader(24, SYN_V4())).verdict, Verdict.MALFORMED);
  assert.equal(decode(LinkType.NULL, new Uint8Array([2, 0, 0])).verdict, Verdict.MALFORMED);
});

Deno.test("OpenBSD LOOP: address family in network order", () => {
  const v4 = loopHeader(2, SYN_V4());
  assert.deepEqual([...v4.subarray(0, 4)], [0, 0, 0, 2]);
  assertEvent(decode(LinkType.LOOP, v4), 4, v4Key(), 443);
  for (const af of [24, 28, 30]) {
    assertEvent(decode(LinkType.LOOP, loopHeader(af, SYN_V6())), 6, V6_SRC, 8443);
  }
  assert.equal(decode(LinkType.LOOP, loopHeader(17, SYN_V6())).verdict, Verdict.OTHER);
});

Deno.test("raw IP link type RAW (12); 14 and 101 are not supported here", () => {
  // libpcap maps the file link type 101 to DLT_RAW; DLT 14 is raw IP only on OpenBSD.
  assert.equal(isSupportedLinkType(14), false);
  assert.equal(isSupportedLinkType(101), false);
  for (const lt of [LinkType.RAW]) {
    assertEvent(decode(lt, SYN_V4()), 4, v4Key(), 443);
    assertEvent(decode(lt, SYN_V6()), 6, V6_SRC, 8443);
    // Neither version 4 nor 6.
    assert.equal(decode(lt, ipv4(tcp(443), { version: 5 })).verdict, Verdict.OTHER);
    assert.equal(decode(lt, new Uint8Array(0)).verdict, Verdict.MALFORMED);
  }
});

Deno.test("IPV4 (228) and IPV6 (229) link types", () => {
  assertEvent(decode(LinkType.IPV4, SYN_V4()), 4, v4Key(), 443);
  assertEvent(decode(LinkType.IPV6, SYN_V6()), 6, V6_SRC, 8443);
  // The other version behind a fixed-version link type is malformed.
  assert.equal(decode(LinkType.IPV4, SYN_V6()).verdict, Verdict.MALFORMED);
  assert.equal(decode(LinkType.IPV6, SYN_V4()).verdict, Verdict.MALFORMED);
});

Deno.test("every LinkType value is supported and decodes a SYN", () => {
  const framed: Record<keyof typeof LinkType, Uint8Array> = {
    NULL: nullHeader(2, SYN_V4()),
    EN10MB: ethernet(ETH_IPV4, SYN_V4()),
    RAW: SYN_V4(),
    LOOP: loopHeader(2, SYN_V4()),
    LINUX_SLL: sll(ETH_IPV4, SYN_V4()),
    IPV4: SYN_V4(),
    IPV6: SYN_V6(),
    LINUX_SLL2: sll2(ETH_IPV4, SYN_V4()),
  };
  for (const [name, lt] of Object.entries(LinkType)) {
    assert.ok(isSupportedLinkType(lt), name);
    const frame = framed[name as keyof typeof LinkType];
    assert.equal(decode(lt, frame).verdict, Verdict.EVENT, name);
  }
});

Deno.test("isSupportedLinkType rejects other link types, decodeFrame says OTHER for them", () => {
  for (const lt of [127, 105, 9, 104, 2, 13, 100, 107, 230, 277, -1]) {
    assert.equal(isSupportedLinkType(lt), false, String(lt));
    assert.equal(decode(lt, ethernet(ETH_IPV4, SYN_V4())).verdict, Verdict.OTHER, String(lt));
  }
});

// ---------------------------------------------------------------------------------------------
// IPv4
// ---------------------------------------------------------------------------------------------

Deno.test("IPv4 with options (IHL > 5): the TCP header is found after them", () => {
  // Router alert, then NOP NOP NOP EOL; then a 12-byte timestamp-like filler.
  const options = [0x94, 0x04, 0, 0, 1, 1, 1, 0];
  const frame = ipv4(tcp(22), { options, src: [10, 9, 8, 7] });
  assert.equal(frame[0], 0x47);
  assertEvent(decode(LinkType.RAW, frame), 4, v4Key([10, 9, 8, 7]), 22);
  // The longest header: IHL 15, 40 bytes of options.
  const long = ipv4(tcp(65535), { options: new Array(40).fill(1) });
  assert.equal(long[0], 0x4f);
  assertEvent(decode(LinkType.EN10MB, ethernet(ETH_IPV4, long)), 4, v4Key(), 65535);
  // Options, then a SYN+ACK.
  const synAck = ipv4(tcp(22, SYN | ACK), { options: [0, 0, 0, 0] });
  assert.equal(decode(LinkType.RAW, synAck).verdict, Verdict.OTHER);
});

Deno.test("IPv4 fragments: non-first is OTHER, first with MF is an event", () => {
  for (const fragment of [0x0001, 0x2001, 0x1fff, 0x3fff, 0x0100, 0x4010]) {
    const r = decode(LinkType.RAW, ipv4(tcp(443), { fragment }));
    assert.equal(r.verdict, Verdict.OTHER, fragment.toString(16));
  }
  assertEvent(decode(LinkType.RAW, ipv4(tcp(443), { fragment: 0x2000 })), 4, v4Key(), 443);
  assertEvent(decode(LinkType.RAW, ipv4(tcp(443), { fragment: 0x0000 })), 4, v4Key(), 443);
  // The reserved bit is not part of the offset.
  assertEvent(decode(LinkType.RAW, ipv4(tcp(443), { fragment: 0x8000 })), 4, v4Key(), 443);
});

Deno.test("IPv4: IHL < 5 and total length shorter than the headers are malformed", () => {
  for (const ihl of [0, 1, 4]) {
    assert.equal(decode(LinkType.RAW, ipv4(tcp(443), { ihl })).verdict, Verdict.MALFORMED);
  }
  // Shorter than the IP header.
  assert.equal(decode(LinkType.RAW, ipv4(tcp(443), { totalLength: 19 })).verdict, 2);
  assert.equal(decode(LinkType.RAW, ipv4(tcp(443), { totalLength: 0 })).verdict, 2);
  // Longer than the IP header, shorter than IP + 20 bytes of TCP.
  for (const totalLength of [20, 30, 39]) {
    assert.equal(
      decode(LinkType.RAW, ipv4(tcp(443), { totalLength })).verdict,
      Verdict.MALFORMED,
      String(totalLength),
    );
  }
  // With options the threshold moves: 24 + 20 needed.
  const opt = { options: [1, 1, 1, 0] };
  assert.equal(decode(LinkType.RAW, ipv4(tcp(443), { ...opt, totalLength: 43 })).verdict, 2);
  assert.equal(decode(LinkType.RAW, ipv4(tcp(443), { ...opt, totalLength: 44 })).verdict, 1);
  // IHL pointing past the end of the frame, with a TCP protocol.
  const past = ipv4(tcp(443), { ihl: 15, totalLength: 60 });
  assert.equal(past.length, 40);
  assert.equal(decode(LinkType.RAW, past).verdict, Verdict.MALFORMED);
});

Deno.test("IPv4: a total length past the captured bytes (snaplen) still counts", () => {
  // Captured with a small snaplen: only the 20 bytes of TCP are present.
  const frame = ipv4(tcp(443), { totalLength: 1500 });
  assertEvent(decode(LinkType.RAW, frame), 4, v4Key(), 443);
  // Trailing Ethernet padding after the IP packet does not matter either.
  assertEvent(
    decode(LinkType.EN10MB, cat(ethernet(ETH_IPV4, SYN_V4()), new Uint8Array(6))),
    4,
    v4Key(),
    443,
  );
});

Deno.test("IPv4 UDP, ICMP and unknown protocols are not events", () => {
  assert.equal(decode(LinkType.RAW, ipv4(udp(443), { protocol: 17 })).verdict, Verdict.OTHER);
  assert.equal(decode(LinkType.RAW, ipv4(tcp(443), { protocol: 17 })).verdict, Verdict.OTHER);
  assert.equal(decode(LinkType.RAW, ipv4(new Uint8Array(8), { protocol: 1 })).verdict, 0);
  // IP-in-IP carrying a SYN: the inner header is not looked at.
  assert.equal(decode(LinkType.RAW, ipv4(SYN_V4(), { protocol: 4 })).verdict, Verdict.OTHER);
});

Deno.test("IPv4 authentication header (AH) before TCP: walked, repeated, behind any link", () => {
  const src = [10, 20, 30, 40];
  // Payload length 1: 12 bytes; 4: 24 bytes; 0: 8 bytes (no ICV).
  for (const len of [1, 4, 0, 255]) {
    const frame = ipv4(cat(ah(6, len), tcp(993)), { protocol: 51, src });
    assert.equal(frame.length, 20 + (len + 2) * 4 + 20);
    assertEvent(decode(LinkType.RAW, frame), 4, v4Key(src), 993);
  }
  const one = () => ipv4(cat(ah(6, 1), tcp(8080)), { protocol: 51 });
  assertEvent(decode(LinkType.EN10MB, ethernet(ETH_IPV4, one())), 4, v4Key(), 8080);
  assertEvent(decode(LinkType.EN10MB, ethernet(ETH_IPV4, one(), THREE_TAGS)), 4, v4Key(), 8080);
  assertEvent(decode(LinkType.LINUX_SLL, sll(ETH_IPV4, one())), 4, v4Key(), 8080);
  assertEvent(decode(LinkType.LINUX_SLL2, sll2(ETH_IPV4, one())), 4, v4Key(), 8080);
  assertEvent(decode(LinkType.NULL, nullHeader(2, one())), 4, v4Key(), 8080);
  assertEvent(decode(LinkType.IPV4, one()), 4, v4Key(), 8080);
  // AH after IPv4 options; AH after AH after AH.
  const opt = ipv4(cat(ah(6, 2), tcp(22)), { protocol: 51, options: [0x94, 4, 0, 0] });
  assertEvent(decode(LinkType.RAW, opt), 4, v4Key(), 22);
  const chain = ipv4(cat(ah(51, 1), ah(51, 0), ah(6, 3), tcp(25)), { protocol: 51, src });
  assertEvent(decode(LinkType.RAW, chain), 4, v4Key(src), 25);
  // A first fragment (MF set, offset 0) is looked into, as without AH.
  const first = ipv4(cat(ah(6, 1), tcp(443)), { protocol: 51, fragment: 0x2000 });
  assertEvent(decode(LinkType.RAW, first), 4, v4Key(), 443);
});

Deno.test("IPv4 AH before UDP, ESP or a SYN+ACK, and non-first fragments: not events", () => {
  // The counterpart: the same AH before a SYN is an event.
  assert.equal(
    decode(LinkType.RAW, ipv4(cat(ah(6, 1), tcp(53)), { protocol: 51 })).verdict,
    Verdict.EVENT,
  );
  assert.equal(
    decode(LinkType.RAW, ipv4(cat(ah(17, 1), udp(53)), { protocol: 51 })).verdict,
    Verdict.OTHER,
  );
  // A TCP SYN after an AH whose next header says UDP, ESP, ICMP or IPv6 hop-by-hop.
  for (const next of [17, 50, 1, 0, 4]) {
    const frame = ipv4(cat(ah(next, 1), tcp(53)), { protocol: 51 });
    assert.equal(decode(LinkType.RAW, frame).verdict, Verdict.OTHER, String(next));
  }
  const synAck = ipv4(cat(ah(6, 1), tcp(53, SYN | ACK)), { protocol: 51 });
  assert.equal(decode(LinkType.RAW, synAck).verdict, Verdict.OTHER);
  for (const fragment of [0x0001, 0x2001, 0x1fff]) {
    const frame = ipv4(cat(ah(6, 1), tcp(53)), { protocol: 51, fragment });
    assert.equal(decode(LinkType.RAW, frame).verdict, Verdict.OTHER, fragment.toString(16));
  }
  // A non-first fragment whose bytes are not an AH at all (too short for one): still OTHER.
  const tail = ipv4([1, 2, 3], { protocol: 51, fragment: 0x0010 });
  assert.equal(decode(LinkType.RAW, tail).verdict, Verdict.OTHER);
});

Deno.test("IPv4 AH cut short, or with a length past the end, is malformed", () => {
  // The AH itself shorter than 8 bytes, by the frame or by the total length.
  assert.equal(
    decode(LinkType.RAW, ipv4([6, 1, 0, 0, 0], { protocol: 51 })).verdict,
    Verdict.MALFORMED,
  );
  assert.equal(decode(LinkType.RAW, ipv4([], { protocol: 51 })).verdict, Verdict.MALFORMED);
  const whole = () => cat(ah(6, 1), tcp(443));
  assert.equal(
    decode(LinkType.RAW, ipv4(whole(), { protocol: 51, totalLength: 20 + 7 })).verdict,
    Verdict.MALFORMED,
  );
  // The total length leaves 19 bytes of TCP after the AH; 20 is enough.
  for (const [tcpBytes, verdict] of [[19, Verdict.MALFORMED], [20, Verdict.EVENT]] as const) {
    const frame = ipv4(whole(), { protocol: 51, totalLength: 20 + 12 + tcpBytes });
    assert.equal(decode(LinkType.RAW, frame).verdict, verdict, String(tcpBytes));
  }
  // A length pointing past the end, in the first AH or in a second one.
  const long = whole();
  long[1] = 200;
  assert.equal(decode(LinkType.RAW, ipv4(long, { protocol: 51 })).verdict, Verdict.MALFORMED);
  const second = cat(ah(51, 1), ah(6, 1), tcp(443));
  second[13] = 100;
  assert.equal(decode(LinkType.RAW, ipv4(second, { protocol: 51 })).verdict, Verdict.MALFORMED);
  assert.equal(
    decode(LinkType.EN10MB, ethernet(ETH_IPV4, ipv4(second, { protocol: 51 }))).verdict,
    Verdict.MALFORMED,
  );
});

// ---------------------------------------------------------------------------------------------
// IPv6
// ---------------------------------------------------------------------------------------------

Deno.test("IPv6: hop-by-hop, routing, destination options and fragment before TCP", () => {
  const chain = cat(
    ext(43, 0), // hop-by-hop (8 bytes), next routing
    ext(60, 2), // routing (24 bytes), next destination options
    ext(44, 1), // destination options (16 bytes), next fragment
    frag6(6, 0, true), // first fragment, more to come; next TCP
    tcp(993),
  );
  const frame = ipv6(0, chain);
  assert.equal(frame.length, 40 + 8 + 24 + 16 + 8 + 20);
  assertEvent(decode(LinkType.RAW, frame), 6, V6_SRC, 993);
  assertEvent(decode(LinkType.EN10MB, ethernet(ETH_IPV6, frame)), 6, V6_SRC, 993);
  // Each extension header alone.
  for (const [next, header] of [[0, ext(6, 3)], [43, ext(6, 0)], [60, ext(6, 255)]] as const) {
    assertEvent(decode(LinkType.RAW, ipv6(next, cat(header, tcp(25)))), 6, V6_SRC, 25);
  }
  assertEvent(decode(LinkType.RAW, ipv6(44, cat(frag6(6, 0, false), tcp(25)))), 6, V6_SRC, 25);
  // Authentication header: length in 4-byte units, plus 2.
  assertEvent(decode(LinkType.RAW, ipv6(51, cat(ah(6, 4), tcp(25)))), 6, V6_SRC, 25);
  assertEvent(decode(LinkType.RAW, ipv6(51, cat(ah(6, 1), tcp(25)))), 6, V6_SRC, 25);
});

Deno.test("IPv6: a SYN+ACK behind extension headers is not an event", () => {
  const frame = ipv6(0, cat(ext(60, 0), ext(6, 0), tcp(443, SYN | ACK)));
  assert.equal(decode(LinkType.RAW, frame).verdict, Verdict.OTHER);
});

Deno.test("IPv6: non-first fragments are OTHER", () => {
  for (const [offset, more] of [[1, true], [1, false], [185, true], [8191, false]] as const) {
    const frame = ipv6(44, cat(frag6(6, offset, more), tcp(443)));
    assert.equal(decode(LinkType.RAW, frame).verdict, Verdict.OTHER, `${offset} ${more}`);
  }
  // Behind a hop-by-hop header too.
  const deep = ipv6(0, cat(ext(44, 0), frag6(6, 3, false), tcp(443)));
  assert.equal(decode(LinkType.RAW, deep).verdict, Verdict.OTHER);
});

Deno.test("IPv6: extension header lengths pointing past the end are malformed", () => {
  // Hop-by-hop claiming 11 * 8 = 88 bytes, but only 8 + 20 follow.
  const long = cat(ext(6, 0), tcp(443));
  long[1] = 10;
  assert.equal(decode(LinkType.RAW, ipv6(0, long)).verdict, Verdict.MALFORMED);
  // The payload length cuts the chain short although the frame has the bytes.
  const chain = cat(ext(60, 0), ext(6, 0), tcp(443));
  assert.equal(decode(LinkType.RAW, ipv6(0, chain, 12)).verdict, Verdict.MALFORMED);
  assert.equal(decode(LinkType.RAW, ipv6(0, chain, 16 + 19)).verdict, Verdict.MALFORMED);
  assert.equal(decode(LinkType.RAW, ipv6(0, chain, 16 + 20)).verdict, Verdict.EVENT);
  // Routing header length past the end.
  const routing = cat(ext(6, 0), tcp(443));
  routing[1] = 255;
  assert.equal(decode(LinkType.RAW, ipv6(43, routing)).verdict, Verdict.MALFORMED);
  // AH length past the end.
  const auth = cat(ah(6, 1), tcp(443));
  auth[1] = 200;
  assert.equal(decode(LinkType.RAW, ipv6(51, auth)).verdict, Verdict.MALFORMED);
  // An extension header itself cut short (fewer than 8 bytes).
  assert.equal(decode(LinkType.RAW, ipv6(0, [6, 0, 1, 1])).verdict, Verdict.MALFORMED);
  assert.equal(decode(LinkType.RAW, ipv6(44, [6, 0, 0])).verdict, Verdict.MALFORMED);
});

Deno.test("IPv6: payload length shorter than TCP is malformed; zero (jumbogram) uses the frame", () => {
  assert.equal(decode(LinkType.RAW, ipv6(6, tcp(443), 19)).verdict, Verdict.MALFORMED);
  assert.equal(decode(LinkType.RAW, ipv6(6, tcp(443), 1)).verdict, Verdict.MALFORMED);
  assertEvent(decode(LinkType.RAW, ipv6(6, tcp(443), 0)), 6, V6_SRC, 443);
  // A payload length past the captured bytes (snaplen) still counts.
  assertEvent(decode(LinkType.RAW, ipv6(6, tcp(443), 9000)), 6, V6_SRC, 443);
  // A version nibble other than 6 is malformed.
  const bad = SYN_V6();
  bad[0] = 0x40;
  assert.equal(decode(LinkType.IPV6, bad).verdict, Verdict.MALFORMED);
});

Deno.test("IPv6: UDP, ICMPv6, no-next-header and ESP are not events", () => {
  for (const next of [17, 58, 59, 50]) {
    assert.equal(decode(LinkType.RAW, ipv6(next, tcp(443))).verdict, Verdict.OTHER, `${next}`);
  }
  assert.equal(decode(LinkType.RAW, ipv6(0, cat(ext(17, 0), udp(53)))).verdict, Verdict.OTHER);
});

// ---------------------------------------------------------------------------------------------
// TCP flags
// ---------------------------------------------------------------------------------------------

Deno.test("TCP flags: SYN without ACK is an event whatever the other flags", () => {
  for (
    const flags of [SYN, SYN | FIN, SYN | RST, SYN | PSH | URG, SYN | ECE | CWR, 0xff & ~ACK]
  ) {
    assert.equal(decode(LinkType.RAW, ipv4(tcp(80, flags))).verdict, Verdict.EVENT, `${flags}`);
    assert.equal(decode(LinkType.RAW, ipv6(6, tcp(80, flags))).verdict, 1, `${flags}`);
  }
  for (const flags of [SYN | ACK, ACK, 0, FIN, RST, RST | ACK, FIN | ACK, PSH | ACK, 0xff]) {
    assert.equal(decode(LinkType.RAW, ipv4(tcp(80, flags))).verdict, Verdict.OTHER, `${flags}`);
    assert.equal(decode(LinkType.RAW, ipv6(6, tcp(80, flags))).verdict, 0, `${flags}`);
  }
});

/** A TCP header whose data offset is `offset`, with the options it announces when it is 5+. */
function tcpWithOffset(dport: number, offset: number, flags = SYN): Uint8Array {
  const header = tcp(dport, flags, new Array(4 * Math.max(0, offset - 5)).fill(1));
  header[12] = offset << 4;
  return header;
}

Deno.test("TCP data offset: 0 to 4 are malformed, 5 to 15 count, IPv4 and IPv6", () => {
  const src = [10, 1, 1, 1];
  const encapsulations: [string, number, (tcp: Uint8Array) => Uint8Array, 4 | 6, number[]][] = [
    ["v4", LinkType.RAW, (t) => ipv4(t, { src }), 4, v4Key(src)],
    ["v4 options", LinkType.RAW, (t) => ipv4(t, { src, options: [1, 1, 1, 0] }), 4, v4Key(src)],
    ["v4 AH", LinkType.RAW, (t) => ipv4(cat(ah(6, 1), t), { src, protocol: 51 }), 4, v4Key(src)],
    ["eth v4", LinkType.EN10MB, (t) => ethernet(ETH_IPV4, ipv4(t, { src })), 4, v4Key(src)],
    ["v6", LinkType.RAW, (t) => ipv6(6, t), 6, V6_SRC],
    ["v6 ext", LinkType.RAW, (t) => ipv6(0, cat(ext(44, 0), frag6(6, 0, true), t)), 6, V6_SRC],
    ["v6 AH", LinkType.IPV6, (t) => ipv6(60, cat(ext(51, 1), ah(6, 1), t)), 6, V6_SRC],
    ["sll v6", LinkType.LINUX_SLL, (t) => sll(ETH_IPV6, ipv6(6, t)), 6, V6_SRC],
  ];
  for (const [name, lt, wrap, family, address] of encapsulations) {
    const events: number[] = [], malformed: number[] = [];
    for (let offset = 0; offset < 16; offset++) {
      const r = decode(lt, wrap(tcpWithOffset(1000 + offset, offset)));
      if (r.verdict === Verdict.EVENT) {
        assertEvent(r, family, address, 1000 + offset);
        events.push(offset);
      } else {
        assert.equal(r.verdict, Verdict.MALFORMED, `${name} offset ${offset}`);
        malformed.push(offset);
      }
    }
    assert.deepEqual(malformed, [0, 1, 2, 3, 4], name);
    assert.deepEqual(events, [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], name);
    // The header is impossible whatever the flags: a SYN+ACK or a bare ACK too.
    for (const flags of [SYN | ACK, ACK, 0]) {
      assert.equal(decode(lt, wrap(tcpWithOffset(80, 4, flags))).verdict, Verdict.MALFORMED);
      assert.equal(decode(lt, wrap(tcpWithOffset(80, 5, flags))).verdict, Verdict.OTHER);
    }
  }
  // Only the high nibble is the offset: the reserved bits and the NS flag below it do not count.
  const ns = tcpWithOffset(443, 5);
  ns[12] |= 0x0f;
  assertEvent(decode(LinkType.RAW, ipv4(ns)), 4, v4Key(), 443);
  const low = tcpWithOffset(443, 4);
  low[12] |= 0x0f;
  assert.equal(decode(LinkType.RAW, ipv4(low)).verdict, Verdict.MALFORMED);
});

Deno.test("TCP options after the 20-byte header do not matter", () => {
  const mss = [2, 4, 0x05, 0xb4, 1, 1, 4, 2]; // MSS, NOP, NOP, SACK permitted
  assertEvent(decode(LinkType.RAW, ipv4(tcp(5432, SYN, mss))), 4, v4Key(), 5432);
  // Options cut by the snaplen: the fixed header is whole, so it counts.
  const frame = ipv4(tcp(5432, SYN, mss));
  assertEvent(decode(LinkType.RAW, frame, 40), 4, v4Key(), 5432);
});

// ---------------------------------------------------------------------------------------------
// Truncation and the length argument
// ---------------------------------------------------------------------------------------------

const THREE_TAGS: [number, number][] = [[0x8100, 1], [0x8100, 2], [0x8100, 3]];

/** Valid SYN frames that end right after the 20-byte TCP header. */
function tightFrames(): [string, number, Uint8Array][] {
  const v6ext = ipv6(0, cat(ext(43, 0), ext(60, 1), ext(44, 0), frag6(6, 0, true), tcp(443)));
  const v4opt = ipv4(tcp(443), { options: [0x94, 4, 0, 0] });
  return [
    ["eth v4", LinkType.EN10MB, ethernet(ETH_IPV4, SYN_V4())],
    ["eth v4 options", LinkType.EN10MB, ethernet(ETH_IPV4, v4opt)],
    ["eth vlan v6", LinkType.EN10MB, ethernet(ETH_IPV6, SYN_V6(), [[0x8100, 5]])],
    ["eth qinq v6 ext", LinkType.EN10MB, ethernet(ETH_IPV6, v6ext, [[0x88a8, 1], [0x8100, 2]])],
    [
      "eth 3 tags",
      LinkType.EN10MB,
      ethernet(ETH_IPV4, SYN_V4(), THREE_TAGS),
    ],
    ["sll v4", LinkType.LINUX_SLL, sll(ETH_IPV4, SYN_V4())],
    ["sll v6 ext", LinkType.LINUX_SLL, sll(ETH_IPV6, v6ext)],
    ["sll2 v4", LinkType.LINUX_SLL2, sll2(ETH_IPV4, v4opt)],
    ["sll2 v6", LinkType.LINUX_SLL2, sll2(ETH_IPV6, SYN_V6())],
    ["null v4", LinkType.NULL, nullHeader(2, SYN_V4())],
    ["null v6", LinkType.NULL, nullHeader(30, v6ext)],
    ["loop v6", LinkType.LOOP, loopHeader(24, SYN_V6())],
    ["raw v4", LinkType.RAW, v4opt],
    ["raw v6 ext", LinkType.RAW, v6ext],
    ["ipv4", LinkType.IPV4, SYN_V4()],
    ["ipv6", LinkType.IPV6, v6ext],
    ["ipv6 ah", LinkType.IPV6, ipv6(51, cat(ah(6, 2), tcp(443)))],
    ["raw v4 ah", LinkType.RAW, ipv4(cat(ah(6, 1), tcp(443)), { protocol: 51 })],
    [
      "eth vlan v4 options ah ah",
      LinkType.EN10MB,
      ethernet(
        ETH_IPV4,
        ipv4(cat(ah(51, 0), ah(6, 3), tcp(443)), { protocol: 51, options: [1, 1, 1, 0] }),
        [[0x8100, 5]],
      ),
    ],
  ];
}

Deno.test("truncation at every length: never an event, always MALFORMED, never a throw", () => {
  for (const [name, lt, frame] of tightFrames()) {
    assert.equal(decode(lt, frame).verdict, Verdict.EVENT, name);
    for (let length = 0; length < frame.length; length++) {
      // Cut both ways: a shorter array, and a shorter length argument over the full array.
      const cut = frame.slice(0, length);
      assert.equal(decode(lt, cut).verdict, Verdict.MALFORMED, `${name} sliced to ${length}`);
      assert.equal(decode(lt, frame, length).verdict, Verdict.MALFORMED, `${name} ${length}`);
      // A length argument past the array is bounded by the array.
      assert.equal(decode(lt, cut, frame.length).verdict, Verdict.MALFORMED, `${name} ${length}`);
    }
  }
});

Deno.test("the length argument is honoured: bytes past it are ignored", () => {
  const frame = ethernet(ETH_IPV4, SYN_V4());
  // A full frame followed by junk in the same buffer.
  const buffer = cat(frame, new Array(64).fill(0xee));
  assertEvent(decode(LinkType.EN10MB, buffer, frame.length), 4, v4Key(), 443);
  assert.equal(decode(LinkType.EN10MB, buffer, frame.length - 1).verdict, Verdict.MALFORMED);
  // An IPv6 jumbogram's end is the length argument, not the array's end.
  const jumbo = ipv6(6, tcp(443), 0);
  const big = cat(jumbo, new Array(100).fill(0));
  assert.equal(decode(LinkType.RAW, big, jumbo.length - 1).verdict, Verdict.MALFORMED);
  assert.equal(decode(LinkType.RAW, big, jumbo.length).verdict, Verdict.EVENT);
  // Negative and zero lengths are malformed, not exceptions.
  assert.equal(decode(LinkType.EN10MB, frame, -1).verdict, Verdict.MALFORMED);
  assert.equal(decode(LinkType.IPV6, SYN_V6(), 0).verdict, Verdict.MALFORMED);
});

Deno.test("decoding works on a subarray with a non-zero byte offset", () => {
  const frame = sll(ETH_IPV6, SYN_V6());
  const buffer = cat(new Array(7).fill(0x86), frame, [0xdd]);
  const view = buffer.subarray(7, 7 + frame.length);
  assertEvent(decode(LinkType.LINUX_SLL, view), 6, V6_SRC, 8443);
});

// ---------------------------------------------------------------------------------------------
// The decoded key
// ---------------------------------------------------------------------------------------------

Deno.test("the Decoded instance is reused: IPv4 after IPv6 zeroes bytes 4..15", () => {
  const out = new Decoded();
  const v6src = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
  const v6 = ipv6(6, tcp(1), 20, v6src);
  assert.equal(decodeFrame(LinkType.RAW, v6, v6.length, out), Verdict.EVENT);
  assert.equal(out.family, 6);
  assert.deepEqual([...out.address], v6src);
  assert.equal(out.port, 1);

  const v4 = ipv4(tcp(65000), { src: [203, 0, 113, 254] });
  assert.equal(decodeFrame(LinkType.RAW, v4, v4.length, out), Verdict.EVENT);
  assert.equal(out.family, 4);
  assert.deepEqual([...out.address], v4Key([203, 0, 113, 254]));
  assert.equal(out.port, 65000);

  // And back to IPv6: all 16 bytes rewritten.
  const v6b = ipv6(6, tcp(0), 20, V6_SRC);
  assert.equal(decodeFrame(LinkType.RAW, v6b, v6b.length, out), Verdict.EVENT);
  assert.equal(out.family, 6);
  assert.deepEqual([...out.address], V6_SRC);
  assert.equal(out.port, 0);
});

Deno.test("the source, not the destination, and the destination port, not the source", () => {
  const r = decode(LinkType.RAW, ipv4(tcp(8080), { src: [1, 2, 3, 4] }));
  assert.deepEqual(r.address.slice(0, 4), [1, 2, 3, 4]);
  assert.equal(r.port, 8080);
  assert.notEqual(r.port, 40000);
  const r6 = decode(LinkType.RAW, ipv6(6, tcp(8080)));
  assert.deepEqual(r6.address, V6_SRC);
  assert.notDeepEqual(r6.address, V6_DST);
});

Deno.test("Ethernet's fast path for plain IPv4 agrees with the general decoder on any mutation", () => {
  // The same IPv4 packet after an Ethernet header and as raw IPv4 (the general path), mutated at
  // random in every byte the fast path looks at, and cut at random lengths.
  let seed = 12345;
  const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const base = new Uint8Array(60);
  base.set([0x08, 0x00], 12);
  base.set([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14);
  base.set([0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02], 34);
  const interesting = [14, 16, 17, 20, 21, 23, 46, 47, 12, 13];
  const a = new Decoded();
  const b = new Decoded();
  const verdicts = new Set<number>();
  for (let i = 0; i < 20_000; i++) {
    const frame = base.slice();
    for (let m = 0; m < 1 + Math.floor(random() * 3); m++) {
      const at = random() < 0.8
        ? interesting[Math.floor(random() * interesting.length)]
        : 14 + Math.floor(random() * 46);
      frame[at] = random() < 0.5 ? Math.floor(random() * 256) : frame[at] ^ (1 << (random() * 8));
    }
    frame[12] = 0x08;
    frame[13] = 0x00;
    const length = random() < 0.2 ? Math.floor(random() * 61) : 60;
    const fast = decodeFrame(LinkType.EN10MB, frame, length, a);
    const general = decodeFrame(LinkType.IPV4, frame.subarray(14), Math.max(0, length - 14), b);
    verdicts.add(fast);
    assert.equal(
      fast,
      length < 14 ? Verdict.MALFORMED : general,
      `frame ${frame} length ${length}`,
    );
    if (fast === Verdict.EVENT) {
      assert.deepEqual([a.family, [...a.words], a.port], [b.family, [...b.words], b.port]);
      assert.deepEqual([a.ipOffset - 14, a.tcpOffset - 14], [b.ipOffset, b.tcpOffset]);
    }
  }
  assert.equal(verdicts.size, 3, "events, others and malformed frames were all met");
});
