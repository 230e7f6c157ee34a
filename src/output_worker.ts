/**
 * The output worker: writes each finished window (sources named by their keyed hash, sorted,
 * formatted as text or JSON, written on stdout) from the counter's tables in shared memory, in
 * a thread at the lowest priority, so that the capture's thread only captures, decodes and
 * counts. Its counterpart in the capture's thread is {@link WorkerSink} (`output_thread.ts`).
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { lowerThreadPriority } from "../ffi/libc.ts";
import { ConnectionCounter } from "./counter.ts";
import { clearSource, type SourceNamer } from "./digest.ts";
import type { FromWorker, ToWorker } from "./output_thread.ts";
import { Stdout } from "./stdout.ts";
import type { ConnectionSummary } from "./summary.ts";
import { WindowWriter } from "./window_output.ts";

let writer: WindowWriter | undefined;
let written: Int32Array | undefined;
/** The summary last made from an exact table, reused for the next one. */
let spare: ConnectionSummary | undefined;

function post(message: FromWorker): void {
  self.postMessage(message);
}

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.type) {
    case "init": {
      lowerThreadPriority();
      let name: SourceNamer = clearSource;
      try {
        if (message.secret !== undefined) {
          const { KeyedHasher } = await import("./keyed_hash.ts");
          const hasher = await KeyedHasher.create(message.secret);
          name = (address) => hasher.hash(address);
        }
      } catch (e) {
        post({ type: "failed", message: e instanceof Error ? e.message : String(e) });
        return;
      }
      writer = new WindowWriter(message.options, name, new Stdout());
      written = message.written;
      post({ type: "ready" });
      return;
    }
    case "begin":
      writer!.begin(message.timeUs);
      return;
    case "window": {
      const counter = ConnectionCounter.fromState(message.counter, spare);
      const meta = writer!.write(message.endUs, counter, message.progress, message.final);
      // From an exact table, the summary was made here: the next one reuses its memory.
      if (message.counter.summary === undefined) spare = counter.summarize();
      Atomics.add(written!, 0, 1);
      Atomics.notify(written!, 0);
      post({ type: "done", id: message.id, meta });
      return;
    }
  }
};
