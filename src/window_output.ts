/**
 * The windows' rotation and their way to the outputs. At each edge the capture swaps its
 * counter for a spare one and hands the finished counter over; everything else (naming sources
 * by their keyed hash, sorting, formatting text or JSON, writing stdout) happens in a
 * {@link WindowSink}: live, the output worker (`src/output_worker.ts`), a thread of its own at
 * the lowest priority that reads the finished counter's tables in shared memory, so that the
 * capture path only captures, decodes and counts; reading a file, in the same thread (a file
 * waits for its reader, and the output then keeps pace with it).
 *
 * @module
 */
import { ConnectionCounter } from "./counter.ts";
import { Collector, type KeptWindow } from "./collector.ts";
import type { OutputFormat } from "./cli.ts";
import type { SourceNamer } from "./digest.ts";
import type { SummaryBounds } from "./summary.ts";
import type { Edges } from "./capture.ts";
import { type CaptureProgress, nextEdge, WindowRecorder } from "./windows.ts";

/** How windows are written. */
export interface WriterOptions {
  /** The windows' length in microseconds; undefined for one digest of the whole capture. */
  intervalUs?: number;
  /** Text or JSON Lines. */
  format: OutputFormat;
  /** Sources of the last window kept for the metrics. */
  topSources: number;
  /** Sources listed per digest at most (`--top`; default: all). */
  top?: number;
}

/** What was written of a window, for the log and the metrics. */
export interface WindowMeta {
  /** Whether the window was written (a last window of no time is not). */
  published: boolean;
  /** The window's start, in microseconds (undefined when no time is known). */
  start?: number;
  distinctSources: number;
  distinctSourcesExact: boolean;
  /** Whether every number of the digest is exact. */
  exact: boolean;
  replacedSources: number;
  replacedPorts: number;
  /** What the metrics show of it. */
  kept?: KeptWindow;
  /** Why stdout could not be written. */
  error?: string;
  /** Whether stdout's reader has gone. */
  stdoutClosed: boolean;
}

/** Where the text goes: stdout, as {@link Stdout} writes it. */
export interface TextOut {
  write(text: string): boolean;
  readonly closed: boolean;
  readonly error: string | undefined;
}

/**
 * Writes finished windows: their digests named, sorted and formatted, on `out`. What the output
 * worker runs, and a file read runs in its own thread.
 *
 * @example
 * ```ts
 * const writer = new WindowWriter({ format: "text", topSources: 0 }, clearSource, new Stdout());
 * writer.begin(firstUs);
 * const meta = writer.write(lastUs, counter, { packets, malformed }, true);
 * ```
 */
export class WindowWriter {
  readonly #windows: WindowRecorder;
  readonly #collector: Collector;
  readonly #windowed: boolean;
  readonly #out: TextOut;

  constructor(options: WriterOptions, name: SourceNamer, out: TextOut) {
    this.#windows = new WindowRecorder(
      options.intervalUs,
      name,
      options.top !== undefined ? { top: options.top } : {},
    );
    this.#windowed = options.intervalUs !== undefined;
    this.#out = out;
    this.#collector = new Collector({
      format: options.format,
      windowed: this.#windowed,
      write: (text) => out.write(text),
      topSources: options.topSources,
    });
  }

  /** The capture (its first window) starts at `timeUs`. */
  begin(timeUs: number): void {
    this.#windows.begin(timeUs);
  }

  /** Writes the window that ends at `endUs` with what `counter` counted in it. */
  write(
    endUs: number | undefined,
    counter: ConnectionCounter,
    progress: CaptureProgress,
    final: boolean,
  ): WindowMeta {
    const report = this.#windows.close(endUs, counter, progress, final);
    // A last window of no time (windows that ended with the capture) is not written.
    const published = !final || !this.#windowed || report.start !== undefined;
    const written = published ? this.#collector.publish(report) : true;
    const digest = report.digest;
    const kept = this.#collector.kept();
    return {
      published,
      ...(report.start !== undefined ? { start: report.start } : {}),
      distinctSources: digest.distinctSources,
      distinctSourcesExact: digest.distinctSourcesExact,
      exact: digest.exact,
      replacedSources: report.replacedSources,
      replacedPorts: report.replacedPorts,
      ...(kept ? { kept } : {}),
      ...(!written && this.#out.error ? { error: this.#out.error } : {}),
      stdoutClosed: this.#out.closed,
    };
  }
}

/** Where finished windows go: the output worker, or the capture's own thread. */
export interface WindowSink {
  /** The capture starts at `timeUs`. */
  begin(timeUs: number): void;
  /**
   * Hands over `counter`, finished at `endUs`: it is not touched until {@link written} counts
   * it. Resolves when the window is written.
   */
  write(
    endUs: number | undefined,
    counter: ConnectionCounter,
    progress: CaptureProgress,
    final: boolean,
  ): Promise<WindowMeta>;
  /** Windows written so far (their counters may be reused, in the order they were given). */
  written(): number;
  /** Blocks until {@link written} has grown past `count`, or `timeoutMs` passed. */
  awaitWritten(count: number, timeoutMs: number): void;
  /** Stops the sink; idempotent. */
  close(): void;
}

/**
 * A {@link WindowSink} that writes in the calling thread, at once.
 *
 * @example
 * ```ts
 * const sink = new InlineSink(async () => new WindowWriter(options, clearSource, stdout));
 * await sink.prepare();
 * ```
 */
export class InlineSink implements WindowSink {
  readonly #make: () => Promise<WindowWriter>;
  #writer: WindowWriter | undefined;
  #written = 0;

  /** @param make makes the writer (its namer): {@link prepare} calls it, once */
  constructor(make: () => Promise<WindowWriter>) {
    this.#make = make;
  }

