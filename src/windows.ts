/**
 * Windows over capture time: where they start and end, and what each one saw.
 *
 * Windows tumble on capture time (packet timestamps; live, the kernel's clock), aligned to
 * multiples of the interval in Unix time, so that a file gives the same windows every time and
 * the hosts of a fleet share their edges. The first window starts when the capture does and the
 * last ends when it stops: both may be partial, and say so by their real start and end. Times
 * are whole microseconds since the Unix epoch (what libpcap gives), so that edges are exact
 * whatever the interval (0.1 s is not exact in binary seconds).
 *
 * Pure: no I/O. Each finished window becomes a plain {@link WindowReport} for the outputs.
 *
 * @module
 */
import type { ConnectionCounter } from "./counter.ts";
import { buildDigest, type Digest, type DigestOptions, type SourceNamer } from "./digest.ts";

/** libpcap's capture counters, as monotonic totals (or, in a report, a window's share). */
export interface CaptureCounters {
  /** Packets that passed the kernel's filter. */
  received: number;
  /** Packets the kernel dropped for want of room in the buffer. */
  dropped: number;
  /** Packets the interface or its driver dropped. */
  ifDropped: number;
}

/** What a capture has seen so far, as totals since it began. */
export interface CaptureProgress {
  /** Packets that reached the decoder. */
  packets: number;
  /** Of them, frames cut short or with impossible headers. */
  malformed: number;
  /** libpcap's counters (live captures). */
  capture?: CaptureCounters;
  /** SYNs not counted as repeated (with `--dedupe`). */
  retransmissions?: number;
}

/** One finished window: its time span, its digest, and what the capture saw in it. */
export interface WindowReport {
  /** Where the window starts, in microseconds since the epoch; undefined when no time is known
   * (a file without packets). */
  start: number | undefined;
  /** Where it ends: its edge, or when the capture stopped. */
  end: number | undefined;
  /** Connections counted in the window. */
  connections: number;
  /** Its digest. */
  digest: Digest;
  /** Packets decoded in the window. */
  packets: number;
  /** Of them, malformed frames. */
  malformed: number;
  /** libpcap's counters for the window (live captures). */
  capture?: CaptureCounters;
  /** Repeated SYNs not counted in the window (with `--dedupe`). */
  retransmissions?: number;
  /** Sources and ports that lost their place in the summary's bounds. */
  replacedSources: number;
  replacedPorts: number;
  /** Whether it is the capture's last window. */
  final: boolean;
}

/**
 * The first edge after `timeUs` for windows of `intervalUs`: the next multiple of the interval
 * in Unix time (a time on an edge starts the window there).
 *
 * @example
 * ```ts
 * nextEdge(90_500_000, 60_000_000); // 120_000_000: 60 s windows end on the minute
 * nextEdge(120_000_000, 60_000_000); // 180_000_000
 * ```
 */
export function nextEdge(timeUs: number, intervalUs: number): number {
  return (Math.floor(timeUs / intervalUs) + 1) * intervalUs;
}

/**
 * Keeps the windows of one capture: the current window's start and end, and the capture's
 * totals when the last one closed, so that each report carries the window's own share.
 *
 * @example
 * ```ts
 * const windows = new WindowRecorder(60_000_000, clearSource, { top: 100 });
 * let edge = windows.begin(firstPacketUs); // the next minute
 * // at each edge: the counter of the window that ends, and the capture's totals
 * const report = windows.close(edge, finishedCounter, { packets, malformed });
 * edge = windows.edge;
 * ```
 */
export class WindowRecorder {
  readonly #intervalUs: number;
  readonly #name: SourceNamer;
  readonly #digest: DigestOptions;
  #start: number | undefined;
  #edge = Infinity;
  #last: CaptureProgress = { packets: 0, malformed: 0 };

  /**
   * @param intervalUs the windows' length in microseconds, or undefined for one window over
   * the whole capture
   * @param name how sources are named in the digests
   * @param digest how the digests list their sources (`top`)
   */
  constructor(intervalUs: number | undefined, name: SourceNamer, digest: DigestOptions = {}) {
    if (intervalUs !== undefined && !(Number.isSafeInteger(intervalUs) && intervalUs > 0)) {
      throw new RangeError(`Invalid interval ${intervalUs} µs`);
    }
    this.#intervalUs = intervalUs ?? Infinity;
    this.#name = name;
    this.#digest = digest;
  }

  /** The capture starts at `timeUs`: the first window's start. Returns its end. */
  begin(timeUs: number): number {
    this.#start = timeUs;
    this.#edge = this.#intervalUs === Infinity ? Infinity : nextEdge(timeUs, this.#intervalUs);
    return this.#edge;
  }

  /** Where the current window starts (undefined before {@link begin}). */
  get start(): number | undefined {
    return this.#start;
  }

  /** Where the current window ends: its edge (Infinity without an interval). */
  get edge(): number {
    return this.#edge;
  }

  /**
   * Closes the current window at `endUs` (its edge, or where the capture stopped) with what
   * `counter` counted in it and the capture's totals `now`; the next window starts there.
   */
  close(
    endUs: number | undefined,
    counter: ConnectionCounter,
    now: CaptureProgress,
    final = false,
  ): WindowReport {
    const last = this.#last;
    const start = this.#start;
    const end = endUs === undefined || start === undefined ? endUs : Math.max(start, endUs);
    const summary = counter.summarize();
    const report: WindowReport = {
      start,
      end,
      connections: counter.total,
      digest: buildDigest(summary, this.#name, this.#digest),
      replacedSources: summary.replacedSources,
      replacedPorts: summary.replacedPorts,
      packets: now.packets - last.packets,
      malformed: now.malformed - last.malformed,
      final,
    };
    if (now.capture) {
      const before = last.capture ?? { received: 0, dropped: 0, ifDropped: 0 };
      report.capture = {
        received: now.capture.received - before.received,
        dropped: now.capture.dropped - before.dropped,
        ifDropped: now.capture.ifDropped - before.ifDropped,
      };
    }
    if (now.retransmissions !== undefined) {
      report.retransmissions = now.retransmissions - (last.retransmissions ?? 0);
    }
    this.#last = { ...now, ...(now.capture ? { capture: { ...now.capture } } : {}) };
    this.#start = end;
    if (end !== undefined && this.#intervalUs !== Infinity) {
      this.#edge = nextEdge(end, this.#intervalUs);
    }
    return report;
  }
}
