import assert from "node:assert/strict";
import { have, promtoolCheck } from "../tests/_pulso.ts";
import {
  CONTENT_TYPES,
  escapeLabelValue,
  MetricsExposition,
  type MetricsSnapshot,
  negotiateFormat,
} from "./metrics.ts";

const VERSIONS = { version: "0.1.0", libpcap: "libpcap version 1.10.3 (with TPACKET_V3)" };

function ports(counts: Record<number, number>): Float64Array {
  const array = new Float64Array(65536);
  for (const [port, count] of Object.entries(counts)) array[Number(port)] = count;
  return array;
}

function idle(): MetricsSnapshot {
  return {
    connections: 0,
    portConnections: new Float64Array(65536),
    malformed: 0,
    distinctSources: 0,
    distinctSourcesExact: true,
  };
}

function small(): MetricsSnapshot {
  return {
    connections: 9,
    portConnections: ports({ 22: 1, 80: 3, 443: 5 }),
    malformed: 2,
    retransmissions: 4,
    capture: { received: 120, dropped: 1, ifDropped: 0 },
    distinctSources: 3,
    distinctSourcesExact: true,
    lastWindow: {
      end: 1_700_000_060_500,
      connections: 6,
      topSources: [
        { source: "[2001:db8::1]", connections: 3 },
        { source: "e3b4bdc68b94c649", connections: 2 },
        { source: "10.0.0.1", connections: 1 },
      ],
    },
  };
}

