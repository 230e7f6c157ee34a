/**
 * Conformance with tshark on the shared capture corpus (../shared/corpus, see its README):
 * every file whose link type pulso decodes gives exactly the events of truth.json; every other
 * file is refused with the link-type error; no file makes pulso throw. The whole corpus goes
 * through the library in this process; a sample goes through the CLI.
 */
import assert from "node:assert/strict";
import {
  CaptureSession,
  type CaptureSummary,
  ConnectionCounter,
  formatAddress,
  linkTypeName,
  Pcap,
  UnsupportedLinkTypeError,
} from "../mod.ts";
import { CORPUS, pulso } from "./_pulso.ts";

interface Truth {
  linktype: string;
  events: [source: string, port: number, count: number][];
}

/** Files where truth.json is wrong, with the reason. None found so far. */
const EXCLUDED: Record<string, string> = {};

/** Files that end in damage: pulso prints the digest of what it read, then fails. */
const DAMAGED = new Set(["lab/truncated.pcap"]);

function loadTruth(): Map<string, Truth> {
  const all = new Map<string, Truth>();
  for (const dir of ["tcpdump", "lab"]) {
    const truth: Record<string, Truth> = JSON.parse(
      Deno.readTextFileSync(`${CORPUS}${dir}/truth.json`),
    );
    for (const [file, t] of Object.entries(truth)) all.set(`${dir}/${file}`, t);
  }
  return all;
}

const truth = loadTruth();

/** Events as comparable text lines, `source port count`, sorted. */
function lines(events: Iterable<[string, number, number]>): string[] {
  return [...events].map(([s, p, c]) => `${s} ${p} ${c}`).sort();
}

type Outcome =
  | { kind: "counted"; events: string[]; summary: CaptureSummary }
  | { kind: "unsupported"; error: UnsupportedLinkTypeError };

async function countFile(path: string): Promise<Outcome> {
  const counter = new ConnectionCounter();
  let session: CaptureSession;
  try {
    session = await CaptureSession.openFile(path, counter);
  } catch (e) {
    if (e instanceof UnsupportedLinkTypeError) return { kind: "unsupported", error: e };
    throw e;
  }
  try {
    const summary = await session.run();
    const events = lines(
      [...counter.entries()].map((e) => [formatAddress(e.address), e.port, e.count]),
    );
    return { kind: "counted", events, summary };
  } finally {
    session.close();
  }
}

Deno.test("the corpus is there and complete", () => {
  assert.ok(truth.size >= 830, `truth.json lists ${truth.size} files`);
  assert.ok([...truth.values()].filter((t) => t.events.length > 0).length >= 40);
});

Deno.test("every corpus file: tshark's events, or the link-type error; never a throw", async () => {
  let counted = 0, refused = 0, withEvents = 0;
  const failures: string[] = [];
  for (const [file, expected] of truth) {
    if (file in EXCLUDED) continue;
    const path = `${CORPUS}${file}`;
    let outcome: Outcome;
    try {
      outcome = await countFile(path);
    } catch (e) {
      failures.push(`${file}: threw ${e}`);
      continue;
    }
    if (outcome.kind === "unsupported") {
      refused++;
      // The decoder does not take it: the error names libpcap's link type, once.
      using pcap = Pcap.openOffline(path);
      const name = linkTypeName(pcap.linkType);
      assert.equal(
        outcome.error.message,
        name === `DLT ${pcap.linkType}`
          ? `Unsupported link type ${name}`
          : `Unsupported link type '${name}' (DLT ${pcap.linkType})`,
      );
      continue;
    }
    counted++;
    if (expected.events.length > 0) withEvents++;
    const want = lines(expected.events);
    if (JSON.stringify(outcome.events) !== JSON.stringify(want)) {
      failures.push(`${file} (${expected.linktype}): got ${outcome.events} want ${want}`);
    }
    const reason = outcome.summary.reason;
    if (DAMAGED.has(file) ? reason !== "error" : reason !== "end-of-file") {
      failures.push(`${file}: ended with ${reason} ${outcome.summary.error?.message ?? ""}`);
    }
  }
  assert.deepEqual(failures, []);
  // Every file tshark found events in, in a link type the decoder handles, was compared.
  assert.ok(counted >= 550, `${counted} files decoded`);
  assert.ok(refused >= 250, `${refused} files refused`);
  assert.ok(withEvents >= 44, `${withEvents} files with events`);
});

Deno.test("the link types pulso refuses are the ones it does not decode", async () => {
  // Spot checks against tshark's names in truth.json.
  for (const [file, t] of truth) {
    if (!["ieee-802-11-radiotap", "ppp", "frelay", "chdlc"].includes(t.linktype)) continue;
    const outcome = await countFile(`${CORPUS}${file}`);
    assert.equal(outcome.kind, "unsupported", file);
  }
  for (const [file, t] of truth) {
    if (!["ether", "linux-sll", "linux-sll2", "rawip", "rawip4", "rawip6"].includes(t.linktype)) {
      continue;
    }
    const outcome = await countFile(`${CORPUS}${file}`);
    assert.equal(outcome.kind, "counted", file);
  }
});

/** A sample for the CLI: every file with events, plus refused and eventless ones. */
function cliSample(): string[] {
  const withEvents = [...truth].filter(([, t]) => t.events.length > 0).map(([f]) => f);
  const others = [...truth].filter(([, t]) => t.events.length === 0).map(([f]) => f);
  return [...withEvents, ...others.filter((_, i) => i % 40 === 0)];
}

Deno.test("the CLI on a corpus sample: same events, exit 0, or 1 with one line", async () => {
  const failures: string[] = [];
  for (const file of cliSample()) {
    if (file in EXCLUDED) continue;
    const run = await pulso(["--no-hash", "--read", `${CORPUS}${file}`]);
    const outcome = await countFile(`${CORPUS}${file}`);
    if (/^\s+at /m.test(run.stderr) || run.code > 1) {
      failures.push(`${file}: exit ${run.code} ${run.stderr}`);
      continue;
    }
    if (outcome.kind === "unsupported") {
      if (
        run.code !== 1 || run.stdout !== "" || !/^error: Unsupported link type '/.test(run.stderr)
      ) {
        failures.push(`${file}: expected the link-type error, got ${run.code} ${run.stderr}`);
      }
      continue;
    }
    const events: [string, number, number][] = [];
    for (const line of run.stdout.trimEnd().split("\n").filter(Boolean)) {
      const [head, ...ports] = line.split(" ");
      const source = head.slice(0, head.lastIndexOf(":")).replace(/^\[(.*)\]$/, "$1");
      for (const p of ports) {
        const [port, count] = p.split(":").map(Number);
        events.push([source, port, count]);
      }
    }
    const want = lines(truth.get(file)!.events);
    if (JSON.stringify(lines(events)) !== JSON.stringify(want)) {
      failures.push(`${file}: CLI printed ${run.stdout}`);
    }
    const expectedCode = DAMAGED.has(file) ? 1 : 0;
    if (run.code !== expectedCode) failures.push(`${file}: exit ${run.code} ${run.stderr}`);
    if (expectedCode === 1 && run.stderr.trimEnd().split("\n").length !== 1) {
      failures.push(`${file}: more than one line on stderr: ${run.stderr}`);
    }
  }
  assert.deepEqual(failures, []);
});
