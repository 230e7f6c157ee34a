/**
 * Run by tests/output_worker_test.ts: windows handed to the output worker at their edges. Prints
 * on stderr, for the test, what the capture's thread saw when each edge returned; the worker
 * writes the windows on stdout.
 */
import { ConnectionCounter } from "../src/counter.ts";
import { WorkerSink } from "../src/output_thread.ts";
import { WindowRotation } from "../src/window_output.ts";

const sink = await WorkerSink.start(
  { intervalUs: 1_000_000, format: "text", topSources: 0 },
  Deno.args[0],
);
const rotation = new WindowRotation({
  sink,
  bounds: {},
  intervalUs: 1_000_000,
  progress: () => ({ packets: 0, malformed: 0 }),
  onWindow: () => {},
});
let counter = rotation.counter;
rotation.attach({
  swapCounter(next: ConnectionCounter) {
    const previous = counter;
    counter = next;
    return previous;
  },
});
const edges = rotation.edges!;
edges.begin(1_000_000);
// A window of 20 000 sources: naming them by their keyed hash takes the worker a while.
for (let i = 0; i < 20_000; i++) {
  counter.add(4, new Uint8Array([10, 1, i >> 8, i & 0xff, ...Array(12)]), 80);
}
counter.add(4, new Uint8Array([10, 0, 0, 1, ...Array(12)]), 443);
counter.add(4, new Uint8Array([10, 0, 0, 1, ...Array(12)]), 443);
edges.cross(2_000_000);
const writtenAtEdge = sink.written();
counter.add(4, new Uint8Array([10, 0, 0, 2, ...Array(12)]), 22);
const last = await rotation.finish(2_500_000);
console.error(JSON.stringify({ writtenAtEdge, writtenAtEnd: sink.written(), last }));
sink.close();
