/**
 * The user's filter (-f) selects frames as it would alone, as tcpdump applies it, whatever
 * pulso's own filter is: for each BPF expression, paired with a Wireshark display filter that
 * selects the same frames, pulso's digest of every lab file equals the connection events that
 * tshark finds in the frames the display filter selects.
 *
 * libpcap's `vlan`, `mpls` and `pppoes` shift the offsets of every term compiled after them, so
 * a user filter ANDed with pulso's own filter moves pulso's terms too: that is what these tests
 * catch. They also check, over all frames and not only SYNs, that each display filter selects
 * exactly what tcpdump selects with the BPF expression, and that tshark's events without a filter
 * are truth.json's, so that the pairings and the tshark query can be trusted.
 *
 * Needs tshark (the frame check also needs tcpdump); skipped with a message when missing.
 */
import assert from "node:assert/strict";
import { CORPUS, have, pulso } from "./_pulso.ts";

const LAB = `${CORPUS}lab/`;

interface Truth {
  linktype: string;
  events: [source: string, port: number, count: number][];
}

const truth: Record<string, Truth> = JSON.parse(Deno.readTextFileSync(`${LAB}truth.json`));

/** Every capture of the lab, each of which truth.json describes. */
const FILES = [...Deno.readDirSync(LAB)]
  .filter((entry) => entry.isFile && entry.name !== "truth.json")
  .map((entry) => entry.name)
  .sort();

/** Files that end in damage: pulso prints the digest of the records before the cut, exits 1. */
const DAMAGED = new Set(["truncated.pcap"]);

/** Linux cooked captures (v1 and v2): libpcap has no `vlan` or `mpls` for them. */
const isSll = (file: string) => truth[file]?.linktype.startsWith("linux-sll") ?? false;

/** `(field == a || field == b ...)`: set literals changed syntax in tshark 4.0, `||` did not. */
function anyOf(field: string, ...values: string[]): string {
  return `(${values.map((v) => `${field} == ${v}`).join(" || ")})`;
}

// Display filter pieces. `#1` is the first layer of a field (the outer header): BPF looks at
// fixed offsets, so at the outermost link header and the IP header right after it.

/** BPF `vlan` (no id): the ethertype at offset 12 is 0x8100, 0x88a8 or 0x9100 (libpcap's TPIDs). */
const TAGGED = anyOf("eth.type#1", "0x8100", "0x88a8", "0x9100");
/** BPF `ip` with no `vlan` before it: the link header's own type field says IPv4. */
const IP4 = "(eth.type#1 == 0x0800 || sll.etype#1 == 0x0800)";
/** BPF `ip6` with no `vlan` before it: the link header's own type field says IPv6. */
const IP6 = "(eth.type#1 == 0x86dd || sll.etype#1 == 0x86dd)";
/**
 * BPF `tcp dst port 443` once the IPv4 or IPv6 header is known to be there: for IPv4 the protocol
 * is TCP and the fragment offset 0, and the port is read right after the header (its IHL); for
 * IPv6 the fixed header's next header is TCP: libpcap does not skip extension headers, so the
 * SYNs with hop-by-hop or destination options (v6ext.pcap) do not match.
 */
const TCP4_443 = "ip.frag_offset#1 == 0 && ip.proto#1 == 6 && tcp.dstport#1 == 443";
const TCP6_443 = "ipv6.nxt#1 == 6 && tcp.dstport#1 == 443";
/** BPF `arp` or `rarp`: the link header's own type field says ARP (0x0806) or RARP (0x8035). */
const ARP = "(eth.type#1 == 0x0806 || eth.type#1 == 0x8035 || " +
  "sll.etype#1 == 0x0806 || sll.etype#1 == 0x8035)";

/** A BPF expression and the display filter that selects the same frames of every lab file. */
interface Case {
  bpf: string;
  display: string;
  /** libpcap refuses the expression on Linux cooked captures with this message. */
  sllError?: string;
}

/**
 * The pairings. Each was checked over all frames of every lab file against tcpdump (the test
 * "each display filter selects the frames tcpdump selects" below keeps checking it). Caveats:
 * BPF rejects a frame too short for a load, where a negated display filter would accept it (no lab
 * frame is shorter than 42 bytes), and `ip.proto#1` etc. would differ from BPF's raw bytes only
 * in malformed headers, none of which the lab has.
 */
