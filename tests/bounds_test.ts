/**
 * The bounds and --dedupe through the CLI: exact output within the bounds, '~' and 'other'
 * beyond them with every sum exact, the distinct-source estimate in the log, and retransmitted
 * SYNs counted once, from a file and live.
 */
import assert from "node:assert/strict";
import { CORPUS, have, inNamespace, pulso, PULSO_COMMAND, sleep } from "./_pulso.ts";
import { validateDigestJson } from "./_schema.ts";

const PC2 = `${CORPUS}lab/pc2_eth.pcap`;
const root = Deno.uid?.() === 0;

interface Line {
  source: string;
  total: number;
  approximate: boolean;
  ports: [string, number][];
}

/** The lines, the last line's count, and its ports (`other` last, when there are more). */
function parse(digest: string): { lines: Line[]; other: number; otherPorts: [string, number][] } {
  const lines: Line[] = [];
  let other = 0;
  let otherPorts: [string, number][] = [];
  for (const text of digest.trimEnd().split("\n")) {
    if (text.startsWith("other:")) {
      const [head, ...rest] = text.split(" ");
      other = Number(head.slice(6));
      otherPorts = rest.map((p) => {
        const [port, count] = p.split(":");
        return [port, Number(count)];
      });
      continue;
    }
    const [head, ...rest] = text.split(" ");
    const at = head.lastIndexOf(":");
    const total = head.slice(at + 1);
    lines.push({
      source: head.slice(0, at),
      total: Number(total.replace("~", "")),
      approximate: total.startsWith("~"),
      ports: rest.map((p) => {
        const [port, count] = p.split(":");
        return [port, Number(count.replace("~", ""))];
      }),
    });
  }
  return { lines, other, otherPorts };
}

Deno.test("within the default bounds the digest is unchanged; beyond them every sum is exact", async () => {
  const exact = await pulso(["-r", PC2, "--no-hash"]);
  assert.equal(exact.code, 0, exact.stderr);
  assert.doesNotMatch(exact.stdout, /~|other/);
  const wide = await pulso(["-r", PC2, "--no-hash", "--max-sources", "2", "--max-ports", "43"]);
  assert.equal(wide.stdout, exact.stdout, "bounds just wide enough change nothing");
  const truth = parse(exact.stdout);
  const total = truth.lines.reduce((a, l) => a + l.total, 0);
  for (const [sources, ports] of [[1, 1], [1, 5], [2, 3]]) {
    const run = await pulso([
      "-r",
      PC2,
      "--no-hash",
      `--max-sources=${sources}`,
      `--max-ports=${ports}`,
    ], { env: { PULSO_LOG: "info" } });
    assert.equal(run.code, 0, run.stderr);
    const got = parse(run.stdout);
    assert.ok(got.lines.length <= sources);
    let sum = got.other;
    for (const line of got.lines) {
      assert.ok(line.ports.length <= ports + 1);
      const listed = line.ports.reduce((a, [, c]) => a + c, 0);
      assert.equal(listed, line.total, `${line.source}: ports and other add up`);
      const real = truth.lines.find((l) => l.source === line.source)!;
      assert.ok(line.total <= real.total);
      for (const [port, count] of line.ports) {
        if (port === "other") continue;
        assert.ok(count <= real.ports.find(([p]) => p === port)![1], `${line.source}:${port}`);
      }
      sum += line.total;
    }
    assert.equal(sum, total, "the digest adds up to the connections counted");
    // The last line's ports are exact: the truth at each port less what the lines list there.
    const listedAt = (port: string) =>
      got.lines.reduce((a, l) => a + (l.ports.find(([p]) => p === port)?.[1] ?? 0), 0);
    const truthAt = (port: string) =>
      truth.lines.reduce((a, l) => a + (l.ports.find(([p]) => p === port)?.[1] ?? 0), 0);
    assert.ok(got.otherPorts.length <= ports + 1);
    for (const [port, count] of got.otherPorts) {
      if (port !== "other") assert.equal(count, truthAt(port) - listedAt(port), `other ${port}`);
    }
    // They add up to the last line plus the lines' own 'other' (ports unknown to the lines).
    const linesOther = got.lines.reduce(
      (a, l) => a + (l.ports.find(([p]) => p === "other")?.[1] ?? 0),
      0,
    );
    const otherSum = got.otherPorts.reduce((a, [, c]) => a + c, 0);
    assert.equal(otherSum, got.other + (got.other > 0 ? linesOther : 0));
    assert.match(
      run.stderr,
      /\[INFO pulso\] Bounds reached \(--max-sources \d+, --max-ports \d+\)/,
    );
  }
});

