/**
 * The `--listen` endpoint as Prometheus sees it: `promtool check metrics` on the text output of a
 * live pulso, idle and after traffic; a real Prometheus server (Debian's package) scraping two
 * pulso processes, whose query API gives the connections the test made, per instance and summed
 * by port; and scrapes answered during a SYN flood on a private lo, with no drop. Needs root
 * (and promtool, prometheus, gcc: scripts/test installs them); skipped otherwise, with the
 * reason printed.
 */
import assert from "node:assert/strict";
import {
  buildSynFlood,
  connectOnce,
  hashOf,
  have,
  inNamespace,
  listen,
  type LivePulso,
  promtoolCheck,
  PULSO_COMMAND,
  ROOT,
  sleep,
  spawnPulso,
} from "./_pulso.ts";

const root = Deno.uid() === 0;

/** Time for libpcap to hand over what it captured (its buffer timeout is 10 ms). */
const SETTLE_MS = 400;

/** Why a test cannot run here, printed once; undefined when it can. */
function skipReason(name: string, needs: string[]): string | undefined {
  const missing = [...(root ? [] : ["root"]), ...needs.filter((cmd) => !have(cmd))];
  if (missing.length === 0) return undefined;
  const reason = `${name}: skipped, needs ${missing.join(", ")}`;
  console.log(`prometheus_test.ts: ${reason}`);
  return reason;
}

/** A port that was free a moment ago on 127.0.0.1. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A live pulso serving its metrics on 127.0.0.1. */
interface Serving extends LivePulso {
  /** The port of its endpoint. */
  port: number;
  /** `http://127.0.0.1:PORT/metrics`. */
  url: string;
}

/**
 * Starts pulso with `--listen 127.0.0.1:PORT` on a free port (another if that one was taken in
 * the meantime), and resolves once it captures and serves.
 */
async function spawnServing(args: string[]): Promise<Serving> {
  for (let attempt = 0;; attempt++) {
    const port = freePort();
    const live = await spawnPulso(["--listen", `127.0.0.1:${port}`, ...args]);
    const url = `http://127.0.0.1:${port}/metrics`;
    try {
      // The endpoint is up before the capture opens: once pulso logged its filter, it answers.
      await (await fetch(url)).body?.cancel();
      return { ...live, port, url };
    } catch {
      const run = await live.done;
      if (attempt < 3 && /the address is in use/.test(run.stderr)) continue;
      throw new Error(`pulso did not serve on ${port}: exit ${run.code}\n${run.stderr}`);
    }
  }
}

/** Stops a pulso with SIGTERM, and checks it exits 0 with `digest` on stdout. */
async function stop(live: LivePulso, digest: string): Promise<void> {
  live.child.kill("SIGTERM");
  const run = await live.done;
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, digest);
}

/** The value of the sample `series` (name and labels as written) in a text exposition. */
function sample(text: string, series: string): string | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line?.slice(series.length + 1);
}

const PROMTOOL_SKIP = skipReason("promtool check metrics", ["promtool"]);