/** The samples of a text exposition, by series (name and labels as written). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    const key = line.slice(0, space);
    assert.ok(!out.has(key), `series ${key} twice`);
    out.set(key, Number(line.slice(space + 1)));
  }
  return out;
}

const SMALL_TEXT = `# HELP pulso_connections_total New TCP connections counted since start
# TYPE pulso_connections_total counter
pulso_connections_total 9
# HELP pulso_port_connections_total New TCP connections counted since start, by destination port (a bounded set of ports; the others are counted in pulso_unlisted_port_connections_total)
# TYPE pulso_port_connections_total counter
pulso_port_connections_total{port="80"} 3
pulso_port_connections_total{port="443"} 5
# HELP pulso_unlisted_port_connections_total New TCP connections counted since start to destination ports without a series in pulso_port_connections_total
# TYPE pulso_unlisted_port_connections_total counter
pulso_unlisted_port_connections_total 1
# HELP pulso_malformed_frames_total Captured frames that could not be decoded, since start
# TYPE pulso_malformed_frames_total counter
pulso_malformed_frames_total 2
# HELP pulso_retransmissions_total Retransmitted SYNs not counted again (--dedupe), since start
# TYPE pulso_retransmissions_total counter
pulso_retransmissions_total 4
# HELP pulso_packets_received_total Packets received by the capture, as counted by libpcap
# TYPE pulso_packets_received_total counter
pulso_packets_received_total 120
# HELP pulso_packets_dropped_total Packets dropped by the capture for lack of buffer space, as counted by libpcap
# TYPE pulso_packets_dropped_total counter
pulso_packets_dropped_total 1
# HELP pulso_packets_interface_dropped_total Packets dropped by the network interface or its driver, as counted by libpcap
# TYPE pulso_packets_interface_dropped_total counter
pulso_packets_interface_dropped_total 0
# HELP pulso_distinct_sources Distinct sources: of the last completed window when counting by window, of the run so far otherwise
# TYPE pulso_distinct_sources gauge
pulso_distinct_sources 3
# HELP pulso_distinct_sources_exact 1 when pulso_distinct_sources is an exact count, 0 when it is an estimate
# TYPE pulso_distinct_sources_exact gauge
pulso_distinct_sources_exact 1
# HELP pulso_window_end_timestamp_seconds End of the last completed window, in seconds since the Unix epoch
# TYPE pulso_window_end_timestamp_seconds gauge
pulso_window_end_timestamp_seconds 1700000060.5
# HELP pulso_window_connections New TCP connections counted in the last completed window
# TYPE pulso_window_connections gauge
pulso_window_connections 6
# HELP pulso_window_source_connections New TCP connections from each of the top sources of the last completed window
# TYPE pulso_window_source_connections gauge
pulso_window_source_connections{source="2001:db8::1"} 3
pulso_window_source_connections{source="e3b4bdc68b94c649"} 2
# HELP pulso_build_info The versions of pulso and of libpcap, as labels; the value is always 1
# TYPE pulso_build_info gauge
pulso_build_info{version="0.1.0",libpcap="libpcap version 1.10.3 (with TPACKET_V3)"} 1
`;

const SMALL_OPENMETRICS = `# HELP pulso_connections New TCP connections counted since start
# TYPE pulso_connections counter
pulso_connections_total 9
# HELP pulso_port_connections New TCP connections counted since start, by destination port (a bounded set of ports; the others are counted in pulso_unlisted_port_connections_total)
# TYPE pulso_port_connections counter
pulso_port_connections_total{port="80"} 3
pulso_port_connections_total{port="443"} 5
# HELP pulso_unlisted_port_connections New TCP connections counted since start to destination ports without a series in pulso_port_connections_total
# TYPE pulso_unlisted_port_connections counter
pulso_unlisted_port_connections_total 1
# HELP pulso_malformed_frames Captured frames that could not be decoded, since start
# TYPE pulso_malformed_frames counter
pulso_malformed_frames_total 2
# HELP pulso_retransmissions Retransmitted SYNs not counted again (--dedupe), since start
# TYPE pulso_retransmissions counter
pulso_retransmissions_total 4
# HELP pulso_packets_received Packets received by the capture, as counted by libpcap
# TYPE pulso_packets_received counter
pulso_packets_received_total 120
# HELP pulso_packets_dropped Packets dropped by the capture for lack of buffer space, as counted by libpcap
# TYPE pulso_packets_dropped counter
pulso_packets_dropped_total 1
# HELP pulso_packets_interface_dropped Packets dropped by the network interface or its driver, as counted by libpcap
# TYPE pulso_packets_interface_dropped counter
pulso_packets_interface_dropped_total 0
# HELP pulso_distinct_sources Distinct sources: of the last completed window when counting by window, of the run so far otherwise
# TYPE pulso_distinct_sources gauge
pulso_distinct_sources 3
# HELP pulso_distinct_sources_exact 1 when pulso_distinct_sources is an exact count, 0 when it is an estimate
# TYPE pulso_distinct_sources_exact gauge
pulso_distinct_sources_exact 1
# HELP pulso_window_end_timestamp_seconds End of the last completed window, in seconds since the Unix epoch
# TYPE pulso_window_end_timestamp_seconds gauge
pulso_window_end_timestamp_seconds 1700000060.5
# HELP pulso_window_connections New TCP connections counted in the last completed window
# TYPE pulso_window_connections gauge
pulso_window_connections 6
# HELP pulso_window_source_connections New TCP connections from each of the top sources of the last completed window
# TYPE pulso_window_source_connections gauge
pulso_window_source_connections{source="2001:db8::1"} 3
pulso_window_source_connections{source="e3b4bdc68b94c649"} 2
# HELP pulso_build The versions of pulso and of libpcap, as labels; the value is always 1
# TYPE pulso_build info
pulso_build_info{version="0.1.0",libpcap="libpcap version 1.10.3 (with TPACKET_V3)"} 1
# EOF
`;

Deno.test("metrics: exact text format 0.0.4 of a small snapshot", () => {
  const exposition = new MetricsExposition({ ...VERSIONS, maxPortSeries: 2, maxSourceSeries: 2 });
  assert.equal(exposition.render(small(), "text"), SMALL_TEXT);
});

Deno.test("metrics: exact OpenMetrics 1.0.0 of a small snapshot", () => {
  const exposition = new MetricsExposition({ ...VERSIONS, maxPortSeries: 2, maxSourceSeries: 2 });
  assert.equal(exposition.render(small(), "openmetrics"), SMALL_OPENMETRICS);
});

Deno.test("metrics: the two formats show the same samples", () => {
  const exposition = new MetricsExposition(VERSIONS);
  const text = exposition.render(small(), "text");
  const om = exposition.render(small(), "openmetrics");
  assert.deepEqual(samples(om), samples(text));
  assert.ok(om.endsWith("\n# EOF\n"));
  assert.ok(!text.includes("# EOF"));
});

Deno.test("metrics: idle snapshot: what is not known is left out", () => {
  const exposition = new MetricsExposition(VERSIONS);
  for (const format of ["text", "openmetrics"] as const) {
    const text = exposition.render(idle(), format);
    const names = [...samples(text).keys()];
    assert.deepEqual(names, [
      "pulso_connections_total",
      "pulso_unlisted_port_connections_total",
      "pulso_malformed_frames_total",
      "pulso_distinct_sources",
      "pulso_distinct_sources_exact",
      `pulso_build_info{version="0.1.0",libpcap="libpcap version 1.10.3 (with TPACKET_V3)"}`,
    ]);
    for (const absent of ["port_connections", "retransmissions", "packets", "window"]) {
      const line = new RegExp(`^(# (HELP|TYPE) )?pulso_${absent}`, "m");
      assert.doesNotMatch(text, line, `${absent} in ${format}`);
    }
  }
  assert.deepEqual(exposition.listedPorts, []);
});

Deno.test("metrics: a window with no sources shows its totals, no source family", () => {
  const exposition = new MetricsExposition(VERSIONS);
  const snapshot = {
    ...idle(),
    lastWindow: { end: 1_700_000_000_000, connections: 0, topSources: [] },
  };
  const text = exposition.render(snapshot, "text");
  assert.match(text, /^pulso_window_end_timestamp_seconds 1700000000$/m);
  assert.match(text, /^pulso_window_connections 0$/m);
  assert.ok(!text.includes("pulso_window_source_connections"));
});

Deno.test("metrics: label values escaped (backslash, double quote, line feed)", () => {
  assert.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  assert.equal(escapeLabelValue("plain é"), "plain é");
  assert.equal(escapeLabelValue("\r\t"), "\r\t"); // only the three the formats name
  const exposition = new MetricsExposition({ version: 'v"1\\', libpcap: "line\nbreak" });
  const snapshot: MetricsSnapshot = {
    ...idle(),
    lastWindow: { end: 0, connections: 1, topSources: [{ source: 'we"ird\\\n', connections: 1 }] },
  };
  for (const format of ["text", "openmetrics"] as const) {
    const text = exposition.render(snapshot, format);
    assert.ok(text.includes(`pulso_build_info{version="v\\"1\\\\",libpcap="line\\nbreak"} 1\n`));
    assert.ok(text.includes(`pulso_window_source_connections{source="we\\"ird\\\\\\n"} 1\n`));
    // No raw line feed inside a line: every line is a comment or a sample.
    for (const line of text.split("\n").slice(0, -1)) assert.match(line, /^(# |pulso_)/);
  }
});

Deno.test("metrics: numbers: integers as integers, fractions, NaN and +Inf", () => {
  const exposition = new MetricsExposition(VERSIONS);
  const snapshot: MetricsSnapshot = {
    ...idle(),
    connections: 2 ** 53,
    portConnections: ports({ 443: 2 ** 53 }),
    malformed: 1e21,
    distinctSources: NaN,
    distinctSourcesExact: false,
    capture: { received: Infinity, dropped: 0, ifDropped: 0 },
  };
  for (const format of ["text", "openmetrics"] as const) {
    const text = exposition.render(snapshot, format);
    assert.match(text, /^pulso_connections_total 9007199254740992$/m);
    assert.match(text, /^pulso_port_connections_total\{port="443"\} 9007199254740992$/m);
    assert.match(text, /^pulso_unlisted_port_connections_total 0$/m);
    assert.match(text, /^pulso_malformed_frames_total 1e\+21$/m);
    assert.match(text, /^pulso_distinct_sources NaN$/m);
    assert.match(text, /^pulso_distinct_sources_exact 0$/m);
    assert.match(text, /^pulso_packets_received_total \+Inf$/m);
  }
});

Deno.test("metrics: port series are sticky; free slots to the most counted, ties to the lower port", () => {
  const exposition = new MetricsExposition({ ...VERSIONS, maxPortSeries: 3 });
  const counts = new Float64Array(65536);
  const snapshot = (): MetricsSnapshot => ({
    ...idle(),
    connections: counts.reduce((a, b) => a + b, 0),
    portConnections: counts,
  });
  // First scrape: one port counted, it takes a slot.
  counts[8080] = 1;
  exposition.render(snapshot(), "text");
  assert.deepEqual(exposition.listedPorts, [8080]);
  // Three new ports for two free slots: 443 (most), then 22 before 80 (tie on 4).
  counts[443] = 9;
  counts[80] = 4;
  counts[22] = 4;
  let s = samples(exposition.render(snapshot(), "text"));
  assert.deepEqual(exposition.listedPorts, [22, 443, 8080]);
  assert.equal(s.get('pulso_port_connections_total{port="22"}'), 4);
  assert.equal(s.get('pulso_port_connections_total{port="443"}'), 9);
  assert.equal(s.get('pulso_port_connections_total{port="8080"}'), 1);
  assert.equal(s.get('pulso_port_connections_total{port="80"}'), undefined);
  assert.equal(s.get("pulso_unlisted_port_connections_total"), 4);
  // 80 and a new port outgrow 8080: the slots stay where they are.
  counts[80] += 1000;
  counts[3306] = 500;
  s = samples(exposition.render(snapshot(), "text"));
  assert.deepEqual(exposition.listedPorts, [22, 443, 8080]);
  assert.equal(s.get('pulso_port_connections_total{port="8080"}'), 1);
  assert.equal(s.get("pulso_unlisted_port_connections_total"), 1504);
  assert.equal(s.get("pulso_connections_total"), 1518);
});

Deno.test("metrics: every counter monotonic, ports plus unlisted equal the total, bounds kept", () => {
  // Random traffic over 40 ports, 8 slots, a scrape every few connections.
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (const maxPortSeries of [0, 1, 8, 64]) {
    const exposition = new MetricsExposition({ ...VERSIONS, maxPortSeries });
    const counts = new Float64Array(65536);
    let connections = 0;
    let previous = new Map<string, number>();
    for (let scrape = 0; scrape < 300; scrape++) {
      const arrivals = Math.floor(random() * 5);
      for (let i = 0; i < arrivals; i++) {
        // Skewed: low ports often, so that the popular ones change over time.
        const port = 1000 + Math.floor(random() ** (1 + scrape / 100) * 40);
        counts[port]++;
        connections++;
      }
      const format = scrape % 2 === 0 ? "text" : "openmetrics";
      const s = samples(
        exposition.render({ ...idle(), connections, portConnections: counts }, format),
      );
      let portSum = 0;
      let portSeries = 0;
      for (const [key, value] of s) {
        if (key.startsWith("pulso_port_connections_total{")) {
          portSum += value;
          portSeries++;
          const port = Number(/port="(\d+)"/.exec(key)![1]);
          assert.equal(value, counts[port]); // exact
        }
      }
      assert.ok(portSeries <= maxPortSeries);
      const unlisted = s.get("pulso_unlisted_port_connections_total")!;
      assert.equal(portSum + unlisted, connections);
      for (const [key, value] of previous) {
        if (!key.endsWith("_total") && !key.includes("_total{")) continue;
        const now = s.get(key);
        assert.ok(now !== undefined, `${key} disappeared`); // sticky
        assert.ok(now >= value, `${key} went from ${value} to ${now}`);
      }
      previous = s;
    }
  }
});

Deno.test("metrics: source series bounded, brackets stripped, duplicates once", () => {
  const exposition = new MetricsExposition({ ...VERSIONS, maxSourceSeries: 3 });
  const topSources = [
    { source: "[::1]", connections: 9 },
    { source: "::1", connections: 8 }, // the same label once stripped: left out
    { source: "10.0.0.1", connections: 7 },
    { source: "aaaaaaaaaaaaaaaa", connections: 6 },
    { source: "bbbbbbbbbbbbbbbb", connections: 5 },
  ];
  const text = exposition.render(
    { ...idle(), lastWindow: { end: 1000, connections: 35, topSources } },
    "text",
  );
  const lines = text.split("\n").filter((l) => l.startsWith("pulso_window_source_connections"));
  assert.deepEqual(lines, [
    'pulso_window_source_connections{source="::1"} 9',
    'pulso_window_source_connections{source="10.0.0.1"} 7',
    'pulso_window_source_connections{source="aaaaaaaaaaaaaaaa"} 6',
  ]);
  const none = new MetricsExposition({ ...VERSIONS, maxSourceSeries: 0, maxPortSeries: 0 });
  const zero = none.render(
    {
      ...idle(),
      connections: 3,
      portConnections: ports({ 443: 3 }),
      lastWindow: { end: 1000, connections: 35, topSources },
    },
    "text",
  );
  assert.doesNotMatch(zero, /^(# (HELP|TYPE) )?pulso_window_source_connections/m);
  assert.doesNotMatch(zero, /^(# (HELP|TYPE) )?pulso_port_connections/m);
  assert.match(zero, /^pulso_unlisted_port_connections_total 3$/m);
});

Deno.test("metrics: bad options and snapshots refused", () => {
  for (const bad of [-1, 1.5, 65537, NaN]) {
    assert.throws(
      () => new MetricsExposition({ ...VERSIONS, maxPortSeries: bad }),
      (e: unknown) => e instanceof RangeError && e.message.startsWith(`Invalid maxPortSeries '`),
    );
  }
  assert.throws(
    () => new MetricsExposition({ ...VERSIONS, maxSourceSeries: -1 }),
    (e: unknown) => e instanceof RangeError && e.message.startsWith(`Invalid maxSourceSeries '-1'`),
  );
  new MetricsExposition({ ...VERSIONS, maxPortSeries: 65536 });
  const exposition = new MetricsExposition(VERSIONS);
  assert.throws(
    () => exposition.render({ ...idle(), portConnections: new Float64Array(10) }, "text"),
    RangeError,
  );
});

Deno.test("metrics: a scrape of 64 ports takes a fraction of a millisecond", () => {
  const exposition = new MetricsExposition(VERSIONS);
  const counts = new Float64Array(65536);
  for (let i = 0; i < 200; i++) counts[1000 + i] = i + 1;
  const snapshot = { ...small(), connections: counts.reduce((a, b) => a + b, 0) };
  snapshot.portConnections = counts;
  exposition.render(snapshot, "text");
  assert.equal(exposition.listedPorts.length, 64);
  const rounds = 2000;
  const start = performance.now();
  for (let i = 0; i < rounds; i++) {
    counts[1000 + (i % 200)]++;
    snapshot.connections++;
    exposition.render(snapshot, i % 2 ? "openmetrics" : "text");
  }
  const each = (performance.now() - start) / rounds;
  // Typically ~15 µs; the bound leaves room for a loaded machine.
  assert.ok(each < 0.5, `${each.toFixed(3)} ms per render`);
});

Deno.test("negotiateFormat: q-values, versions, wildcards", () => {
  const cases: [string | null, "text" | "openmetrics"][] = [
    [null, "text"],
    ["", "text"],
    ["*/*", "text"],
    ["text/plain", "text"],
    ["text/plain;version=0.0.4", "text"],
    // Prometheus 2.42's default.
    [
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;" +
      "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
      "openmetrics",
    ],
    // Older Prometheus, with OpenMetrics 0.0.1 only: that version is not served.
    [
      "application/openmetrics-text; version=0.0.1,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
      "text",
    ],
    ["application/openmetrics-text", "openmetrics"],
    [`Application/OpenMetrics-Text; Version="1.0.0"`, "openmetrics"],
    ["application/openmetrics-text;version=1.0.0;q=0.3,text/plain;q=0.5", "text"],
    ["application/openmetrics-text;version=1.0.0;q=0.5,text/plain;q=0.5", "text"], // a tie
    ["text/plain;q=0,application/*", "openmetrics"],
    ["application/*;q=0.9,*/*;q=0.1", "openmetrics"],
    // The most specific range decides: text/plain's q=0 beats */*.
    ["*/*;q=0.8,text/plain;q=0,application/openmetrics-text;q=0.2", "openmetrics"],
    ["application/openmetrics-text;version=1.0.0;q=0", "text"],
    ["application/json", "text"],
    // A malformed q-value makes its range ignored.
    ["application/openmetrics-text;q=high,text/plain;q=0.1", "text"],
    ["application/openmetrics-text;q=1.5", "text"],
    // Prometheus 3 adds an escaping parameter: ignored.
    [
      "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;" +
      "version=0.0.4;q=0.3",
      "openmetrics",
    ],
    ["garbage, ;;, /", "text"],
  ];
  for (const [accept, expected] of cases) {
    assert.equal(negotiateFormat(accept), expected, `Accept: ${accept}`);
  }
});