  /** Makes the writer; before any other call. */
  async prepare(): Promise<void> {
    this.#writer ??= await this.#make();
  }

  begin(timeUs: number): void {
    this.#writer!.begin(timeUs);
  }

  write(
    endUs: number | undefined,
    counter: ConnectionCounter,
    progress: CaptureProgress,
    final: boolean,
  ): Promise<WindowMeta> {
    const meta = this.#writer!.write(endUs, counter, progress, final);
    this.#written++;
    return Promise.resolve(meta);
  }

  written(): number {
    return this.#written;
  }

  awaitWritten(): void {}

  close(): void {}
}

/** Counters of finished windows that may wait for the output at once, besides the counting one. */
export const WINDOWS_IN_FLIGHT = 2;

/** Options of a {@link WindowRotation}. */
export interface RotationOptions {
  /** Where windows go. */
  sink: WindowSink;
  /** The counters' bounds. */
  bounds: SummaryBounds;
  /** The windows' length in microseconds (undefined: one window). */
  intervalUs: number | undefined;
  /** The capture's totals now. */
  progress: () => CaptureProgress;
  /** Told of each window written (not the last, which {@link WindowRotation.finish} gives). */
  onWindow: (meta: WindowMeta) => void;
  /** Called before each window is handed over (the status line is cleared). */
  beforeWrite?: () => void;
}

/** Who counts: {@link CaptureSession.swapCounter}. */
export interface Swappable {
  swapCounter(next: ConnectionCounter): ConnectionCounter;
}

/**
 * Cuts the capture into windows: owns the counters (the counting one, and those whose window
 * is being written), hands each finished one to the sink at its edge, and reuses it once
 * written. At most {@link WINDOWS_IN_FLIGHT} finished windows wait for the output; at an edge
 * with none free, the capture waits for the output (counted: {@link stalledMs}).
 *
 * @example
 * ```ts
 * const rotation = new WindowRotation({ sink, bounds, intervalUs: 1e6, progress, onWindow });
 * const session = CaptureSession.openLive("lo", rotation.counter);
 * rotation.attach(session);
 * await session.run({ edges: rotation.edges });
 * const last = await rotation.finish(Date.now() * 1000);
 * ```
 */
export class WindowRotation {
  readonly #sink: WindowSink;
  readonly #bounds: SummaryBounds;
  readonly #intervalUs: number | undefined;
  readonly #progress: () => CaptureProgress;
  readonly #onWindow: (meta: WindowMeta) => void;
  readonly #beforeWrite: () => void;
  readonly #free: ConnectionCounter[] = [];
  readonly #lent: ConnectionCounter[] = [];
  #reclaimed = 0;
  #session: Swappable | undefined;
  #stalledMs = 0;
  #stalls = 0;
  /** The counter to count the first window with. */
  readonly counter: ConnectionCounter;

  constructor(options: RotationOptions) {
    this.#sink = options.sink;
    this.#bounds = options.bounds;
    this.#intervalUs = options.intervalUs;
    this.#progress = options.progress;
    this.#onWindow = options.onWindow;
    this.#beforeWrite = options.beforeWrite ?? (() => {});
    this.counter = new ConnectionCounter(options.bounds);
  }

  /** The capture that counts (before it runs). */
  attach(session: Swappable): void {
    this.#session = session;
  }

  /** The capture starts at `timeUs` (without windows: the one digest's start). */
  begin(timeUs: number): void {
    this.#sink.begin(timeUs);
  }

  /** How long, in all, the capture waited for a free counter at an edge, in milliseconds. */
  get stalledMs(): number {
    return this.#stalledMs;
  }

  /** How many edges waited for a free counter. */
  get stalls(): number {
    return this.#stalls;
  }

  /** The edges for {@link CaptureSession.run}; undefined without windows. */
  get edges(): Edges | undefined {
    const intervalUs = this.#intervalUs;
    if (intervalUs === undefined) return undefined;
    return {
      begin: (timeUs) => {
        this.#sink.begin(timeUs);
        return nextEdge(timeUs, intervalUs);
      },
      cross: (edgeUs) => {
        const finished = this.#swap();
        this.#beforeWrite();
        this.#sink.write(edgeUs, finished, this.#progress(), false).then(
          this.#onWindow,
          () => {}, // The sink's failure is reported by the sink.
        );
        return nextEdge(edgeUs, intervalUs);
      },
    };
  }

  /**
   * Writes the last window, ending at `endUs`, with the capture's totals `progress` (now's by
   * default); resolves when it is written.
   */
  finish(endUs: number | undefined, progress = this.#progress()): Promise<WindowMeta> {
    const finished = this.#swap();
    this.#beforeWrite();
    return this.#sink.write(endUs, finished, progress, true);
  }

  /** Swaps the counting counter for a free one; the finished one. */
  #swap(): ConnectionCounter {
    const finished = this.#session!.swapCounter(this.#take());
    this.#lent.push(finished);
    return finished;
  }

  /** A cleared counter: a written window's, a new one, or (none free) one the output frees. */
  #take(): ConnectionCounter {
    this.#reclaim();
    if (this.#free.length === 0 && this.#lent.length >= WINDOWS_IN_FLIGHT) {
      const started = performance.now();
      this.#stalls++;
      while (this.#free.length === 0) {
        this.#sink.awaitWritten(this.#reclaimed, 1000);
        this.#reclaim();
      }
      this.#stalledMs += performance.now() - started;
    }
    return this.#free.pop() ?? new ConnectionCounter(this.#bounds);
  }

  #reclaim(): void {
    const written = this.#sink.written();
    while (this.#reclaimed < written && this.#lent.length > 0) {
      const counter = this.#lent.shift()!;
      counter.clear();
      this.#free.push(counter);
      this.#reclaimed++;
    }
  }
}
