/**
 * The output worker, seen from the capture's thread: a {@link WindowSink} whose windows are
 * written by `src/output_worker.ts` in a thread of its own, from the finished counters' tables
 * in shared memory (posted, not copied). A shared count of the windows written lets the capture
 * reuse their counters without waiting for a message.
 *
 * @module
 */
import type { CounterState } from "./counter.ts";
import type { ConnectionCounter } from "./counter.ts";
import type { CaptureProgress } from "./windows.ts";
import type { WindowMeta, WindowSink, WriterOptions } from "./window_output.ts";
import { sharedArray } from "./shared_memory.ts";

/** A message to the output worker. */
export type ToWorker =
  | {
    type: "init";
    options: WriterOptions;
    /** The secret that names sources; undefined: addresses in clear. */
    secret?: string | Uint8Array;
    /** [0]: windows written, counted by the worker. */
    written: Int32Array;
  }
  | { type: "begin"; timeUs: number }
  | {
    type: "window";
    id: number;
    endUs: number | undefined;
    counter: CounterState;
    progress: CaptureProgress;
    final: boolean;
  };

/** A message from the output worker. */
export type FromWorker =
  | { type: "ready" }
  | { type: "done"; id: number; meta: WindowMeta }
  | { type: "failed"; message: string };

/**
 * Writes windows in the output worker.
 *
 * @example
 * ```ts
 * const sink = await WorkerSink.start({ format: "json", intervalUs: 1e6, topSources: 0 }, secret);
 * ```
 */
export class WorkerSink implements WindowSink {
  readonly #worker: Worker;
  readonly #written = sharedArray(Int32Array, 1);
  readonly #pending = new Map<
    number,
    { resolve: (meta: WindowMeta) => void; reject: (error: Error) => void }
  >();
  #next = 0;
  #failure: Error | undefined;
  #closed = false;
  #onFailure: (error: Error) => void = () => {};

  private constructor() {
    this.#worker = new Worker(new URL("./output_worker.ts", import.meta.url), { type: "module" });
  }

  /**
   * Starts the worker and waits until it can write (its hasher made): the capture opens only
   * then, so that the worker's start takes nothing from the capture's first moments.
   */
  static async start(
    options: WriterOptions,
    secret: string | Uint8Array | undefined,
  ): Promise<WorkerSink> {
    const sink = new WorkerSink();
    const worker = sink.#worker;
    const ready = new Promise<void>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<FromWorker>) => {
        const message = event.data;
        if (message.type === "ready") resolve();
        else if (message.type === "failed") reject(new Error(message.message));
        else sink.#done(message.id, message.meta);
      };
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        const error = new Error(`The output worker failed: ${event.message}`);
        sink.#fail(error);
        reject(error);
      };
    });
    const init: ToWorker = {
      type: "init",
      options,
      ...(secret !== undefined ? { secret } : {}),
      written: sink.#written,
    };
    worker.postMessage(init);
    try {
      await ready;
    } catch (e) {
      sink.close();
      throw e;
    }
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      if (message.type === "done") sink.#done(message.id, message.meta);
      else if (message.type === "failed") sink.#fail(new Error(message.message));
    };
    return sink;
  }

  /** Called when the worker fails: nothing more will be written. */
  set onFailure(callback: (error: Error) => void) {
    this.#onFailure = callback;
  }

  begin(timeUs: number): void {
    this.#post({ type: "begin", timeUs });
  }

  write(
    endUs: number | undefined,
    counter: ConnectionCounter,
    progress: CaptureProgress,
    final: boolean,
  ): Promise<WindowMeta> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#next++;
    const done = new Promise<WindowMeta>((resolve, reject) =>
      this.#pending.set(id, { resolve, reject })
    );
    this.#post({ type: "window", id, endUs, counter: counter.state(), progress, final });
    return done;
  }

  written(): number {
    return Atomics.load(this.#written, 0);
  }

  awaitWritten(count: number, timeoutMs: number): void {
    if (this.#failure) throw this.#failure;
    Atomics.wait(this.#written, 0, count, timeoutMs);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#worker.terminate();
  }

  #post(message: ToWorker): void {
    if (!this.#closed) this.#worker.postMessage(message);
  }

  #done(id: number, meta: WindowMeta): void {
    const pending = this.#pending.get(id);
    this.#pending.delete(id);
    pending?.resolve(meta);
  }

  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    // Windows handed over are not written: their promises fail, none waits for ever.
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
    this.#onFailure(error);
  }
}
