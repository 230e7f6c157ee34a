import assert from "node:assert/strict";
import { ConnectionCounter } from "./counter.ts";
import { clearSource } from "./digest.ts";
import { windowJson } from "./window_json.ts";
import { WindowRecorder } from "./windows.ts";
import { validateDigestJson } from "../tests/_schema.ts";

const T = Date.UTC(2026, 11, 1, 8) * 1000;

function report(sources: number, options: { live?: boolean; maxSources?: number } = {}) {
  const windows = new WindowRecorder(60_000_000, clearSource);
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
  const bounded = JSON.parse([...windowJson(report(3000, { maxSources: 10 }))].join(""));
  validateDigestJson(bounded);
  assert.equal(bounded.sources.length, 10);
  assert.equal(bounded.exact, false);
  const listed = bounded.sources.reduce(
    (n: number, s: { connections: number }) => n + s.connections,
    0,
  );
  assert.equal(listed + bounded.untracked, bounded.connections, "the sums are exact");
});

Deno.test("the schema refuses what is not a digest", () => {
  const good = JSON.parse([...windowJson(report(1))].join(""));
  for (
    const bad of [
      { ...good, connections: -1 },
      { ...good, start: "yesterday" },
      { ...good, extra: 1 },
      { ...good, sources: [{ source: "x", connections: 1 }] },
    ]
  ) assert.throws(() => validateDigestJson(bad), /Not a valid digest object/);
});