Deno.test("a spoofed flood beyond --max-sources: lower bounds, 'other', an estimate in the log", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/flood.pcap`;
    const gen = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--allow-write",
        "scripts/gen_flood.ts",
        file,
        "60000",
        "20000",
        "7",
      ],
      cwd: new URL("../", import.meta.url).pathname,
    }).output();
    assert.equal(gen.code, 0, new TextDecoder().decode(gen.stderr));
    const run = await pulso(["-r", file, "--no-hash", "--max-sources", "500"], {
      env: { PULSO_LOG: "info" },
    });
    assert.equal(run.code, 0, run.stderr);
    const got = parse(run.stdout);
    // Only the sources the summary vouches for: the 7 heavy ones and a few of the flood.
    assert.ok(got.lines.length >= 7 && got.lines.length < 500, `${got.lines.length} lines`);
    const sum = got.lines.reduce((a, l) => a + l.total, 0) + got.other;
    assert.equal(sum, 60000);
    // The 7 heavy sources (1000 SYNs each, to 443) are listed first, nearly exact.
    for (const line of got.lines.slice(0, 7)) assert.ok(line.total >= 1000 - 60000 / 500);
    for (const line of got.lines.slice(0, 7)) assert.equal(line.ports[0][0], "443");
    // The flood went to port 80: all of what is not listed.
    assert.deepEqual(got.otherPorts, [["80", got.other]]);
    const estimate = run.stderr.match(/\[INFO pulso\] ~(\d+) distinct sources \(estimated\)/);
    assert.ok(estimate, run.stderr);
    const distinct = Number(estimate[1]);
    assert.ok(Math.abs(distinct - 20007) < 20007 * 0.03, `${distinct}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--dedupe counts the unanswered connection to port 443 once, not four times", async () => {
  const plain = await pulso(["-r", PC2, "--no-hash"]);
  const dedupe = await pulso(["-r", PC2, "--no-hash", "--dedupe"], { env: { PULSO_LOG: "info" } });
  assert.equal(dedupe.code, 0, dedupe.stderr);
  const before = parse(plain.stdout).lines.find((l) => l.source === "10.99.2.2")!;
  const after = parse(dedupe.stdout).lines.find((l) => l.source === "10.99.2.2")!;
  assert.deepEqual(before.ports.find(([p]) => p === "443"), ["443", 4]);
  assert.deepEqual(after.ports.find(([p]) => p === "443"), ["443", 1]);
  assert.equal(after.total, before.total - 3);
  assert.deepEqual(
    after.ports.filter(([p]) => p !== "443"),
    before.ports.filter(([p]) => p !== "443"),
  );
  assert.match(
    dedupe.stderr,
    /\[INFO pulso\] 3 retransmitted SYNs not counted, 0 attempts forgotten/,
  );
});

Deno.test({
  name: "--dedupe live: a SYN to a host that never answers, retransmitted, counts once",
  ignore: !root || !have("unshare") || !have("ip"),
  fn: async () => {
    // A private network namespace: a veth whose peer drops the SYNs (wrong MAC), so that the
    // kernel retransmits them; nothing can leave the machine.
    const pulsoArgs = (extra: string) => `${PULSO_COMMAND} -d v0 -t 3.5 --no-hash ${extra}`;
    const script = `
      set -e
      ip link set lo up
      ip link add v0 type veth peer name v1
      ip link set v1 up
      ip addr add 10.200.0.2/24 dev v0
      ip link set v0 up
      ip neigh add 10.200.0.1 lladdr 02:00:00:00:00:01 dev v0
      ${pulsoArgs("")} > plain.out 2>plain.err &
      ${pulsoArgs("--dedupe")} > dedupe.out 2>dedupe.err &
      sleep 1
      timeout 2.2 bash -c 'exec 3<>/dev/tcp/10.200.0.1/443' 2>/dev/null || true
      wait
      echo "plain $(cat plain.out) $(cat plain.err)"
      echo "dedupe $(cat dedupe.out) $(cat dedupe.err)"
    `;
    const dir = await Deno.makeTempDir();
    try {
      const out = await inNamespace(script, dir);
      const text = out.stdout;
      assert.equal(out.code, 0, text + out.stderr);
      const plain = text.match(/^plain 10\.200\.0\.2:(\d+) 443:(\d+)/m);
      assert.ok(plain, text);
      assert.ok(Number(plain[1]) >= 2, `retransmitted: ${text}`);
      assert.match(text, /^dedupe 10\.200\.0\.2:1 443:1\s*$/m);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await sleep(0);
    }
  },
});

Deno.test("--top: the first sources, 'other' with the rest's ports; in JSON too; refused when 0", async () => {
  const exact = await pulso(["-r", PC2, "--no-hash"]);
  const first = exact.stdout.split("\n")[0];
  const top = await pulso(["-r", PC2, "--no-hash", "--top", "1"]);
  assert.equal(top.code, 0, top.stderr);
  assert.equal(top.stdout, `${first}\nother:4 25305:3 26468:1\n`);
  assert.equal((await pulso(["-r", PC2, "--no-hash", "--top=2"])).stdout, exact.stdout);
  const json = await pulso(["-r", PC2, "--top", "1", "--format", "json", "-i", "1"]);
  assert.equal(json.code, 0, json.stderr);
  const windows = json.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
  let others = 0;
  for (const window of windows) {
    validateDigestJson(window);
    assert.ok(window.sources.length <= 1);
    if (window.untracked > 0) {
      others++;
      const sum = window.other.ports.reduce(
        (a: number, p: { connections: number }) => a + p.connections,
        0,
      );
      assert.equal(sum + window.other.untracked, window.untracked, "exact: the ports add up");
    } else assert.equal(window.other, undefined);
  }
  assert.ok(others > 0, json.stdout);
  const bad = await pulso(["-r", PC2, "--top", "0"]);
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /^error: invalid value '0' for '--top <N>': expected a positive integer\n/,
  );
});
