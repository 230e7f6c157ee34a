/**
 * `--interval` and `--format json` on capture files with known timestamps: window edges on
 * multiples of the interval, counts, empty windows, the partial first and last ones, the limits,
 * and JSON lines that validate against the published schema and agree with the text.
 */
import assert from "node:assert/strict";
import { PcapWriter } from "../scripts/gen_workload.ts";
import { pulso, PULSO_RUN, SECRET } from "./_pulso.ts";
import { validateDigestJson } from "./_schema.ts";

/** Unix time of the test captures' first second: 2026-12-01T08:00:00Z. */
const T0 = Date.UTC(2026, 11, 1, 8) / 1000;

/** A SYN from 10.0.0.`host` to `port` at T0 + `at` seconds (microsecond steps). */
interface Syn {
  at: number;
  host: number;
  port: number;
  ack?: boolean;
}

function capture(syns: Syn[]): string {
  const path = Deno.makeTempFileSync({ suffix: ".pcap" });
  const writer = new PcapWriter(path);
  for (const { at, host, port, ack } of syns) {
    const us = Math.round(at * 1e6);
    const f = writer.record(T0 + Math.floor(us / 1e6), us % 1e6, 54);
    const v = writer.view;
    v.setUint16(f + 12, 0x0800);
    v.setUint8(f + 14, 0x45);
    v.setUint16(f + 16, 40);
    v.setUint8(f + 22, 64);
    v.setUint8(f + 23, 6);
    v.setUint32(f + 26, (10 << 24) | host);
    v.setUint32(f + 30, (10 << 24) | 99);
    v.setUint16(f + 34, 40000 + host);
    v.setUint16(f + 36, port);
    v.setUint8(f + 46, 0x50);
    v.setUint8(f + 47, ack ? 0x12 : 0x02);
  }
  writer.close();
  return path;
}

const iso = (at: number) => new Date((T0 + at) * 1000).toISOString();

// 2 + 2 events, two empty seconds, then 2; a SYN-ACK that is no event in the second window.
const SYNS: Syn[] = [
  { at: 0.25, host: 1, port: 80 },
  { at: 0.75, host: 1, port: 80 },
  { at: 1, host: 2, port: 443 }, // on the edge: the second window's
  { at: 1.5, host: 1, port: 22 },
  { at: 1.6, host: 3, port: 80, ack: true },
  { at: 4.25, host: 2, port: 80 },
  { at: 4.5, host: 1, port: 80 },
];