Deno.test("CONTENT_TYPES: as the formats name them", () => {
  assert.equal(CONTENT_TYPES.text, "text/plain; version=0.0.4; charset=utf-8");
  assert.equal(
    CONTENT_TYPES.openmetrics,
    "application/openmetrics-text; version=1.0.0; charset=utf-8",
  );
});

const PROMTOOL = have("promtool");
if (!PROMTOOL) {
  console.warn("promtool is not on PATH: the promtool tests are skipped (CI installs it)");
}

Deno.test({
  name: "metrics: promtool check metrics passes, idle and with traffic",
  ignore: !PROMTOOL,
  async fn() {
    const exposition = new MetricsExposition(VERSIONS);
    const busy = small();
    busy.portConnections = new Float64Array(65536);
    busy.connections = 0;
    for (let port = 0; port < 65536; port += 97) {
      busy.portConnections[port] = port % 13 + 1;
      busy.connections += port % 13 + 1;
    }
    busy.lastWindow = {
      end: Date.now(),
      connections: 100,
      topSources: Array.from(
        { length: 20 },
        (_, i) => ({ source: i % 2 ? `[fd00::${i}]` : `10.0.0.${i}`, connections: 20 - i }),
      ),
    };
    for (const snapshot of [idle(), small(), busy]) {
      const text = exposition.render(snapshot, "text");
      const result = await promtoolCheck(text);
      assert.equal(result.code, 0, result.output);
      assert.equal(result.output.trim(), "", "promtool has remarks");
    }
    assert.equal(exposition.listedPorts.length, 64);
  },
});

Deno.test({
  name: "metrics: promtool check metrics does fail on a bad exposition (the check can fail)",
  ignore: !PROMTOOL,
  async fn() {
    const result = await promtoolCheck(
      "# HELP pulso_connections Bad\n# TYPE pulso_connections counter\npulso_connections 1\n",
    );
    assert.notEqual(
      result.output.trim(),
      "",
      "promtool said nothing about a counter without _total",
    );
  },
});
