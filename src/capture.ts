/**
 * Capture loops: packets from libpcap, through the decoder, into the counter.
 *
 * Live capture never blocks JavaScript while it waits: the handle is non-blocking, `poll(2)`
 * runs as a `nonblocking` FFI call on a helper thread, and each wake-up drains what libpcap has
 * in a synchronous loop (at most {@link BATCH} packets before the event loop runs again). So
 * signals, timers and an HTTP endpoint keep working when no packet arrives and under floods.
 * While packets keep coming, a plain wait ({@link BUSY_WAIT_MS}) replaces `poll(2)` between
 * drains: waking up for every block the kernel hands over cost more CPU than the packets.
 *
 * @module
 */
import {
  type CaptureStats,
  DEFAULT_LIVE_OPTIONS,
  NextResult,
  Pcap,
  PcapError,
} from "../ffi/libpcap.ts";
import { Waiter } from "../ffi/libc.ts";
import { captureFilter } from "./bpf_filter.ts";
import { ConnectionCounter } from "./counter.ts";
import { Decoded, decoderFor, type FrameDecoder, isSupportedLinkType, Verdict } from "./decode.ts";

/** Packets handled per turn of the event loop. */
export const BATCH = 8192;
/** Longest wait in `poll(2)` before looking again, in milliseconds. */
const POLL_MS = 500;
/**
 * Waits between drains while packets keep coming, in milliseconds: more will come, and the
 * kernel's buffer holds them meanwhile. Every wait costs CPU (waking a thread costs tens of
 * microseconds on a virtual machine, and an event-loop turn more), so pulso waits as long as
 * the buffer allows: {@link BUSY_WAIT_PACKETS} packets' worth at the rate just seen, between
 * these bounds. The upper bound leaves most of the default 8 MiB buffer free: the kernel hands
 * it over in 256 KiB blocks, each at least every `DEFAULT_LIVE_OPTIONS.timeoutMs`, so 32
 * blocks last at least 320 ms.
 */
export const BUSY_WAIT_MS = { min: 5, max: 100 } as const;
/** Packets to let the kernel's buffer gather between two drains under load. */
const BUSY_WAIT_PACKETS = 8192;
/** Waits in a row without a packet before going back to `poll(2)`. */
const BUSY_WAITS = 3;

/** How long a stopped live capture waits for the kernel to hand over its last packets. */
export const FINAL_DRAIN_MS = 2 * DEFAULT_LIVE_OPTIONS.timeoutMs;

/** Why a capture ended. */
export type EndReason = "connection-limit" | "time-limit" | "stopped" | "end-of-file" | "error";

/** What a capture saw, for the log and the exit status. */
export interface CaptureSummary {
  /** Why it ended. */
  reason: EndReason;
  /** Packets that passed the BPF filter and reached the decoder. */
  packets: number;
  /** Of those, frames cut short or with impossible headers. */
  malformed: number;
  /** libpcap's statistics (live captures). */
  stats?: CaptureStats;
  /** The read error that ended a file early (a damaged or truncated file). */
  error?: PcapError;
}

/** Limits of a capture. */
export interface CaptureLimits {
  /** Stop after this many events. */
  connectionLimit?: number;
  /** Stop after this many seconds of capture time (files only: live uses a timer). */
  timeLimit?: number;
  /** Stops the capture when aborted (signals, the live time limit). */
  signal?: AbortSignal;
}

/** A link type pulso does not decode. */
export class UnsupportedLinkTypeError extends Error {
  /** @param linkType the DLT value; @param name its libpcap name */
  constructor(readonly linkType: number, name: string) {
    super(`Unsupported link type '${name}' (DLT ${linkType})`);
    this.name = "UnsupportedLinkTypeError";
  }
}

/** The BPF expression did not compile: a usage error. */
export class FilterError extends Error {
  /** @param message libpcap's message */
  constructor(message: string) {
    super(message);
    this.name = "FilterError";
  }
}

/**
 * Counts the new connection events of one capture handle.
 *
 * @example
 * ```ts
 * const counter = new ConnectionCounter();
 * using capture = CaptureSession.openFile("capture.pcap", counter);
 * const summary = await capture.run({ connectionLimit: 100 });
 * ```
 */
export class CaptureSession {
  readonly #pcap: Pcap;
  readonly #counter: ConnectionCounter;
  readonly #linkType: number;
  readonly #live: boolean;
  readonly #decoded = new Decoded();
  readonly #decode: FrameDecoder;
  /** The filter to install after the first packet of a file was read without one. */
  readonly #deferredFilter: string | undefined;
  #packets = 0;
  #malformed = 0;