async function run(args: string[], path: string) {
  const result = await pulso(["-r", path, "--no-hash", ...args]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

Deno.test("--interval: windows on multiples of the interval, empty ones too, partial first and last", async () => {
  const path = capture(SYNS);
  try {
    assert.equal(
      await run(["-i", "1"], path),
      `# ${iso(0.25)} ${iso(1)} connections=2 sources=1 malformed=0\n` +
        "10.0.0.1:2 80:2\n" +
        `# ${iso(1)} ${iso(2)} connections=2 sources=2 malformed=0\n` +
        "10.0.0.1:1 22:1\n10.0.0.2:1 443:1\n" +
        `# ${iso(2)} ${iso(3)} connections=0 sources=0 malformed=0\n` +
        `# ${iso(3)} ${iso(4)} connections=0 sources=0 malformed=0\n` +
        `# ${iso(4)} ${iso(4.5)} connections=2 sources=2 malformed=0\n` +
        "10.0.0.1:1 80:1\n10.0.0.2:1 80:1\n",
    );
    // Half seconds: edges on .0 and .5; a longer interval than the capture: one window.
    const half = await run(["--interval=0.5"], path);
    const headers = half.split("\n").filter((l) => l.startsWith("# "));
    assert.deepEqual(
      headers.map((h) => h.split(" ").slice(1, 4).join(" ")),
      [
        `${iso(0.25)} ${iso(0.5)} connections=1`,
        `${iso(0.5)} ${iso(1)} connections=1`,
        `${iso(1)} ${iso(1.5)} connections=1`,
        `${iso(1.5)} ${iso(2)} connections=1`,
        ...[2, 2.5, 3, 3.5].map((s) => `${iso(s)} ${iso(s + 0.5)} connections=0`),
        `${iso(4)} ${iso(4.5)} connections=1`,
        `${iso(4.5)} ${iso(4.5)} connections=1`,
      ],
    );
    assert.equal(
      await run(["-i", "3600"], path),
      `# ${iso(0.25)} ${iso(4.5)} connections=6 sources=2 malformed=0\n` +
        "10.0.0.1:4 80:3 22:1\n10.0.0.2:2 80:1 443:1\n",
    );
    // The same file gives the same windows every time.
    assert.equal(await run(["-i", "1"], path), await run(["-i", "1"], path));
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("--interval with -c and -t: the limit ends the last window where it is met", async () => {
  const path = capture(SYNS);
  try {
    // The third event, on the edge, reaches the limit: the last window holds it alone.
    assert.equal(
      await run(["-i", "1", "-c", "3"], path),
      `# ${iso(0.25)} ${iso(1)} connections=2 sources=1 malformed=0\n` +
        "10.0.0.1:2 80:2\n" +
        `# ${iso(1)} ${iso(1)} connections=1 sources=1 malformed=0\n` +
        "10.0.0.2:1 443:1\n",
    );
    // 2.5 s of capture time from the first packet: the last window ends at the limit.
    assert.equal(
      await run(["-i", "1", "-t", "2.5"], path),
      `# ${iso(0.25)} ${iso(1)} connections=2 sources=1 malformed=0\n` +
        "10.0.0.1:2 80:2\n" +
        `# ${iso(1)} ${iso(2)} connections=2 sources=2 malformed=0\n` +
        "10.0.0.1:1 22:1\n10.0.0.2:1 443:1\n" +
        `# ${iso(2)} ${iso(2.75)} connections=0 sources=0 malformed=0\n`,
    );
  } finally {
    Deno.removeSync(path);
  }
});

/** The text digest lines of one window, parsed: source → [total, [port, count]...]. */
function textWindows(text: string): { header: string; lines: string[] }[] {
  const windows: { header: string; lines: string[] }[] = [];
  for (const line of text.trimEnd().split("\n")) {
    if (line.startsWith("# ")) windows.push({ header: line, lines: [] });
    else if (line !== "") windows.at(-1)!.lines.push(line);
  }
  return windows;
}

Deno.test("--format json: every line validates against the schema and agrees with the text", async () => {
  const path = capture(SYNS);
  try {
    for (
      const args of [["-i", "1"], ["-i", "0.5", "--dedupe"], ["-i", "1", "--max-sources", "1"]]
    ) {
      const text = textWindows(await run(args, path));
      const lines = (await run([...args, "--format", "json"], path)).trimEnd().split("\n");
      assert.equal(lines.length, text.length, `one object per window (${args.join(" ")})`);
      lines.forEach((line, i) => {
        const object = JSON.parse(line);
        validateDigestJson(object);
        const [, start, end, ...fields] = text[i].header.split(" ");
        assert.equal(object.start, start);
        assert.equal(object.end, end);
        const values = Object.fromEntries(fields.map((f) => f.split("=")));
        assert.equal(String(object.connections), values.connections);
        assert.equal(String(object.malformed), values.malformed);
        assert.equal(
          `${object.distinctSourcesExact ? "" : "~"}${object.distinctSources}`,
          values.sources,
        );
        if (args.includes("--dedupe")) {
          assert.equal(String(object.retransmissions), values.retransmissions);
        }
        // The same lines, rebuilt from the object.
        const rebuilt = object.sources.map((s: JsonSource) =>
          [
            `${s.source}:${s.error > 0 ? "~" : ""}${s.connections}`,
            ...s.ports.map((p) => `${p.port}:${p.error > 0 ? "~" : ""}${p.connections}`),
            ...(s.untracked > 0 ? [`other:${s.untracked}`] : []),
          ].join(" ")
        );
        if (object.untracked > 0) {
          const other = object.other as {
            connections: number;
            untracked: number;
            ports: { port: number; connections: number }[];
          };
          assert.equal(other.connections, object.untracked);
          rebuilt.push(
            [
              `other:${other.connections}`,
              ...other.ports.map((p) => `${p.port}:${p.connections}`),
              ...(other.untracked > 0 ? [`other:${other.untracked}`] : []),
            ].join(" "),
          );
        } else assert.equal(object.other, undefined);
        assert.deepEqual(rebuilt, text[i].lines);
      });
    }
  } finally {
    Deno.removeSync(path);
  }
});

interface JsonSource {
  source: string;
  connections: number;
  error: number;
  untracked: number;
  ports: { port: number; connections: number; error: number }[];
}

Deno.test("--format json without --interval: one object for the whole capture; none known, null times", async () => {
  const path = capture(SYNS);
  const empty = capture([]);
  try {
    const [line, ...rest] = (await run(["--format", "json"], path)).trimEnd().split("\n");
    assert.deepEqual(rest, []);
    const object = JSON.parse(line);
    validateDigestJson(object);
    assert.equal(object.start, iso(0.25));
    assert.equal(object.end, iso(4.5));
    assert.equal(object.connections, 6);
    assert.equal(object.packets, 6, "pulso's filter passes SYNs without ACK only");
    assert.equal(object.capture, undefined, "libpcap's counters are a live capture's");
    const none = JSON.parse(await run(["--format", "json"], empty));
    validateDigestJson(none);
    assert.equal(none.start, null);
    assert.equal(none.connections, 0);
    // With windows, a file without packets has none.
    assert.equal(await run(["-i", "1"], empty), "");
    assert.equal(await run(["-i", "1", "--format", "json"], empty), "");
  } finally {
    Deno.removeSync(path);
    Deno.removeSync(empty);
  }
});

Deno.test("--interval and --format: bad values are usage errors", async () => {
  for (
    const [args, message] of [
      [["-i", "0"], /invalid value '0' for '--interval <SECONDS>'/],
      [["-i", "0.0001"], /at least 0\.001/],
      [["-i", "x"], /expected a positive number of seconds/],
      [["--format", "xml"], /invalid value 'xml' for '--format <FORMAT>': expected text or json/],
    ] as const
  ) {
    const result = await pulso(["-r", "/dev/null", ...args]);
    assert.equal(result.code, 2);
    assert.match(result.stderr.split("\n")[0], message);
  }
});

Deno.test("--interval over a gap of ten years: empty windows as they come, and a signal still stops it", async () => {
  const path = capture([{ at: 0.25, host: 1, port: 80 }, {
    at: 10 * 365 * 86400,
    host: 2,
    port: 80,
  }]);
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [...PULSO_RUN, "-r", path, "--no-hash", "-i", "1"],
      env: { PULSO_SECRET: SECRET },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const signalled = performance.now();
    child.kill("SIGTERM");
    const out = await child.output();
    assert.ok(performance.now() - signalled < 1500, "stopped within the second");
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const lines = new TextDecoder().decode(out.stdout).trimEnd().split("\n");
    assert.equal(lines[1], "10.0.0.1:1 80:1");
    assert.ok(lines.length > 1000, `${lines.length} windows printed before the signal`);
    assert.ok(lines.slice(2).every((l) => / connections=0 /.test(l)), "then empty windows only");
    // The windows tile the time up to where the capture stopped.
    const spans = lines.filter((l) => l.startsWith("# ")).map((l) => l.split(" ").slice(1, 3));
    spans.forEach(([start], i) => i > 0 && assert.equal(start, spans[i - 1][1]));
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("timestamps from 2038 on, and going backwards: the windows' times as the file means them", async () => {
  const y2038 = 2 ** 31 - T0; // 2038-01-19T03:14:08Z, where 32 signed bits end
  const late = capture([{ at: y2038 - 1, host: 1, port: 80 }, { at: y2038, host: 2, port: 80 }]);
  const back = capture([
    { at: 10, host: 1, port: 80 },
    { at: 5, host: 1, port: 81 },
    { at: 12, host: 2, port: 80 },
    { at: 3.5, host: 2, port: 81 },
  ]);
  try {
    const object = JSON.parse(await run(["--format", "json"], late));
    assert.deepEqual([object.start, object.end, object.connections], [
      "2038-01-19T03:14:07.000Z",
      "2038-01-19T03:14:08.000Z",
      2,
    ]);
    assert.equal(
      (await run(["-i", "60"], late)).split("\n")[0],
      "# 2038-01-19T03:14:07.000Z 2038-01-19T03:14:08.000Z connections=2 sources=2 malformed=0",
    );
    // A packet earlier than the one before counts in the current window, which ends at the
    // latest time seen.
    assert.equal(
      (await run(["-i", "5"], back)).split("\n")[0],
      `# ${iso(10)} ${iso(12)} connections=4 sources=2 malformed=0`,
    );
  } finally {
    Deno.removeSync(late);
    Deno.removeSync(back);
  }
});

Deno.test("windows to a closed stdout: pulso ends quietly", async () => {
  const path = capture([{ at: 0.25, host: 1, port: 80 }, { at: 365 * 86400, host: 2, port: 80 }]);
  try {
    const out = await new Deno.Command("bash", {
      args: [
        "-c",
        `timeout -s KILL 20 "$@" | head -1; echo "\${PIPESTATUS[0]}"`,
        "_",
        Deno.execPath(),
        ...PULSO_RUN,
        "-r",
        path,
        "--no-hash",
        "-i",
        "1",
      ],
      env: { PULSO_SECRET: SECRET },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const [first, status] = new TextDecoder().decode(out.stdout).trimEnd().split("\n");
    assert.match(first, /^# /);
    assert.equal(status, "0", "ended by itself, not killed");
    assert.equal(new TextDecoder().decode(out.stderr), "");
  } finally {
    Deno.removeSync(path);
  }
});