const CASES: Case[] = [
  // Untagged frames only; on a tagged file, nothing.
  { bpf: "not vlan", display: `!(${TAGGED})`, sllError: "no VLAN support" },
  // Tagged frames, whatever they carry (one or two tags); on an untagged file, nothing.
  { bpf: "vlan", display: TAGGED, sllError: "no VLAN support" },
  // `ip` comes before `vlan`, so it looks at offset 12: untagged IPv4, or any tagged frame.
  { bpf: "ip or vlan", display: `eth.type#1 == 0x0800 || ${TAGGED}`, sllError: "no VLAN support" },
  // `mpls` on Ethernet is ethertype 0x8847 only (not 0x8848); no lab frame is MPLS: all frames.
  { bpf: "not mpls", display: "!(eth.type#1 == 0x8847)", sllError: "no MPLS support" },
  // `pppoes` is the link type field 0x8864 (Ethernet or SLL); no lab frame is PPPoE: all frames.
  { bpf: "not pppoes", display: "!(eth.type#1 == 0x8864 || sll.etype#1 == 0x8864)" },
  // `ip6` after `vlan` reads the ethertype at offset 16 on EVERY frame (the shift is not
  // conditional): untagged IPv6 does not match (bytes 16-17 are inside its IPv6 header, the low
  // flow label bits), so this is tagged frames plus untagged frames whose bytes 16-17 are 86:dd.
  { bpf: "vlan or ip6", display: `${TAGGED} || frame[16:2] == 86:dd`, sllError: "no VLAN support" },
  // `tcp dst port 443` before `vlan`: untagged only, at untagged offsets; or any tagged frame.
  {
    bpf: "tcp dst port 443 or vlan",
    display: `(${IP4} && ${TCP4_443}) || (${IP6} && ${TCP6_443}) || ${TAGGED}`,
    sllError: "no VLAN support",
  },
  // `vlan` used as meant: the terms after it read 4 bytes further, so one tag and then the IP
  // header at 18. With two tags, offset 16 holds the inner TPID: nothing matches (QinQ needs
  // `vlan and vlan and ...`).
  {
    bpf: "vlan and tcp dst port 443",
    display: `${TAGGED} && ((frame[16:2] == 08:00 && ${TCP4_443}) || ` +
      `(frame[16:2] == 86:dd && ${TCP6_443}))`,
    sllError: "no VLAN support",
  },
  // Ordinary expressions. `dst port 443` is TCP, UDP or SCTP to 443 over untagged IPv4 (not a
  // fragment) or IPv6 (no extension header); on the tagged files, nothing.
  {
    bpf: "dst port 443",
    display: `(${IP4} && ip.frag_offset#1 == 0 && ((ip.proto#1 == 6 && tcp.dstport#1 == 443) || ` +
      `(ip.proto#1 == 17 && udp.dstport#1 == 443) || (ip.proto#1 == 132 && sctp.dstport#1 == 443)` +
      `)) || (${IP6} && ((ipv6.nxt#1 == 6 && tcp.dstport#1 == 443) || ` +
      `(ipv6.nxt#1 == 17 && udp.dstport#1 == 443) || (ipv6.nxt#1 == 132 && sctp.dstport#1 == 443)))`,
  },
  // `net` with no protocol is `ip net`, `arp net` or `rarp net`: IPv4 source or destination in
  // 10/8, or an ARP/RARP sender or target protocol address in 10/8, all untagged.
  {
    bpf: "net 10.0.0.0/8",
    display: `(${IP4} && (ip.src#1 == 10.0.0.0/8 || ip.dst#1 == 10.0.0.0/8)) || (${ARP} && ` +
      "(arp.src.proto_ipv4 == 10.0.0.0/8 || arp.dst.proto_ipv4 == 10.0.0.0/8))",
  },
];

const TSHARK = have("tshark");
const TCPDUMP = have("tcpdump");
if (!TSHARK) {
  console.log("user_filter_test: tshark is not installed: the user filter tests are skipped");
} else if (!TCPDUMP) {
  console.log("user_filter_test: tcpdump is not installed: the pairing check is skipped");
}

/** Runs a command to completion. */
async function run(cmd: string, args: string[]) {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/**
 * Runs `jobs` with at most `width` of them at a time; results in order. A job that throws does not
 * stop the others: the first error is thrown once all have ended, so that none is left running.
 */
async function pool<T>(jobs: (() => Promise<T>)[], width = 4): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  const errors: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      try {
        results[i] = await jobs[i]();
      } catch (e) {
        errors.push(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker));
  if (errors.length > 0) throw errors[0];
  return results;
}

/** Events as comparable text lines, `source port count`, sorted. */
function lines(events: Iterable<[string, number, number]>): string[] {
  return [...events].map(([s, p, c]) => `${s} ${p} ${c}`).sort();
}

/** pulso's `SOURCE:TOTAL PORT:COUNT ...` digest as event lines (IPv6 brackets dropped). */
function parseDigest(stdout: string): string[] {
  const events: [string, number, number][] = [];
  for (const line of stdout.split("\n").filter((l) => l !== "")) {
    const [head, ...ports] = line.split(" ");
    const cut = head.lastIndexOf(":");
    const source = head.slice(0, cut).replace(/^\[(.*)\]$/, "$1");
    let sum = 0;
    for (const item of ports) {
      const [port, count] = item.split(":").map(Number);
      events.push([source, port, count]);
      sum += count;
    }
    assert.equal(Number(head.slice(cut + 1)), sum, `total of '${line}'`);
  }
  return lines(events);
}