Deno.test({
  name: "promtool check metrics passes the endpoint's text output, idle and after traffic",
  ignore: PROMTOOL_SKIP !== undefined,
  fn: async () => {
    // promtool does lint here: a counter without `_total` is reported, with a non-zero status.
    const control = await promtoolCheck("# HELP x a counter\n# TYPE x counter\nx 1\n");
    assert.notEqual(control.code, 0);
    assert.match(control.output, /counter metrics should have "_total" suffix/);

    using a = listen("127.0.0.1");
    const live = await spawnServing(["-d", "lo", "-f", `dst port ${a.port}`]);
    try {
      const idle = await fetch(live.url);
      assert.equal(idle.status, 200);
      assert.equal(idle.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
      const idleText = await idle.text();
      assert.deepEqual(await promtoolCheck(idleText), { code: 0, output: "" }, idleText);
      assert.equal(sample(idleText, "pulso_connections_total"), "0");
      assert.equal(sample(idleText, "pulso_unlisted_port_connections_total"), "0");
      assert.doesNotMatch(idleText, /^pulso_port_connections_total/m, "no port counted yet");
      assert.match(idleText, /^pulso_build_info\{version="[^"]+",libpcap="libpcap[^"]*"\} 1$/m);

      for (let i = 0; i < 3; i++) await connectOnce("127.0.0.1", a.port);
      await sleep(SETTLE_MS);
      const busy = await fetch(live.url);
      assert.equal(busy.status, 200);
      const busyText = await busy.text();
      assert.deepEqual(await promtoolCheck(busyText), { code: 0, output: "" }, busyText);
      assert.equal(sample(busyText, "pulso_connections_total"), "3");
      assert.equal(sample(busyText, `pulso_port_connections_total{port="${a.port}"}`), "3");
      assert.equal(
        busyText.split("\n").filter((l) => l.startsWith("pulso_port_connections_total")).length,
        1,
        "one port series",
      );
      assert.equal(sample(busyText, "pulso_unlisted_port_connections_total"), "0");
      assert.equal(sample(busyText, "pulso_distinct_sources"), "1");
      assert.equal(sample(busyText, "pulso_packets_dropped_total"), "0");
      assert.ok(Number(sample(busyText, "pulso_packets_received_total")) >= 3, busyText);

      const om = await fetch(live.url, {
        headers: { Accept: "application/openmetrics-text; version=1.0.0" },
      });
      assert.equal(om.status, 200);
      assert.equal(
        om.headers.get("content-type"),
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
      );
      const omText = await om.text();
      assert.ok(omText.endsWith("\n# EOF\n"), omText);
      assert.equal(omText.indexOf("# EOF"), omText.length - "# EOF\n".length, "EOF once, last");
      assert.match(omText, /^# TYPE pulso_connections counter$/m);
      assert.match(omText, /^# TYPE pulso_build info$/m);
      assert.equal(sample(omText, "pulso_connections_total"), "3");
      assert.equal(sample(omText, `pulso_port_connections_total{port="${a.port}"}`), "3");
    } finally {
      await stop(live, `${hashOf("127.0.0.1")}:3 ${a.port}:3\n`);
    }
  },
});

/** One series of a Prometheus query's instant vector. */
interface Series {
  metric: Record<string, string>;
  value: [number, string];
}

/** One of Prometheus' active targets, as `/api/v1/targets` gives it. */
interface Target {
  labels: Record<string, string>;
  health: string;
  lastError: string;
  lastScrape: string;
}

async function getJson(url: URL | string): Promise<{ status: string; data: unknown }> {
  const response = await fetch(url);
  const body = await response.text();
  assert.equal(response.status, 200, body);
  const json = JSON.parse(body);
  assert.equal(json.status, "success", body);
  return json;
}

/** An instant query at `time` (ms since the epoch; default: now), as `label value → value`. */
async function query(
  base: string,
  expr: string,
  label: string,
  time?: number,
): Promise<Record<string, string>> {
  const url = new URL("/api/v1/query", base);
  url.searchParams.set("query", expr);
  if (time !== undefined) url.searchParams.set("time", (time / 1000).toFixed(3));
  const { data } = await getJson(url);
  const { resultType, result } = data as { resultType: string; result: Series[] };
  assert.equal(resultType, "vector", expr);
  return Object.fromEntries(result.map((s) => [s.metric[label] ?? "", s.value[1]]));
}

async function targets(base: string): Promise<Target[]> {
  const { data } = await getJson(new URL("/api/v1/targets?state=active", base));
  return (data as { activeTargets: Target[] }).activeTargets;
}

/** Polls `check` every 100 ms until it returns true; fails with `what` after `ms`. */
async function waitFor(what: () => string, ms: number, check: () => Promise<boolean>) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what()}`);
    await sleep(100);
  }
}

const PROMETHEUS_SKIP = skipReason("real Prometheus", ["prometheus"]);

Deno.test({
  name: "a real Prometheus scrapes two pulso: its query API gives the connections made",
  ignore: PROMETHEUS_SKIP !== undefined,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "pulso-prometheus-" });
    using a = listen("127.0.0.1");
    using b = listen("127.0.0.1");
    const filter = `dst port ${a.port} or dst port ${b.port}`;
    let prometheus: Deno.ChildProcess | undefined;
    let prometheusOut: Promise<Deno.CommandOutput> | undefined;
    const pulsos: Serving[] = [];
    /** What Prometheus printed, once it has exited. */
    const log = async () => new TextDecoder().decode((await prometheusOut)?.stderr);
    try {
      // pulso first (their ports go into the configuration), then Prometheus, whose scrape
      // manager only starts scraping after its first discovery update, 5 s in.
      const started = await Promise.allSettled(
        [1, 2].map(() => spawnServing(["-d", "lo", "-f", filter])),
      );
      for (const s of started) if (s.status === "fulfilled") pulsos.push(s.value);
      for (const s of started) if (s.status === "rejected") throw s.reason;
      const instances = pulsos.map((p) => `127.0.0.1:${p.port}`);
      await Deno.writeTextFile(
        `${dir}/prometheus.yml`,
        `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: pulso
    static_configs:
      - targets: [${instances.map((i) => `"${i}"`).join(", ")}]
`,
      );
      const webPort = freePort();
      const base = `http://127.0.0.1:${webPort}`;
      prometheus = new Deno.Command("prometheus", {
        args: [
          `--config.file=${dir}/prometheus.yml`,
          `--storage.tsdb.path=${dir}/data`,
          `--web.listen-address=127.0.0.1:${webPort}`,
          "--log.level=warn",
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      prometheusOut = prometheus.output();
      let exited = false;
      prometheus.status.then(() => exited = true);

      let seen: Target[] = [];
      await waitFor(() => `both targets up: ${JSON.stringify(seen)}`, 15_000, async () => {
        if (exited) throw new Error(`prometheus exited:\n${await log()}`);
        try {
          seen = await targets(base);
        } catch {
          return false; // not listening yet
        }
        return seen.length === 2 && seen.every((t) => t.health === "up");
      });
      assert.deepEqual(seen.map((t) => t.labels.instance).sort(), [...instances].sort());
      for (const t of seen) assert.equal(t.lastError, "", t.labels.instance);
      const before = Date.now();
      // A scrape that started by then has been answered before the traffic starts.
      await sleep(100);

      for (let i = 0; i < 3; i++) await connectOnce("127.0.0.1", a.port);
      for (let i = 0; i < 2; i++) await connectOnce("127.0.0.1", b.port);
      await sleep(SETTLE_MS);
      for (const p of pulsos) {
        const text = await (await fetch(p.url)).text();
        assert.equal(sample(text, "pulso_connections_total"), "5", text);
      }
      const counted = Date.now();

      // Two scrapes of each target that started after pulso had counted everything.
      const firstAfter: Record<string, number> = {};
      await waitFor(
        () => `two scrapes after the traffic: ${JSON.stringify(seen)}`,
        5_000,
        async () => {
          seen = await targets(base);
          for (const t of seen) {
            const at = Date.parse(t.lastScrape);
            if (at > counted) firstAfter[t.labels.instance] ??= at;
          }
          return instances.every((i) => {
            const t = seen.find((t) => t.labels.instance === i);
            return t !== undefined && firstAfter[i] !== undefined &&
              Date.parse(t.lastScrape) > firstAfter[i];
          });
        },
      );
      for (const t of seen) assert.equal(t.health, "up", JSON.stringify(t));

      const expected = (value: string) => Object.fromEntries(instances.map((i) => [i, value]));
      assert.deepEqual(
        await query(base, "pulso_connections_total", "instance", before),
        expected("0"),
        "before the traffic",
      );
      assert.deepEqual(await query(base, "pulso_connections_total", "instance"), expected("5"));
      assert.deepEqual(
        await query(base, "sum by (port) (pulso_port_connections_total)", "port"),
        { [a.port]: "6", [b.port]: "4" },
      );
      assert.deepEqual(
        await query(base, "pulso_unlisted_port_connections_total", "instance"),
        expected("0"),
      );
      assert.deepEqual(
        await query(base, "resets(pulso_connections_total[1m])", "instance"),
        expected("0"),
      );
      assert.deepEqual(await query(base, "pulso_packets_dropped_total", "instance"), expected("0"));
      // Several scrapes of each made it into the database, and the info metric with its labels.
      const scrapes = await query(base, "count_over_time(pulso_connections_total[1m])", "instance");
      for (const i of instances) assert.ok(Number(scrapes[i]) >= 3, JSON.stringify(scrapes));
      const info = await query(base, "pulso_build_info", "instance");
      assert.deepEqual(info, expected("1"));
      const version = await query(base, "count by (version) (pulso_build_info)", "version");
      assert.deepEqual(Object.keys(version), [
        JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).version,
      ]);

      const digest = `${hashOf("127.0.0.1")}:5 ${a.port}:3 ${b.port}:2\n`;
      for (const p of pulsos.splice(0)) await stop(p, digest);
      prometheus.kill("SIGTERM");
      const out = await prometheusOut;
      prometheus = undefined;
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    } finally {
      // After a failure: stop what still runs, without hiding the failure.
      for (const p of pulsos) {
        p.child.kill("SIGTERM");
        await p.done;
      }
      if (prometheus) {
        try {
          prometheus.kill("SIGTERM");
        } catch {
          // Already gone.
        }
        await prometheusOut;
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** The scraper run inside the namespace: scrapes every GAP ms until UNTIL (ms since the epoch). */
const SCRAPER = `
const [port, until, gap] = Deno.args.map(Number);
const scrapes = [];
do {
  const start = Date.now();
  try {
    const response = await fetch(\`http://127.0.0.1:\${port}/metrics\`, {
      signal: AbortSignal.timeout(1000),
    });
    const body = await response.text();
    scrapes.push({ start, end: Date.now(), status: response.status, body });
  } catch (error) {
    scrapes.push({ start, end: Date.now(), error: String(error) });
  }
  await new Promise((resolve) => setTimeout(resolve, gap));
} while (Date.now() + gap < until);
console.log(JSON.stringify(scrapes));
`;

interface Scrape {
  start: number;
  end: number;
  status?: number;
  body?: string;
  error?: string;
}

const FLOOD_SKIP = skipReason("scrapes during a SYN flood", ["unshare", "ip", "gcc"]);

Deno.test({
  name: "scrapes during a SYN flood on lo are answered, and the capture drops nothing",
  ignore: FLOOD_SKIP !== undefined,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "pulso-flood-scrape-" });
    try {
      await buildSynFlood(dir);
      await Deno.writeTextFile(`${dir}/scrape.js`, SCRAPER);
      const scrape = `${Deno.execPath()} run --quiet --no-prompt --allow-net=127.0.0.1 scrape.js`;
      // In a namespace of its own: 100 000 SYN/s for 2 s from 16 sources to 127.0.0.1:9999 on its
      // lo (a rate pulso keeps up with by far), scraped every 200 ms meanwhile; pulso counts only
      // the flood's port, so that the scrapes' own connections are not counted.
      const script = `
        set -e
        ip link set lo up
        PULSO_LOG=info ${PULSO_COMMAND} -d lo -f 'tcp dst port 9999' --listen 127.0.0.1:9464 \\
          > out 2> err &
        P=$!
        for i in $(seq 100); do grep -q 'Filter: ' err 2>/dev/null && break; sleep 0.05; done
        grep -q 'Filter: ' err || { kill $P; cat err >&2; exit 1; }
        date +%s%3N > flood_start
        ${dir}/syn_flood lo 100000 2 16 9999 > sent &
        F=$!
        ${scrape} 9464 $(( $(cat flood_start) + 2000 )) 200 > during.json
        wait $F
        date +%s%3N > flood_end
        sleep ${SETTLE_MS / 1000}
        ${scrape} 9464 0 0 > after.json
        kill -TERM $P
        code=0
        wait $P || code=$?
        echo $code > code
      `;
      const ran = await inNamespace(script, dir);
      assert.equal(ran.code, 0, ran.stdout + ran.stderr);
      const read = (name: string) => Deno.readTextFile(`${dir}/${name}`);
      const stderr = await read("err");
      assert.equal((await read("code")).trim(), "0", stderr);
      const sent = Number((await read("sent")).match(/^sent (\d+)$/m)?.[1]);
      assert.ok(sent > 150_000, `sent ${sent}`);
      const floodStart = Number(await read("flood_start"));
      const floodEnd = Number(await read("flood_end"));

      const during: Scrape[] = JSON.parse(await read("during.json"));
      assert.ok(during.length >= 4, `${during.length} scrapes during the flood`);
      let previous = -1;
      for (const s of during) {
        assert.equal(s.error, undefined, `a scrape failed: ${s.error}`);
        assert.equal(s.status, 200);
        assert.ok(s.end - s.start < 1000, `answered in ${s.end - s.start} ms`);
        assert.ok(s.start >= floodStart && s.end <= floodEnd, "during the flood");
        const connections = Number(sample(s.body!, "pulso_connections_total"));
        assert.ok(connections > previous, `pulso_connections_total grows: ${connections}`);
        assert.ok(connections < sent, `${connections} of ${sent}: the flood was under way`);
        assert.equal(sample(s.body!, "pulso_packets_dropped_total"), "0", s.body);
        previous = connections;
      }

      const [after]: Scrape[] = JSON.parse(await read("after.json"));
      assert.equal(after.status, 200, after.error);
      assert.equal(sample(after.body!, "pulso_connections_total"), String(sent));
      assert.equal(sample(after.body!, 'pulso_port_connections_total{port="9999"}'), String(sent));
      assert.equal(sample(after.body!, "pulso_packets_dropped_total"), "0");
      assert.equal(sample(after.body!, "pulso_packets_interface_dropped_total"), "0");
      assert.ok(Number(sample(after.body!, "pulso_packets_received_total")) >= sent, after.body);

      assert.doesNotMatch(stderr, /WARN/, stderr);
      const end = stderr.match(
        /^\[INFO pulso\] (\d+) packets received by filter, 0 dropped by kernel, 0 dropped by interface$/m,
      );
      assert.ok(end, stderr);
      assert.ok(Number(end[1]) >= sent, end[0]);
      const digest = await read("out");
      const counted = digest.split("\n").filter(Boolean)
        .reduce((n, line) => n + Number(line.split(" ")[0].split(":")[1]), 0);
      assert.equal(counted, sent, "every SYN sent is in the digest");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