  private constructor(
    pcap: Pcap,
    counter: ConnectionCounter,
    live: boolean,
    userFilter: string | undefined,
    deferFilter: boolean,
  ) {
    this.#pcap = pcap;
    this.#counter = counter;
    this.#live = live;
    this.#linkType = pcap.linkType;
    this.#decode = decoderFor(this.#linkType);
    if (!isSupportedLinkType(this.#linkType)) {
      throw new UnsupportedLinkTypeError(this.#linkType, pcap.linkTypeName);
    }
    // The user's expression alone first, so that an error quotes only what the user wrote.
    if (userFilter !== undefined) this.#compile(() => pcap.checkFilter(userFilter));
    const filter = captureFilter(this.#linkType, userFilter);
    if (deferFilter) {
      this.#deferredFilter = filter;
      this.#compile(() => pcap.prepareFilter(filter));
    } else {
      this.#compile(() => pcap.setFilter(filter));
    }
    this.filter = filter;
  }

  /** The BPF expression in use. */
  readonly filter: string;

  /** Opens `device` for live capture with pulso's filter (and the user's). */
  static openLive(device: string, counter: ConnectionCounter, userFilter?: string): CaptureSession {
    return CaptureSession.#open(Pcap.openLive(device), counter, true, userFilter, false);
  }

  /**
   * Opens a capture file (`-` for stdin). With `timed`, the first packet is read before the
   * filter is installed, so that capture time starts at the file's first packet.
   */
  static openFile(
    path: string,
    counter: ConnectionCounter,
    userFilter?: string,
    timed = false,
  ): CaptureSession {
    return CaptureSession.#open(Pcap.openOffline(path), counter, false, userFilter, timed);
  }

  static #open(
    pcap: Pcap,
    counter: ConnectionCounter,
    live: boolean,
    userFilter: string | undefined,
    deferFilter: boolean,
  ): CaptureSession {
    try {
      return new CaptureSession(pcap, counter, live, userFilter, deferFilter);
    } catch (e) {
      pcap.close();
      throw e;
    }
  }

  /** libpcap's warning when the device was opened with one. */
  get warning(): string | undefined {
    return this.#pcap.warning;
  }

  /** The link type (DLT value) of the capture. */
  get linkType(): number {
    return this.#linkType;
  }

  /** libpcap's name of the link type. */
  get linkTypeName(): string {
    return this.#pcap.linkTypeName;
  }

  /** Captures until a limit, an abort, the end of the file or a read error. */
  run(limits: CaptureLimits = {}): Promise<CaptureSummary> {
    return this.#live ? this.#runLive(limits) : this.#runFile(limits);
  }

  /** Closes the capture; idempotent. */
  close(): void {
    this.#pcap.close();
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  async #runLive(limits: CaptureLimits): Promise<CaptureSummary> {
    const pcap = this.#pcap;
    const signal = limits.signal;
    const limit = limits.connectionLimit ?? Infinity;
    pcap.setNonBlocking(true);
    using waiter = new Waiter(pcap.selectableFd);
    using turns = new Turns();
    const wake = () => waiter.wake();
    signal?.addEventListener("abort", wake, { once: true });
    let reason: EndReason = "stopped";
    try {
      // Waits left before going back to poll(2) when no packet comes, and the next wait.
      let busy = 0;
      let waitMs: number = BUSY_WAIT_MS.max;
      let since = performance.now();
      let packets = this.#packets;
      while (!signal?.aborted) {
        const status = this.#drain(limit, Infinity);
        if (status === DRAINED_LIMIT) {
          reason = "connection-limit";
          break;
        }
        if (status === DRAINED_MORE) {
          await turns.next();
          continue;
        }
        const now = performance.now();
        const got = this.#packets - packets;
        if (got > 0) {
          busy = BUSY_WAITS;
          // As long as the rate just seen lets the buffer gather BUSY_WAIT_PACKETS packets.
          const rate = got / Math.max(now - since, 1);
          waitMs = Math.round(
            Math.min(BUSY_WAIT_MS.max, Math.max(BUSY_WAIT_MS.min, BUSY_WAIT_PACKETS / rate)),
          );
        }
        if (busy-- > 0) await waiter.sleep(waitMs);
        else await waiter.wait(POLL_MS);
        since = now;
        packets = this.#packets;
      }
      if (reason === "stopped") {
        // Packets of the last moments may still sit in a buffer block that the kernel hands
        // over only when its timeout expires: wait for it, so that nothing seen is lost.
        await sleep(FINAL_DRAIN_MS);
        while (this.#drain(limit, Infinity) === DRAINED_MORE);
        if (this.#counter.total >= limit) reason = "connection-limit";
      }
    } finally {
      signal?.removeEventListener("abort", wake);
    }
    return this.#summary(reason, pcap.stats());
  }

  async #runFile(limits: CaptureLimits): Promise<CaptureSummary> {
    const signal = limits.signal;
    const limit = limits.connectionLimit ?? Infinity;
    let deadline = Infinity;
    using turns = new Turns();
    try {
      if (limits.timeLimit !== undefined || this.#deferredFilter !== undefined) {
        // Capture time starts at the first packet of the file, filtered or not.
        if (this.#pcap.next() !== NextResult.PACKET) return this.#summary("end-of-file");
        if (limits.timeLimit !== undefined) deadline = this.#time() + limits.timeLimit;
        if (this.#pcap.matches() && this.#count(limit)) return this.#summary("connection-limit");
        if (this.#deferredFilter !== undefined) {
          const filter = this.#deferredFilter;
          this.#compile(() => this.#pcap.setFilter(filter));
        }
      }
      for (;;) {
        if (signal?.aborted) return this.#summary("stopped");
        const status = this.#drain(limit, deadline);
        if (status === DRAINED_LIMIT) return this.#summary("connection-limit");
        if (status === DRAINED_DEADLINE) return this.#summary("time-limit");
        if (status === DRAINED_END) return this.#summary("end-of-file");
        await turns.next();
      }
    } catch (e) {
      if (e instanceof PcapError) return { ...this.#summary("error"), error: e };
      throw e;
    }
  }

  /**
   * Reads up to {@link BATCH} packets. The hot path: no allocation, no BigInt, no strings.
   * Packets at or past `deadline` (capture seconds) end the capture uncounted.
   */
  #drain(limit: number, deadline: number): number {
    const pcap = this.#pcap;
    for (let i = 0; i < BATCH; i++) {
      const status = pcap.next();
      if (status !== NextResult.PACKET) {
        return status === NextResult.END ? DRAINED_END : DRAINED_EMPTY;
      }
      if (deadline !== Infinity && this.#time() >= deadline) return DRAINED_DEADLINE;
      if (this.#count(limit)) return DRAINED_LIMIT;
    }
    return DRAINED_MORE;
  }

  /** Decodes and counts the current packet; true when the connection limit is reached. */
  #count(limit: number): boolean {
    this.#packets++;
    const frame = this.#pcap.frame;
    const verdict = this.#decode(frame, frame.length, this.#decoded);
    if (verdict === Verdict.EVENT) {
      const d = this.#decoded;
      this.#counter.addWords(d.family, d.words, d.port);
      return this.#counter.total >= limit;
    }
    if (verdict === Verdict.MALFORMED) this.#malformed++;
    return false;
  }

  #time(): number {
    return this.#pcap.seconds + this.#pcap.microseconds / 1e6;
  }

  #compile(install: () => void): void {
    try {
      install();
    } catch (e) {
      if (e instanceof PcapError) throw new FilterError(e.message);
      throw e;
    }
  }

  #summary(reason: EndReason, stats?: CaptureStats): CaptureSummary {
    return {
      reason,
      packets: this.#packets,
      malformed: this.#malformed,
      ...(stats ? { stats } : {}),
    };
  }
}

const DRAINED_EMPTY = 0;
const DRAINED_MORE = 1;
const DRAINED_LIMIT = 2;
const DRAINED_END = 3;
const DRAINED_DEADLINE = 4;

/** Resolves after `ms` milliseconds. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Lets the event loop run (signals, timers) before going on: {@link Turns.next}. A message posted
 * to oneself comes back on the very next turn (about 40 µs), where `setTimeout(0)` waits a
 * millisecond or more once timers nest: a quarter of the time of reading a file went into such
 * waits. One channel serves a whole capture (making one per turn cost more), and is closed with
 * it, since an open port keeps the process alive.
 */
class Turns {
  readonly #channel = new MessageChannel();
  #resolve: (() => void) | undefined;

  constructor() {
    this.#channel.port1.onmessage = () => {
      const resolve = this.#resolve;
      this.#resolve = undefined;
      resolve?.();
    };
  }

  /** Resolves on the next turn of the event loop. */
  next(): Promise<void> {
    return new Promise((resolve) => {
      this.#resolve = resolve;
      this.#channel.port2.postMessage(null);
    });
  }

  /** Closes the channel. */
  [Symbol.dispose](): void {
    this.#channel.port1.close();
    this.#channel.port2.close();
  }
}
