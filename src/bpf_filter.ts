/**
 * The BPF expression that lets only candidate connection events reach pulso: the kernel (live)
 * or libpcap (files) drops everything else before it costs anything.
 *
 * libpcap's `tcp[…]` only looks at IPv4 with TCP right after the IP header, and `ip6[…]` only
 * at a TCP header right after the fixed IPv6 header; IPv4 packets with an authentication header
 * (AH), except non-first fragments, and IPv6 packets with extension headers therefore all
 * pass, and the decoder walks their headers. On Ethernet the same test is repeated behind
 * one and two VLAN tags, and frames with three or more tags all pass.
 *
 * @module
 */
import { LinkType } from "./decode.ts";

/** IPv4 SYN without ACK (libpcap already skips non-first fragments and IPv4 options). */
const SYN_V4 = "(tcp[tcpflags] & (tcp-syn|tcp-ack)) == tcp-syn";
/** IPv6 SYN without ACK right after the fixed header (offset 40 + 13). */
const SYN_V6 = "(ip6[6] == 6 and ip6[53] & 0x12 == 0x02)";
/** IPv6 whose first next header is not TCP, UDP or ICMPv6: possibly extension headers. */
const EXT_V6 = "(ip6 and ip6[6] != 6 and ip6[6] != 17 and ip6[6] != 58)";
/** IPv4 with an authentication header, not a non-first fragment: possibly TCP behind it. */
const AH_V4 = "(ip and ip[9] == 51 and ip[6:2] & 0x1fff == 0)";
const CANDIDATE = `(${SYN_V4} or ${SYN_V6} or ${EXT_V6} or ${AH_V4})`;

/**
 * pulso's own filter for a link type, ANDed with the user's expression when there is one.
 *
 * @example
 * ```ts
 * captureFilter(LinkType.RAW, "dst port 443");
 * // "(dst port 443) and ((tcp[tcpflags] & (tcp-syn|tcp-ack)) == tcp-syn or …)"
 * ```
 */
export function captureFilter(linkType: number, user?: string): string {
  let ours = CANDIDATE;
  if (linkType === LinkType.EN10MB) {
    // Each `vlan` moves the offsets of what follows it by one tag.
    ours = `${CANDIDATE} or (vlan and (${CANDIDATE} or (vlan and (${CANDIDATE} or vlan))))`;
  } else if (linkType === LinkType.LINUX_SLL || linkType === LinkType.LINUX_SLL2) {
    ours = `${CANDIDATE} or ether proto 0x8100 or ether proto 0x88a8 or ether proto 0x9100`;
  }
  return user === undefined || user.trim() === "" ? ours : `(${user}) and (${ours})`;
}
