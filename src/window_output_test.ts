import assert from "node:assert/strict";
import { ConnectionCounter } from "./counter.ts";
import { clearSource } from "./digest.ts";
import {
  InlineSink,
  type WindowMeta,
  WindowRotation,
  WINDOWS_IN_FLIGHT,
  type WindowSink,
  WindowWriter,
} from "./window_output.ts";
import type { CaptureProgress } from "./windows.ts";

function address(host: number): Uint8Array {
  return new Uint8Array([10, 0, 0, host, ...Array(12)]);
}

/** A session that counts into whatever counter it was given last. */
class FakeSession {
  constructor(public counter: ConnectionCounter) {}
  swapCounter(next: ConnectionCounter): ConnectionCounter {
    const previous = this.counter;
    this.counter = next;
    return previous;
  }
}

/** A sink that writes only when told to (as the output worker does, later). */
class LateSink implements WindowSink {
  readonly given: { endUs: number | undefined; total: number; counter: ConnectionCounter }[] = [];
  done = 0;
  waits = 0;
  begin(): void {}
  write(endUs: number | undefined, counter: ConnectionCounter): Promise<WindowMeta> {
    this.given.push({ endUs, total: counter.total, counter });
    return new Promise(() => {});
  }
  written(): number {
    return this.done;
  }
  awaitWritten(): void {
    // The output frees one window while the capture waits.
    this.waits++;
    this.done++;
  }
  close(): void {}
}

const progress = (): CaptureProgress => ({ packets: 0, malformed: 0 });

Deno.test("WindowRotation: hands each finished counter over, reuses it once written, cleared", () => {
  const sink = new LateSink();
  const rotation = new WindowRotation({
    sink,
    bounds: {},
    intervalUs: 1_000_000,
    progress,
    onWindow: () => {},
  });
  const session = new FakeSession(rotation.counter);
  rotation.attach(session);
  const edges = rotation.edges!;
  assert.equal(edges.begin(500_000), 1_000_000);
  const first = session.counter;
  first.add(4, address(1), 80);
  assert.equal(edges.cross(1_000_000), 2_000_000);
  assert.equal(sink.given[0].counter, first, "the finished counter itself, not a copy");
  assert.equal(sink.given[0].total, 1);
  assert.notEqual(session.counter, first);
  session.counter.add(4, address(2), 80);
  session.counter.add(4, address(2), 80);
  edges.cross(2_000_000);
  assert.equal(sink.given[1].total, 2);
  assert.equal(first.total, 1, "not written yet: not touched");
  // Two windows wait: the third edge waits for the output to free one, and reuses it.
  assert.equal(WINDOWS_IN_FLIGHT, 2);
  edges.cross(3_000_000);
  assert.equal(sink.waits, 1);
  assert.equal(rotation.stalls, 1);
  assert.equal(session.counter, first, "the written window's counter counts again");
  assert.equal(first.total, 0, "cleared");
  // Once the output has written them, edges do not wait.
  sink.done = 3;
  edges.cross(4_000_000);
  assert.equal(sink.waits, 1);
});

Deno.test("WindowRotation with InlineSink: windows written at once, the last by finish", async () => {
  const written: string[] = [];
  const out = { write: (t: string) => !!written.push(t), closed: false, error: undefined };
  const sink = new InlineSink(() =>
    Promise.resolve(
      new WindowWriter({ intervalUs: 1_000_000, format: "text", topSources: 0 }, clearSource, out),
    )
  );
  await sink.prepare();
  const metas: WindowMeta[] = [];
  const rotation = new WindowRotation({
    sink,
    bounds: {},
    intervalUs: 1_000_000,
    progress,
    onWindow: (m) => metas.push(m),
  });
  const session = new FakeSession(rotation.counter);
  rotation.attach(session);
  const edges = rotation.edges!;
  edges.begin(5_500_000);
  session.counter.add(4, address(1), 80);
  edges.cross(6_000_000);
  await Promise.resolve();
  assert.equal(metas.length, 1);
  session.counter.add(4, address(2), 443);
  const last = await rotation.finish(6_250_000);
  assert.equal(last.published, true);
  assert.equal(last.distinctSources, 1);
  assert.equal(
    written.join(""),
    "# 1970-01-01T00:00:05.500Z 1970-01-01T00:00:06.000Z connections=1 sources=1 malformed=0\n" +
      "10.0.0.1:1 80:1\n" +
      "# 1970-01-01T00:00:06.000Z 1970-01-01T00:00:06.250Z connections=1 sources=1 malformed=0\n" +
      "10.0.0.2:1 443:1\n",
  );
});

Deno.test("WindowWriter: a full stdout is reported with its message", () => {
  const out = { write: () => false, closed: false, error: "Cannot write to stdout: full" };
  const writer = new WindowWriter({ format: "text", topSources: 0 }, clearSource, out);
  writer.begin(0);
  const counter = new ConnectionCounter();
  counter.add(4, address(1), 80);
  const meta = writer.write(1000, counter, progress(), true);
  assert.equal(meta.error, "Cannot write to stdout: full");
});
