import assert from "node:assert/strict";
import { Decoded, decodeFrame, LinkType, Verdict } from "./decode.ts";
import { DEDUPE_SECONDS, RetransmissionFilter } from "./dedupe.ts";

/** An Ethernet IPv4 or IPv6 SYN frame, decoded. */
function syn(
  options: {
    v6?: boolean;
    source?: number;
    destination?: number;
    sport?: number;
    dport?: number;
    seq?: number;
  },
): [Uint8Array, Decoded] {
  const v6 = options.v6 ?? false;
  const ip = 14;
  const tcp = ip + (v6 ? 40 : 20);
  const frame = new Uint8Array(tcp + 20);
  const view = new DataView(frame.buffer);
  view.setUint16(12, v6 ? 0x86dd : 0x0800);
  if (v6) {
    view.setUint32(ip, 0x60000000);
    view.setUint16(ip + 4, 20);
    frame[ip + 6] = 6;
    view.setUint32(ip + 8, 0x20010db8);
    view.setUint32(ip + 20, options.source ?? 1);
    view.setUint32(ip + 24, 0x20010db8);
    view.setUint32(ip + 36, options.destination ?? 2);
  } else {
    frame[ip] = 0x45;
    view.setUint16(ip + 2, 40);
    frame[ip + 9] = 6;
    view.setUint32(ip + 12, 0x0a000000 + (options.source ?? 1));
    view.setUint32(ip + 16, 0x0a000000 + (options.destination ?? 2));
  }
  view.setUint16(tcp, options.sport ?? 40000);
  view.setUint16(tcp + 2, options.dport ?? 443);
  view.setUint32(tcp + 4, options.seq ?? 12345);
  frame[tcp + 12] = 5 << 4;
  frame[tcp + 13] = 0x02;
  const decoded = new Decoded();
  assert.equal(decodeFrame(LinkType.EN10MB, frame, frame.length, decoded), Verdict.EVENT);
  return [frame, decoded];
}

Deno.test("dedupe: a SYN repeated within 60 s is a retransmission, after 60 s a new attempt", () => {
  for (const v6 of [false, true]) {
    const dedupe = new RetransmissionFilter();
    const [frame, decoded] = syn({ v6 });
    assert.equal(dedupe.repeated(frame, decoded, 1000), false);
    assert.equal(dedupe.repeated(frame, decoded, 1001), true);
    assert.equal(dedupe.repeated(frame, decoded, 1003), true);
    // Each repeat renews the memory: 58 s after the last one is still a repeat.
    assert.equal(dedupe.repeated(frame, decoded, 1003 + DEDUPE_SECONDS), true);
    assert.equal(dedupe.repeated(frame, decoded, 1003 + 2 * DEDUPE_SECONDS + 0.5), false);
    assert.equal(dedupe.retransmissions, 3);
    assert.equal(dedupe.forgotten, 0);
  }
});

Deno.test("dedupe: any difference in addresses, ports or sequence number is another attempt", () => {
  const dedupe = new RetransmissionFilter();
  const base = { source: 1, destination: 2, sport: 40000, dport: 443, seq: 7 };
  assert.equal(dedupe.repeated(...syn(base), 5), false);
  for (
    const change of [
      { source: 3 },
      { destination: 3 },
      { sport: 40001 },
      { dport: 80 },
      { seq: 8 },
      { v6: true },
    ]
  ) {
    assert.equal(dedupe.repeated(...syn({ ...base, ...change }), 5), false, JSON.stringify(change));
  }
  assert.equal(dedupe.repeated(...syn(base), 6), true);
  assert.equal(dedupe.retransmissions, 1);
});

Deno.test("dedupe: a full memory forgets the oldest attempts, and counts them", () => {
  const dedupe = new RetransmissionFilter(64);
  const attempts = Array.from({ length: 1000 }, (_, i) => syn({ seq: i }));
  for (const [frame, decoded] of attempts) assert.equal(dedupe.repeated(frame, decoded, 10), false);
  assert.ok(dedupe.forgotten >= 1000 - 64, `${dedupe.forgotten}`);
  // The last ones are still remembered, most of the first ones not.
  let repeats = 0;
  for (const [frame, decoded] of attempts.slice(-16)) {
    if (dedupe.repeated(frame, decoded, 11)) repeats++;
  }
  assert.ok(repeats >= 8, `${repeats}`);
  // Attempts older than the window go without being counted as forgotten.
  const fresh = new RetransmissionFilter(4);
  for (let i = 0; i < 4; i++) fresh.repeated(...syn({ seq: i }), 0);
  for (let i = 4; i < 8; i++) fresh.repeated(...syn({ seq: i }), 100);
  assert.equal(fresh.forgotten, 0);
  fresh.clear();
  assert.equal(fresh.retransmissions, 0);
  assert.equal(fresh.repeated(...syn({ seq: 5 }), 100), false);
  assert.throws(() => new RetransmissionFilter(100), RangeError);
});
