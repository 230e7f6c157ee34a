/**
 * Reading capture files and user filters through the CLI: `--read`, `--filter`, `-t` in capture
 * time, stdin, and the errors of damaged, missing and foreign files.
 */
import assert from "node:assert/strict";
import { ConnectionCounter, Decoded, decodeFrame, NextResult, Pcap, Verdict } from "../mod.ts";
import { buildDigest, clearSource, formatDigest } from "../src/digest.ts";
import { CORPUS, hashOf, pulso } from "./_pulso.ts";

const PC2 = `${CORPUS}lab/pc2_eth.pcap`;

function oneLine(stderr: string): void {
  assert.equal(stderr.trimEnd().split("\n").length, 1, stderr);
  assert.doesNotMatch(stderr, /^\s+at /m);
}

/** The digest of the frames of `path` up to `seconds` after its first one, without BPF. */
function reference(path: string, seconds = Infinity): string {
  using pcap = Pcap.openOffline(path);
  const counter = new ConnectionCounter();
  const out = new Decoded();
  let start: number | undefined;
  while (pcap.next() === NextResult.PACKET) {
    const t = pcap.seconds + pcap.microseconds / 1e6;
    start ??= t;
    if (t - start >= seconds) break;
    const frame = pcap.frame;
    if (decodeFrame(pcap.linkType, frame, frame.length, out) === Verdict.EVENT) {
      counter.add(out.family, out.address, out.port);
    }
  }
  return formatDigest(buildDigest(counter.summarize(), clearSource));
}

Deno.test("--read prints the digest of a file, hashed by default", async () => {
  const run = await pulso(["--read", `${CORPUS}lab/v6ext.pcap`]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, `${hashOf("::1")}:2 48035:2\n`);
  const clear = await pulso(["-r", PC2, "--no-hash"]);
  assert.equal(clear.stdout, reference(PC2));
  assert.match(clear.stdout, /^10\.99\.2\.2:48 443:4 20791:3 1:1 2:1 /);
  assert.match(clear.stdout, /^\[fd99:2::2\]:4 25305:3 26468:1$/m);
});

Deno.test("--read - reads stdin", async () => {
  const bytes = await Deno.readFile(PC2);
  const run = await pulso(["--no-hash", "-r", "-"], { stdin: bytes });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, reference(PC2));
});

Deno.test("--filter is ANDed with pulso's own filter", async () => {
  const run = await pulso(["--no-hash", "-r", PC2, "-f", "dst port 443"]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, "10.99.2.2:4 443:4\n");
  const v6 = await pulso(["--no-hash", "-r", PC2, "--filter", "ip6"]);
  assert.equal(v6.stdout, "[fd99:2::2]:4 25305:3 26468:1\n");
  const net = await pulso(["--no-hash", "-r", `${CORPUS}lab/pc1_eth.pcap`, "-f", "net 10.0.0.0/8"]);
  assert.match(net.stdout, /^10\.99\.100\.2:\d+ /);
  assert.doesNotMatch(net.stdout, /\[/);
  // A filter that passes everything changes nothing: pulso's own filter still applies.
  const all = await pulso(["--no-hash", "-r", PC2, "-f", "ip or ip6"]);
  assert.equal(all.stdout, reference(PC2));
});

Deno.test("an invalid filter exits 2 with libpcap's message", async () => {
  const run = await pulso(["--no-hash", "-r", PC2, "-f", "dst prot 443"]);
  assert.equal(run.code, 2);
  assert.equal(run.stdout, "");
  assert.match(run.stderr, /^error: Invalid filter 'dst prot 443': unknown host 'prot'\n/);
});

Deno.test("-t counts capture time from the first packet, the same every time", async () => {
  const first = await pulso(["--no-hash", "-r", PC2, "-t", "1"]);
  const again = await pulso(["--no-hash", "-r", PC2, "-t", "1"]);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout, again.stdout);
  assert.equal(first.stdout, reference(PC2, 1));
  // The file lasts 3.3 s: one second of it is less than all of it, more than nothing.
  assert.notEqual(first.stdout, reference(PC2));
  assert.notEqual(first.stdout, "");
  const half = await pulso(["--no-hash", "-r", PC2, "-t", "0.5"]);
  assert.equal(half.stdout, reference(PC2, 0.5));
});

