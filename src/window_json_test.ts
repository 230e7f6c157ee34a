import assert from "node:assert/strict";
import { ConnectionCounter } from "./counter.ts";
import { clearSource } from "./digest.ts";
import { windowJson } from "./window_json.ts";
import { WindowRecorder } from "./windows.ts";
import { validateDigestJson } from "../tests/_schema.ts";

const T = Date.UTC(2026, 11, 1, 8) * 1000;

function report(
  sources: number,
  options: { live?: boolean; maxSources?: number; top?: number } = {},
) {
  const windows = new WindowRecorder(
    60_000_000,
    clearSource,
    options.top !== undefined ? { top: options.top } : {},
  );
  windows.begin(T + 500_000);
  const counter = new ConnectionCounter({ maxSources: options.maxSources ?? 32768 });
  for (let i = 0; i < sources; i++) {
    const address = new Uint8Array(16);
    address.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, i >> 8, i & 0xff]);
    counter.add(6, address, 80 + (i % 3));
    if (i % 2 === 0) counter.add(6, address, 443);
  }
  return windows.close(T + 60_000_000, counter, {
    packets: sources * 2,
    malformed: 0,
    ...(options.live ? { capture: { received: 7, dropped: 0, ifDropped: 0 } } : {}),
  });
}

Deno.test("windowJson: one line, valid against the schema, in the text digest's order", () => {
  const text = [...windowJson(report(2, { live: true }))].join("");
  assert.ok(text.endsWith("}\n") && !text.slice(0, -1).includes("\n"));
  const object = JSON.parse(text);
  validateDigestJson(object);
  assert.deepEqual(object, {
    start: "2026-12-01T08:00:00.500Z",
    end: "2026-12-01T08:01:00.000Z",
    connections: 3,
    sources: [
      {
        source: "fd00::",
        connections: 2,
        error: 0,
        untracked: 0,
        ports: [{ port: 80, connections: 1, error: 0 }, { port: 443, connections: 1, error: 0 }],
      },
      {
        source: "fd00::1",
        connections: 1,
        error: 0,
        untracked: 0,
        ports: [{ port: 81, connections: 1, error: 0 }],
      },
    ],
    untracked: 0,
    distinctSources: 2,
    distinctSourcesExact: true,
    exact: true,
    capture: { received: 7, dropped: 0, interfaceDropped: 0 },
    packets: 4,
    malformed: 0,
  });
});

Deno.test("windowJson: a large digest comes in pieces, and bounds give errors and untracked", () => {
  const pieces = [...windowJson(report(3000), 4096)];
  assert.ok(pieces.length > 10, `${pieces.length} pieces`);
  const object = JSON.parse(pieces.join(""));
  validateDigestJson(object);
  assert.equal(object.sources.length, 3000);
  assert.equal(object.other, undefined, "no 'other' in an exact digest");
  // 3000 sources of 1 or 2 connections into 10: none can be vouched for (1500 of those dropped
  // have 2, as many as the most listed would): every connection in 'other', by port, exact.
  const bounded = JSON.parse([...windowJson(report(3000, { maxSources: 10 }))].join(""));
  validateDigestJson(bounded);
  assert.equal(bounded.sources.length, 0);
  assert.equal(bounded.exact, false);
  assert.equal(bounded.untracked, 4500);
  assert.deepEqual(bounded.other, {
    connections: 4500,
    untracked: 0,
    ports: [
      { port: 443, connections: 1500 },
      { port: 80, connections: 1000 },
      { port: 81, connections: 1000 },
      { port: 82, connections: 1000 },
    ],
  });
});

Deno.test("windowJson with --top: the first sources, 'other' with the rest's ports, exact", () => {
  const object = JSON.parse([...windowJson(report(3000, { top: 2 }))].join(""));
  validateDigestJson(object);
  assert.deepEqual(object.sources.map((s: { source: string }) => s.source), ["fd00::", "fd00::2"]);
  assert.equal(object.exact, true);
  assert.equal(object.untracked, 4500 - 4);
  // fd00:: and fd00::2 went to 80 and 82, and both to 443.
  assert.deepEqual(object.other, {
    connections: 4496,
    untracked: 0,
    ports: [
      { port: 443, connections: 1498 },
      { port: 81, connections: 1000 },
      { port: 80, connections: 999 },
      { port: 82, connections: 999 },
    ],
  });
  const sum = object.other.ports.reduce(
    (n: number, p: { connections: number }) => n + p.connections,
    0,
  );
  assert.equal(sum, object.other.connections, "exact counts: the ports add up to 'other'");
});

Deno.test("the schema refuses what is not a digest", () => {
  const good = JSON.parse([...windowJson(report(1))].join(""));
  for (
    const bad of [
      { ...good, connections: -1 },
      { ...good, start: "yesterday" },
      { ...good, extra: 1 },
      { ...good, sources: [{ source: "x", connections: 1 }] },
      { ...good, other: { connections: 1, untracked: 0 } },
      { ...good, other: { connections: 1, untracked: 0, ports: [{ port: 1, connections: 0 }] } },
    ]
  ) assert.throws(() => validateDigestJson(bad), /Not a valid digest object/);
});
