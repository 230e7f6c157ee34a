/**
 * Windows live on the loopback device: a window is printed when the clock passes its end, empty
 * or not, each with its header and libpcap's counters; a signal prints the partial window, in
 * text and in JSON. Needs root (or CAP_NET_RAW and CAP_NET_ADMIN); skipped otherwise.
 */
import assert from "node:assert/strict";
import { connectOnce, hashOf, listen, PULSO_RUN, SECRET, sleep, spawnPulso } from "./_pulso.ts";
import { validateDigestJson } from "./_schema.ts";

const root = Deno.uid() === 0;

interface Header {
  start: number;
  end: number;
  fields: Record<string, string>;
  lines: string[];
}

function windows(text: string): Header[] {
  const out: Header[] = [];
  for (const line of text.trimEnd().split("\n")) {
    if (line.startsWith("# ")) {
      const [, start, end, ...fields] = line.split(" ");
      out.push({
        start: Date.parse(start),
        end: Date.parse(end),
        fields: Object.fromEntries(fields.map((f) => f.split("="))),
        lines: [],
      });
    } else if (line !== "") out.at(-1)!.lines.push(line);
  }
  return out;
}

Deno.test({
  name: "live --interval 1 -t 3.5: one window per second of the clock, empty ones included",
  ignore: !root,
  fn: async () => {
    using a = listen("127.0.0.1");
    const started = Date.now();
    const live = await spawnPulso(["-d", "lo", "-i", "1", "-t", "3.5", "-f", `dst port ${a.port}`]);
    await connectOnce("127.0.0.1", a.port);
    await connectOnce("127.0.0.1", a.port);
    const run = await live.done;
    const ended = Date.now();
    assert.equal(run.code, 0, run.stderr);
    const got = windows(run.stdout);
    // 3.5 s from the process's start cover four or five clock seconds, as the start falls.
    const first = got[0].start;
    const last = got.at(-1)!.end;
    const edges = Math.ceil(last / 1000) - Math.floor(first / 1000) - (last % 1000 === 0 ? 0 : 1);
    assert.equal(got.length, edges + 1, run.stdout);
    assert.ok(got.length >= 4 && got.length <= 5, run.stdout);
    assert.ok(first >= started - 10 && last <= ended + 10, "within the process's life");
    assert.ok(last - first >= 2_500 && last - first <= 3_600, `${last - first} ms`);
    got.forEach((w, i) => {
      if (i > 0) assert.equal(w.start, got[i - 1].end, "windows tile the capture");
      if (i < got.length - 1) assert.equal(w.end % 1000, 0, "inner edges on whole seconds");
      for (const field of ["connections", "sources", "received", "dropped", "ifdropped"]) {
        assert.ok(field in w.fields, `${field} in every header`);
      }
      assert.equal(w.fields.dropped, "0");
    });
    const counted = got.reduce((n, w) => n + Number(w.fields.connections), 0);
    assert.equal(counted, 2);
    assert.ok(got.some((w) => w.fields.connections === "0"), "empty windows are printed");
    const busy = got.filter((w) => w.lines.length > 0);
    assert.deepEqual(
      busy.flatMap((w) => w.lines).join("\n"),
      busy.length === 1
        ? `${hashOf("127.0.0.1")}:2 ${a.port}:2`
        : `${hashOf("127.0.0.1")}:1 ${a.port}:1\n${hashOf("127.0.0.1")}:1 ${a.port}:1`,
    );
  },
});

Deno.test({
  name: "live --interval: a window is printed when the clock passes its end, with no packet",
  ignore: !root,
  fn: async () => {
    using a = listen("127.0.0.1");
    const child = new Deno.Command(Deno.execPath(), {
      args: [...PULSO_RUN, "-d", "lo", "-i", "0.2", "-f", `dst port ${a.port}`],
      env: { PULSO_SECRET: SECRET },
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    const seen = Date.now();
    const header = new TextDecoder().decode(value);
    assert.match(header, /^# \S+ \S+ connections=0 sources=0 received=0 dropped=0/);
    const end = Date.parse(header.split(" ")[2]);
    assert.ok(seen >= end && seen - end < 500, `printed ${seen - end} ms after the window's end`);
    reader.releaseLock();
    child.kill("SIGTERM");
    const status = await child.status;
    await child.stdout.cancel();
    assert.equal(status.code, 0);
  },
});

for (const format of ["text", "json"] as const) {
  Deno.test({
    name: `a signal mid-window prints the partial window (${format})`,
    ignore: !root,
    fn: async () => {
      using a = listen("127.0.0.1");
      const live = await spawnPulso([
        "-d",
        "lo",
        "-i",
        "3600",
        "--format",
        format,
        "-f",
        `dst port ${a.port}`,
      ]);
      await connectOnce("127.0.0.1", a.port);
      await connectOnce("127.0.0.1", a.port);
      await sleep(300);
      live.child.kill("SIGINT");
      const run = await live.done;
      assert.equal(run.code, 0, run.stderr);
      if (format === "text") {
        const [w, ...rest] = windows(run.stdout);
        assert.deepEqual(rest, []);
        assert.equal(w.fields.connections, "2");
        assert.notEqual(w.start % 3_600_000, 0, "a partial window starts when pulso did");
        assert.deepEqual(w.lines, [`${hashOf("127.0.0.1")}:2 ${a.port}:2`]);
      } else {
        const lines = run.stdout.trimEnd().split("\n");
        assert.equal(lines.length, 1);
        const object = JSON.parse(lines[0]);
        validateDigestJson(object);
        assert.equal(object.connections, 2);
        assert.equal(object.sources[0].source, hashOf("127.0.0.1"));
        assert.ok(object.capture.received >= 2, JSON.stringify(object.capture));
        assert.equal(object.capture.dropped, 0);
      }
    },
  });
}