Deno.test("-c stops reading a file at exactly N events", async () => {
  const run = await pulso(["--no-hash", "-r", PC2, "-c", "5"]);
  assert.equal(run.code, 0, run.stderr);
  const total = run.stdout.trimEnd().split("\n")
    .map((l) => Number(l.split(" ")[0].split(":").at(-1)))
    .reduce((a, b) => a + b, 0);
  assert.equal(total, 5);
});

Deno.test("a truncated file prints the digest of what was read, then one error line", async () => {
  const run = await pulso(["--no-hash", "-r", `${CORPUS}lab/truncated.pcap`]);
  assert.equal(run.code, 1);
  assert.equal(run.stdout, "10.99.2.2:4 20791:3 25305:1\n[fd99:2::2]:4 25305:3 26468:1\n");
  assert.match(run.stderr, /^error: Damaged capture file '.*truncated\.pcap': truncated dump file/);
  oneLine(run.stderr);
});

Deno.test("a missing or unreadable file exits 1 with one clear line", async () => {
  const missing = await pulso(["--no-hash", "-r", "/nonexistent/capture.pcap"]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout, "");
  assert.match(
    missing.stderr,
    /^error: Cannot read '\/nonexistent\/capture\.pcap': .*No such file/,
  );
  oneLine(missing.stderr);
  const notPcap = await pulso(["--no-hash", "-r", `${CORPUS}README.md`]);
  assert.equal(notPcap.code, 1);
  assert.equal(notPcap.stdout, "");
  assert.match(notPcap.stderr, /^error: Cannot read '.*README\.md': unknown file format/);
  oneLine(notPcap.stderr);
  const directory = await pulso(["--no-hash", "-r", CORPUS]);
  assert.equal(directory.code, 1);
  oneLine(directory.stderr);
});

Deno.test("a file in a link type pulso does not decode exits 1 naming the link type", async () => {
  const run = await pulso(["--no-hash", "-r", `${CORPUS}tcpdump/ieee802.11_exthdr.pcap`]);
  assert.equal(run.code, 1);
  assert.equal(run.stdout, "");
  assert.match(run.stderr, /^error: Unsupported link type 'IEEE802_11_RADIO' \(DLT 127\)/);
  oneLine(run.stderr);
});

Deno.test("logging: nothing on stderr by default, every message in order at info, none when off", async () => {
  const quiet = await pulso(["-r", PC2, "--no-hash"], { unset: ["PULSO_LOG", "RUST_LOG"] });
  assert.equal(quiet.code, 0);
  assert.equal(quiet.stderr, "");
  // Braces in a message are text, not LogTape placeholders: a file name with some.
  const dir = await Deno.makeTempDir({ prefix: "pulso-{file}-" });
  const braced = `${dir}/{name}.pcap`;
  await Deno.symlink(PC2, braced);
  try {
    const info = await pulso(["-r", braced, "--no-hash", "-f", "tcp or (ip[0] & 0x0f) > 4"], {
      env: { PULSO_LOG: "info" },
    });
    assert.equal(info.code, 0, info.stderr);
    assert.equal(info.stdout, quiet.stdout);
    const lines = info.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 4, info.stderr);
    assert.equal(
      lines[0].slice(0, lines[0].indexOf(", libpcap")),
      `[INFO pulso] Capturing on file '${braced}', link type EN10MB`,
    );
    // The user's expression moves no offset: it runs first, joined with pulso's.
    assert.ok(
      lines[1].startsWith("[INFO pulso] Filter: (tcp or (ip[0] & 0x0f) > 4) and (((tcp[tcpflags] "),
      lines[1],
    );
    assert.match(
      lines[2],
      /^\[INFO pulso\] \d+ packets decoded, 0 malformed, \d+ connections \(end-of-file\)$/,
    );
    assert.equal(lines[3], "[INFO pulso] 2 distinct sources");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // One that moves offsets (`vlan`) runs apart, after pulso's.
  const apart = await pulso(["-r", PC2, "--no-hash", "-f", "not vlan"], {
    env: { PULSO_LOG: "info" },
  });
  assert.equal(apart.code, 0, apart.stderr);
  assert.match(apart.stderr, /^\[INFO pulso\] Filter: \(\(tcp\[tcpflags\] .*; then \(not vlan\)$/m);
  const rust = await pulso(["-r", PC2, "--no-hash"], { env: { RUST_LOG: "pulso=info" } });
  assert.equal(rust.stderr.trimEnd().split("\n").length, 4, rust.stderr);
  const off = await pulso(["-r", PC2, "--no-hash"], { env: { PULSO_LOG: "off" } });
  assert.equal(off.stderr, "");
});