/** Link layers that may come before the first IP header (the dissectors' names). */
const LINK = new Set(["eth", "ethertype", "sll", "vlan", "ieee8021ad"]);
/** IPv6 extension headers (Wireshark's names) between the IPv6 header and TCP. */
const IPV6_EXT = /^ipv6\.(hopopts|dstopts|routing|fraghdr)$/;

/** What tshark gives for one file and display filter. */
interface TsharkResult {
  /** Timestamps of every frame selected (nanoseconds), sorted. */
  frames: string[];
  /** The connection events in the selected frames, as truth.json counts them. */
  events: string[];
}

/**
 * The frames of `file` that `display` selects (all when empty), and their events: a frame is an
 * event when its first IP header follows the link layers (tags allowed) and is followed, after
 * IPv6 extension headers only, by TCP whose SYN is set and ACK clear; the source is that first IP
 * header's. Tunnelled and ICMP-quoted headers come later in the frame, so they are not events.
 * (This is tshark's `-Y 'syn && !ack && (display)'`, done on the first headers' fields.)
 */
async function tshark(file: string, display: string): Promise<TsharkResult> {
  const fields = ["frame.time_epoch", "frame.protocols", "ip.src", "ipv6.src", "tcp.dstport"]
    .concat(["tcp.flags.syn", "tcp.flags.ack"]);
  const args = ["-n", "-r", `${LAB}${file}`, ...(display ? ["-Y", display] : [])]
    .concat(["-T", "fields", "-E", "occurrence=f", ...fields.flatMap((f) => ["-e", f])]);
  const out = await run("tshark", args);
  if (DAMAGED.has(file)) {
    assert.equal(out.code, 2, `tshark on ${file}: ${out.stderr}`);
    assert.match(out.stderr, /cut short in the middle of a packet/);
  } else {
    assert.equal(out.code, 0, `tshark -Y '${display}' on ${file}: ${out.stderr}`);
  }
  const frames: string[] = [];
  const counts = new Map<string, number>();
  for (const line of out.stdout.split("\n").filter((l) => l !== "")) {
    const [time, protocols, ip, ipv6, dport, syn, ack] = line.split("\t");
    frames.push(time);
    const layers = protocols.split(":");
    const first = layers.findIndex((p) => p === "ip" || p === "ipv6");
    if (first < 0 || !layers.slice(0, first).every((p) => LINK.has(p))) continue;
    let next = first + 1;
    while (layers[first] === "ipv6" && IPV6_EXT.test(layers[next] ?? "")) next++;
    if (layers[next] !== "tcp" || syn !== "1" || ack !== "0") continue;
    const key = `${layers[first] === "ip" ? ip : ipv6} ${dport}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return {
    frames: frames.sort(),
    events: [...counts].map(([key, count]) => `${key} ${count}`).sort(),
  };
}

/** tshark results by file and display filter, so that each runs once per test run. */
const cache = new Map<string, TsharkResult>();

/** Runs tshark for the (file, display filter) pairs not run yet, four at a time. */
async function tsharkAll(pairs: [file: string, display: string][]): Promise<void> {
  const missing = pairs.filter(([f, d]) => !cache.has(`${f}\n${d}`));
  const results = await pool(missing.map(([f, d]) => () => tshark(f, d)));
  missing.forEach(([f, d], i) => cache.set(`${f}\n${d}`, results[i]));
}

function cached(file: string, display: string): TsharkResult {
  const result = cache.get(`${file}\n${display}`);
  assert.ok(result, `tshark was not run for ${file}`);
  return result;
}

/** The (file, display filter) pairs tshark is needed for: all but libpcap's refusals. */
function pairsOf(cases: Case[]): [string, string][] {
  return cases.flatMap((c) =>
    FILES.filter((f) => !(c.sllError && isSll(f))).map((f): [string, string] => [f, c.display])
  );
}

/**
 * pulso's digest of `file` with `args` as event lines, or what went wrong: an exit status other
 * than 0 (1 after the damage of a damaged file, the digest of the records before it printed).
 */
async function digest(file: string, args: string[]): Promise<string[] | string> {
  const out = await pulso(["--no-hash", "-r", `${LAB}${file}`, ...args]);
  const damaged = DAMAGED.has(file);
  const ok = damaged ? out.code === 1 && /Damaged capture file/.test(out.stderr) : out.code === 0;
  if (ok) return parseDigest(out.stdout);
  const error = out.stderr.split("\n")[0];
  const short = error.length > 160 ? `${error.slice(0, 60)} … ${error.slice(-90)}` : error;
  return `exit ${out.code}: ${short}`;
}

Deno.test("lab: every capture has its truth", () => {
  assert.ok(FILES.length >= 9, `${FILES.length} lab files`);
  for (const file of FILES) assert.ok(file in truth, `${file} is in truth.json`);
});

Deno.test({
  name: "lab: tshark's event query gives truth.json, and so does pulso without -f",
  ignore: !TSHARK,
  async fn() {
    await tsharkAll(FILES.map((f) => [f, ""]));
    const pulsos = await pool(FILES.map((f) => () => digest(f, [])));
    FILES.forEach((file, i) => {
      const want = lines(truth[file].events);
      assert.deepEqual(cached(file, "").events, want, `tshark on ${file}`);
      assert.deepEqual(pulsos[i], want, `pulso on ${file}`);
      assert.ok(want.length > 0, `${file} has events`);
    });
  },
});

Deno.test({
  name: "lab: each display filter selects the frames tcpdump selects with its BPF expression",
  ignore: !TSHARK || !TCPDUMP,
  async fn() {
    await tsharkAll(pairsOf(CASES));
    const jobs = CASES.flatMap((c) =>
      FILES.map((file) => async (): Promise<string | null> => {
        const what = `'${c.bpf}' on ${file}`;
        const args = ["-n", "-tt", "--time-stamp-precision=nano", "-r", `${LAB}${file}`, c.bpf];
        const out = await run("tcpdump", args);
        if (c.sllError && isSll(file)) {
          const refused = out.code !== 0 && out.stderr.includes(`${c.sllError} for Linux cooked`);
          return refused ? null : `${what}: tcpdump does not refuse it (exit ${out.code})`;
        }
        const ended = DAMAGED.has(file)
          ? out.stderr.includes("truncated dump file")
          : out.code === 0;
        if (!ended) return `${what}: tcpdump exit ${out.code}: ${out.stderr.trim()}`;
        const frames = out.stdout.split("\n").flatMap((l) => l.match(/^\d+\.\d{9}(?= )/) ?? []);
        frames.sort();
        const selected = cached(file, c.display).frames;
        if (JSON.stringify(selected) === JSON.stringify(frames)) return null;
        const only = (a: string[], b: string[]) => a.filter((t) => !b.includes(t)).slice(0, 3);
        return `${what}: tcpdump ${frames.length} frames, tshark -Y '${c.display}' ` +
          `${selected.length}; only tcpdump: ${only(frames, selected)}, ` +
          `only tshark: ${only(selected, frames)}`;
      })
    );
    const failures = (await pool(jobs)).filter((f) => f !== null);
    assert.deepEqual(failures, [], "pairings that do not select tcpdump's frames");
  },
});

for (const c of CASES) {
  Deno.test({
    name: `lab: -f '${c.bpf}' counts the SYNs of the frames tshark selects with its pairing`,
    ignore: !TSHARK,
    async fn() {
      await tsharkAll(pairsOf([c]));
      const results = await pool(FILES.map((file) => async () => {
        const path = `${LAB}${file}`;
        if (c.sllError && isSll(file)) {
          // libpcap refuses the expression on this link type, as tcpdump does.
          const out = await pulso(["--no-hash", "-r", path, "-f", c.bpf]);
          const refused = out.code === 2 && out.stdout === "" &&
            out.stderr.includes(`${c.sllError} for Linux cooked`);
          return refused ? null : `${file}: not refused: exit ${out.code}, ${out.stderr.trim()}`;
        }
        const want = cached(file, c.display).events;
        const got = await digest(file, ["-f", c.bpf]);
        if (typeof got === "string") return `${file}: pulso ${got} (tshark: ${sum(want)} SYNs)`;
        if (JSON.stringify(got) === JSON.stringify(want)) return null;
        return `${file}: pulso ${sum(got)} SYNs, tshark ${sum(want)}: ${diff(got, want)}`;
      }));
      assert.deepEqual(results.filter((r) => r !== null), [], `-f '${c.bpf}'`);
    },
  });
}

/** The events only one side has: `-` pulso's, `+` tshark's, at most a few of each. */
function diff(got: string[], want: string[]): string {
  const only = (a: string[], b: string[], sign: string) =>
    a.filter((line) => !b.includes(line)).map((line) => sign + line);
  const all = [...only(got, want, "-"), ...only(want, got, "+")];
  return all.slice(0, 6).join(", ") + (all.length > 6 ? `, … (${all.length} in all)` : "");
}

/** The number of SYNs in event lines. */
function sum(events: string[]): number {
  return events.reduce((total, line) => total + (Number(line.split(" ")[2]) || 0), 0);
}
