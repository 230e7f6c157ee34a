/**
 * Capture loops: packets from libpcap, through the decoder, into the counter.
 *
 * Live capture never blocks JavaScript while it waits: the handle is non-blocking, `poll(2)`
 * runs as a `nonblocking` FFI call on a helper thread, and each wake-up drains what libpcap has
 * in a synchronous loop (at most {@link BATCH} packets before the event loop runs again). So
 * signals, timers and an HTTP endpoint keep working when no packet arrives and under floods.
 * While packets keep coming, a plain wait ({@link DrainPacer}) replaces `poll(2)` between
 * drains: waking up for every block the kernel hands over cost more CPU than the packets.
 *
 * @module
 */
import {
  type BpfProgram,
  type CaptureStats,
  DEFAULT_LIVE_OPTIONS,
  KernelFilterError,
  NextResult,
  Pcap,
  PcapError,
  READ_BUFFER_SIZE,
} from "../ffi/libpcap.ts";
import { canFeedStreams, Descriptor, FedStream, isSeekable, Waiter } from "../ffi/libc.ts";
import { quote, systemMessage } from "./quote.ts";
import { RecordFraming } from "./record_framing.ts";
import { captureFilter } from "./bpf_filter.ts";
import { ConnectionCounter } from "./counter.ts";
import { DrainPacer, PACER, POLL } from "./drain_pacer.ts";
import type { RetransmissionFilter } from "./dedupe.ts";
import {
  Decoded,
  decoderFor,
  type FrameDecoder,
  isSupportedLinkType,
  LinkType,
  Verdict,
} from "./decode.ts";

/** libpcap keywords after which offsets move: a user's expression with one runs apart. */
const OFFSET_MOVING = /\b(vlan|mpls|pppoes|geneve|vxlan)\b/i;

/** Packets handled per turn of the event loop. */
export const BATCH = 8192;
/** Longest wait in `poll(2)` before looking again, in milliseconds. */
const POLL_MS = 500;
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
  /**
   * Live: the longest time between the end of one drain and the start of the next while
   * packets kept coming (not counting waits in `poll(2)` while idle), in milliseconds.
   */
  longestGapMs?: number;
  /**
   * Live: what that gap may be at most, a quarter of the kernel's buffer at the highest rate
   * seen ({@link DrainPacer}'s bound), in milliseconds; undefined when no rate was seen.
   */
  gapBoundMs?: number;
}

/** Limits of a capture. */
export interface CaptureLimits {
  /** Stop after this many events. */
  connectionLimit?: number;
  /** Stop after this many seconds of capture time (files only: live uses a timer). */
  timeLimit?: number;
  /** Stops the capture when aborted (signals, the live time limit). */
  signal?: AbortSignal;
  /** Counts connection attempts: SYNs that this filter finds repeated are not counted. */
  dedupe?: RetransmissionFilter;
  /** Live: called when libpcap's drop counts grow (checked at most once per wait). */
  onDrops?: (stats: CaptureStats) => void;
  /** Cuts the capture into windows of capture time (see {@link Edges}). */
  edges?: Edges;
  /** Files: note the first and last packets' times ({@link CaptureSession.firstTimeUs}). */
  timed?: boolean;
  /** Counts every event into `ports[port]` too (exact totals per destination port). */
  ports?: Float64Array;
}

/**
 * Where a capture is cut into windows: at capture-time edges, in microseconds since the Unix
 * epoch. The capture calls {@link Edges.begin} with the time the capture starts (live, the
 * clock's; a file, its first packet's), then {@link Edges.cross} for each edge that a packet's
 * timestamp reaches, before counting that packet, and live also when the clock passes the edge
 * (after the kernel's buffer timeout, so that the packets before it are in) with no packet
 * past it yet. An edge crossed closes the window before it: the callee swaps the counter
 * ({@link CaptureSession.swapCounter}).
 */
export interface Edges {
  /** The capture starts at `timeUs`; returns the first edge (Infinity for none). */
  begin(timeUs: number): number;
  /** The edge `edgeUs` is crossed; returns the next one. */
  cross(edgeUs: number): number;
}

/** How long after an edge a live capture waits for the packets stamped before it. */
export const EDGE_GRACE_MS = FINAL_DRAIN_MS;

/** A link type pulso does not decode. */
export class UnsupportedLinkTypeError extends Error {
  /** @param linkType the DLT value; @param name its libpcap name */
  constructor(readonly linkType: number, name: string) {
    super(
      name === `DLT ${linkType}`
        ? `Unsupported link type ${name}`
        : `Unsupported link type ${quote(name)} (DLT ${linkType})`,
    );
    this.name = "UnsupportedLinkTypeError";
  }
}

/** A signal stopped the capture before it was open (a FIFO without a writer, a silent pipe). */
export class StoppedError extends Error {
  constructor() {
    super("Stopped before the capture was open");
    this.name = "StoppedError";
  }
}

/** Options of {@link CaptureSession.openFile}. */
export interface FileOptions {
  /** The user's BPF expression. */
  filter?: string;
  /** Capture time starts at the file's first packet, filtered or not (for a time limit). */
  timed?: boolean;
  /** Gives up waiting for a stream's first bytes; the promise rejects with StoppedError. */
  signal?: AbortSignal;
}

/** Something to read a capture stream from: `Deno.stdin` or an open file. */
interface Readable {
  read(p: Uint8Array): Promise<number | null>;
}

/** Bytes asked of a stream per read. */
const STREAM_CHUNK = 256 * 1024;

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
 * using capture = await CaptureSession.openFile("capture.pcap", counter);
 * const summary = await capture.run({ connectionLimit: 100 });
 * ```
 */
export class CaptureSession {
  readonly #pcap: Pcap;
  #counter: ConnectionCounter;
  /** Events counted by the counters swapped out. */
  #before = 0;
  #ports: Float64Array | undefined;
  #edges: Edges | undefined;
  /** The next edge of capture time, in microseconds (Infinity: none). */
  #edge = Infinity;
  /** A file's first and last packets' times, in microseconds, when noted. */
  #firstUs: number | undefined;
  #lastUs: number | undefined;
  /** The latest time seen (timestamps may go backwards), or where the capture was cut. */
  #endUs: number | undefined;
  readonly #linkType: number;
  readonly #live: boolean;
  readonly #decoded = new Decoded();
  #dedupe: RetransmissionFilter | undefined;
  readonly #decode: FrameDecoder;
  /**
   * Filters run in user space on what the installed filter passed: the user's (always apart
   * from pulso's, so that `vlan`, `mpls` or `pppoes` in it cannot move pulso's offsets), and
   * with a stream pulso's own too (libpcap's filtered reads would wait for records that have
   * not arrived). Every one must pass.
   */
  readonly #programs: BpfProgram[] = [];
  /** pulso's own filter, installed only after the first packet of a timed file. */
  readonly #deferred: BpfProgram | undefined;
  /** The stream being read, with its framing (fed captures only). */
  readonly #source: StreamSource | undefined;
  #packets = 0;
  #malformed = 0;
  /** Packets read, whatever the user's filter says, and their captured bytes. */
  #seen = 0;
  #seenBytes = 0;

  private constructor(
    pcap: Pcap,
    counter: ConnectionCounter,
    live: boolean,
    userFilter: string | undefined,
    deferFilter: boolean,
    source?: StreamSource,
  ) {
    this.#pcap = pcap;
    this.#counter = counter;
    this.#live = live;
    this.#source = source;
    this.#linkType = pcap.linkType;
    this.#decode = decoderFor(this.#linkType);
    if (!isSupportedLinkType(this.#linkType)) {
      throw new UnsupportedLinkTypeError(this.#linkType, pcap.linkTypeName);
    }
    // The user's expression first, so that an error quotes only what the user wrote.
    const user = userFilter?.trim() ? userFilter : undefined;
    let userProgram: BpfProgram | undefined;
    /** The user's expression needs the kernel: ANDed with pulso's there, as before. */
    let inKernel = false;
    if (user !== undefined) {
      try {
        userProgram = pcap.compile(user);
      } catch (e) {
        if (!(e instanceof KernelFilterError)) throw this.#filterError(e);
        // `inbound`, `outbound`, `ifindex`: only the kernel can tell (libpcap refuses them for
        // a file, in its own words), and they move no offset.
        this.#compile(() => pcap.checkFilter(user));
        inKernel = true;
      }
    }
    const ours = captureFilter(this.#linkType);
    // An expression that moves no offset (no `vlan`, `mpls`, `pppoes`, `geneve`) means the same
    // first in a conjunction as alone: it runs with pulso's, in the kernel (live) or in one
    // pass of libpcap (files), as tcpdump's does, instead of a second pass per packet here.
    const joined = user !== undefined && (inKernel || !OFFSET_MOVING.test(user));
    const first = joined ? captureFilter(this.#linkType, user) : ours;
    if (source) {
      this.#programs.push(this.#compile(() => pcap.compile(ours)));
      if (userProgram) this.#programs.push(userProgram);
    } else {
      if (deferFilter) this.#deferred = this.#compile(() => pcap.compile(first));
      else this.#compile(() => pcap.setFilter(first));
      if (userProgram && !joined) this.#programs.push(userProgram);
      else userProgram?.close();
    }
    this.#first = first;
    this.filter = source || !joined
      ? (user === undefined ? ours : `${ours}; then (${user})`)
      : first;
  }

  /** What the handle's filter becomes once a deferred one is installed. */
  readonly #first: string;

  /** The BPF expressions in use: pulso's, then the user's when there is one. */
  readonly filter: string;

  /** A session over the warm-up capture (see {@link warmUp}). */
  static openWarmUp(pcap: Pcap): CaptureSession {
    return CaptureSession.#open(pcap, new ConnectionCounter(), false, undefined, false);
  }

  /** Drains the whole capture, half of it noting times (as windows do): the warm-up. */
  warm(): void {
    let timed = false;
    for (;;) {
      const status = this.#drain(Infinity, timed ? Number.MAX_VALUE : Infinity, 1024);
      timed = !timed;
      if (status === DRAINED_END || status === DRAINED_EMPTY) return;
    }
  }

  /** Opens `device` for live capture with pulso's filter (and the user's). */
  static openLive(device: string, counter: ConnectionCounter, userFilter?: string): CaptureSession {
    warmUp();
    return CaptureSession.#open(Pcap.openLive(device), counter, true, userFilter, false);
  }

  /**
   * Opens a capture file, or `-` for stdin. A regular file is read by libpcap directly; a
   * stream (pipe, FIFO, terminal, socket) is read by pulso without blocking and handed to
   * libpcap a whole record at a time, so that a silent writer never holds the process. The
   * path is opened once. Throws {@link PcapError} when it cannot be read, and
   * {@link StoppedError} when `signal` aborts while a stream's first bytes are awaited.
   */
  static async openFile(
    path: string,
    counter: ConnectionCounter,
    options: FileOptions = {},
  ): Promise<CaptureSession> {
    const timed = options.timed ?? false;
    let file: Deno.FsFile | undefined;
    let reader: Readable;
    let regular: boolean;
    if (path === "-") {
      reader = Deno.stdin;
      // A file (`-r - < FILE`) goes to libpcap directly; anything else is a stream.
      regular = !Deno.stdin.isTerminal() && isSeekable(0);
    } else {
      const opened = await abortable(
        Deno.open(path, { read: true }).catch((e) => {
          // Paths such as /dev/stdin and /dev/fd/N (`-r <(…)`), which Deno's permissions
          // refuse whatever --allow-read says, are opened through the C library instead.
          if (e instanceof Deno.errors.NotCapable) return undefined;
          throw new PcapError(`Cannot read ${quote(path)}: ${systemMessage(e)}`);
        }),
        options.signal,
        (f) => f?.close(),
      );
      if (opened === undefined) {
        return await CaptureSession.#openDescriptor(path, counter, options);
      }
      file = opened;
      let info: Deno.FileInfo;
      try {
        info = await file.stat();
      } catch (e) {
        file.close();
        throw new PcapError(`Cannot read ${quote(path)}: ${systemMessage(e)}`);
      }
      if (info.isDirectory) {
        file.close();
        throw new PcapError(`Cannot read ${quote(path)}: Is a directory`);
      }
      regular = info.isFile;
      reader = file;
    }
    if (path === "-" ? regular : !canFeedStreams()) {
      file?.close();
      return CaptureSession.#open(Pcap.openOffline(path), counter, false, options.filter, timed);
    }
    if (regular) {
      // Opened again, off the main thread: should the path have become a FIFO meanwhile, its
      // open must not hold the process.
      file?.close();
      return await CaptureSession.#openDescriptor(path, counter, options);
    }
    return await CaptureSession.#openStream(
      path,
      reader,
      file,
      counter,
      options,
    );
  }

  /** {@link openFile} through a file descriptor that the C library opened. */
  static async #openDescriptor(
    path: string,
    counter: ConnectionCounter,
    options: FileOptions,
  ): Promise<CaptureSession> {
    const timed = options.timed ?? false;
    const descriptor = await abortable(Descriptor.open(path), options.signal, (d) => d?.close());
    // libpcap words the error (its own open fails as the C library's did).
    if (!descriptor) {
      return CaptureSession.#open(Pcap.openOffline(path), counter, false, options.filter, timed);
    }
    if (descriptor.seekable || !canFeedStreams()) {
      const buffer = new Uint8Array(READ_BUFFER_SIZE);
      const file = descriptor.toFile(buffer);
      if (!file) {
        descriptor.close();
        throw new PcapError(`Cannot read ${quote(path)}: cannot make a C stream`);
      }
      const pcap = Pcap.openCFile(path, file, buffer);
      return CaptureSession.#open(pcap, counter, false, options.filter, timed);
    }
    return await CaptureSession.#openStream(path, descriptor, descriptor, counter, options);
  }

  /** {@link openFile} of a stream: read here, handed to libpcap a record at a time. */
  static async #openStream(
    name: string,
    reader: Readable,
    owned: { close(): void } | undefined,
    counter: ConnectionCounter,
    options: FileOptions,
  ): Promise<CaptureSession> {
    const source = new StreamSource(reader, owned);
    try {
      await source.open(options.signal);
      const pcap = Pcap.openStream(name, source.fed);
      return CaptureSession.#open(
        pcap,
        counter,
        false,
        options.filter,
        options.timed ?? false,
        source,
      );
    } catch (e) {
      source.close();
      throw e;
    }
  }

  static #open(
    pcap: Pcap,
    counter: ConnectionCounter,
    live: boolean,
    userFilter: string | undefined,
    deferFilter: boolean,
    source?: StreamSource,
  ): CaptureSession {
    try {
      return new CaptureSession(pcap, counter, live, userFilter, deferFilter, source);
    } catch (e) {
      pcap.close();
      source?.close();
      throw e;
    }
  }

  /** libpcap's warning when the device was opened with one. */
  get warning(): string | undefined {
    return this.#pcap.warning;
  }

  /** Whether pulso reads the capture as a stream (pipe, FIFO, terminal) and feeds libpcap. */
  get streamed(): boolean {
    return this.#source !== undefined;
  }

  /** The link type (DLT value) of the capture. */
  get linkType(): number {
    return this.#linkType;
  }

  /** libpcap's name of the link type. */
  get linkTypeName(): string {
    return this.#pcap.linkTypeName;
  }

  /**
   * Captures until a limit, an abort, the end of the file or a read error. A read error
   * (a damaged file, a device that went away) ends the capture with what was counted: the
   * summary carries it.
   */
  run(limits: CaptureLimits = {}): Promise<CaptureSummary> {
    this.#dedupe = limits.dedupe;
    this.#ports = limits.ports;
    this.#edges = limits.edges;
    return this.#live ? this.#runLive(limits) : this.#runFile(limits);
  }

  /**
   * Counts from now on into `next`; returns the counter it replaces (at a window's edge).
   *
   * @example
   * ```ts
   * const finished = session.swapCounter(new ConnectionCounter());
   * ```
   */
  swapCounter(next: ConnectionCounter): ConnectionCounter {
    const previous = this.#counter;
    this.#before += previous.total;
    this.#counter = next;
    return previous;
  }

  /** Events counted, by every counter of the capture. */
  get connections(): number {
    return this.#before + this.#counter.total;
  }

  /** Distinct sources counted by the current counter (see {@link ConnectionCounter}). */
  distinctSources(): { count: number; exact: boolean } {
    return this.#counter.distinctSources();
  }

  /** Packets that reached the decoder so far. */
  get packets(): number {
    return this.#packets;
  }

  /** Malformed frames so far. */
  get malformed(): number {
    return this.#malformed;
  }

  /** libpcap's statistics now (live), or undefined. */
  stats(): CaptureStats | undefined {
    try {
      return this.#pcap.stats();
    } catch {
      return undefined;
    }
  }

  /** How far into a regular capture file libpcap has read, in bytes (undefined otherwise). */
  get fileOffset(): number | undefined {
    if (this.#live || this.#source) return undefined;
    try {
      return this.#pcap.fileOffset;
    } catch {
      return undefined;
    }
  }

  /** A file's first packet's time in microseconds, when the capture noted times. */
  get firstTimeUs(): number | undefined {
    return this.#firstUs;
  }

  /**
   * A file's latest packet time in microseconds (or where a limit or a signal cut it), when the
   * capture noted times.
   */
  get lastTimeUs(): number | undefined {
    return this.#endUs;
  }

  /** Closes the capture; idempotent. */
  close(): void {
    this.#pcap.close();
    this.#source?.close();
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
    let error: PcapError | undefined;
    let longestGap = 0;
    /** The highest rate into the kernel's buffer seen, in bytes per millisecond. */
    let highest = 0;
    let peak = 0;
    try {
      const pacer = new DrainPacer(DEFAULT_LIVE_OPTIONS.bufferSize);
      let seen = this.#seen;
      let seenBytes = this.#seenBytes;
      let drops = 0;
      const edges = this.#edges;
      if (edges) this.#edge = edges.begin(Date.now() * 1000);
      /** When the last drain ended; NaN after a wait in poll(2) (an idle wait is no gap). */
      let drained = NaN;
      while (!signal?.aborted) {
        const started = performance.now();
        if (started - drained > longestGap) longestGap = started - drained;
        const status = this.#drain(limit, this.#edge, BATCH);
        drained = performance.now();
        if (status === DRAINED_LIMIT) {
          reason = "connection-limit";
          break;
        }
        if (status === DRAINED_DEADLINE) {
          // A packet past the edge: the window before it is complete.
          const crossed = await this.#crossEdges(this.#lastUs!, Infinity, limit, turns, signal);
          if (crossed === "stopped") break;
          if (crossed) {
            reason = "connection-limit";
            break;
          }
          continue;
        }
        if (status === DRAINED_MORE) {
          await turns.next();
          continue;
        }
        // Drained: a window whose end the clock has passed (with the kernel's delay) is done.
        if (edges && Date.now() >= this.#edge / 1000 + EDGE_GRACE_MS) {
          this.#edge = edges.cross(this.#edge);
        }
        const got = this.#seen - seen;
        const waitMs = pacer.next(performance.now(), got, this.#seenBytes - seenBytes);
        if (got > 0 && limits.onDrops) drops = this.#reportDrops(limits.onDrops, drops);
        seen = this.#seen;
        seenBytes = this.#seenBytes;
        // Up to the next edge's grace, and not past it.
        const toEdge = Math.max(0, Math.ceil(this.#edge / 1000 + EDGE_GRACE_MS - Date.now()));
        if (waitMs !== POLL) {
          await waiter.sleep(Math.min(waitMs, toEdge));
        } else {
          await waiter.wait(Math.min(POLL_MS, toEdge));
          drained = NaN;
        }
        peak = pacer.peak(performance.now());
        if (peak > highest) highest = peak;
      }
      if (reason === "stopped") {
        // Packets of the last moments may still sit in a buffer block that the kernel hands
        // over only when its timeout expires: wait for it, so that nothing seen is lost.
        await sleep(FINAL_DRAIN_MS);
        for (;;) {
          const status = this.#drain(limit, this.#edge, BATCH);
          if (status === DRAINED_MORE) continue;
          if (status !== DRAINED_DEADLINE) break;
          if (await this.#crossEdges(this.#lastUs!, Infinity, limit, turns, undefined)) break;
        }
        if (this.connections >= limit) reason = "connection-limit";
      }
    } catch (e) {
      // The device went away, or another read error: what was counted still counts.
      if (!(e instanceof PcapError)) throw e;
      error = e;
      reason = "error";
    } finally {
      signal?.removeEventListener("abort", wake);
    }
    let stats: CaptureStats | undefined;
    try {
      stats = pcap.stats();
    } catch {
      // No statistics from a handle whose device is gone.
    }
    const gap = {
      longestGapMs: longestGap,
      ...(highest > 0
        ? { gapBoundMs: DEFAULT_LIVE_OPTIONS.bufferSize * PACER.ringShare / highest }
        : {}),
    };
    return { ...this.#summary(reason, stats), ...gap, ...(error ? { error } : {}) };
  }

  async #runFile(limits: CaptureLimits): Promise<CaptureSummary> {
    const signal = limits.signal;
    const limit = limits.connectionLimit ?? Infinity;
    const source = this.#source;
    /** The time limit, in microseconds of capture time. */
    let deadline = Infinity;
    const edges = this.#edges;
    // Noting times costs a read per packet: only when asked to, or windows need it.
    const timed = limits.timed === true || edges !== undefined;
    using turns = new Turns();
    try {
      if (limits.timeLimit !== undefined || this.#deferred !== undefined || timed) {
        // Capture time starts at the first packet of the file, filtered or not.
        if (source && !(await source.awaitRecord(signal))) return this.#summary("stopped");
        const status = this.#pcap.next();
        source?.took(status);
        if (status !== NextResult.PACKET) return this.#summary("end-of-file");
        const first = this.#timeUs();
        this.#firstUs = this.#lastUs = this.#endUs = first;
        if (limits.timeLimit !== undefined) {
          deadline = first + Math.round(limits.timeLimit * 1e6);
        }
        if (edges) this.#edge = edges.begin(first);
        const deferred = this.#deferred;
        if (deferred === undefined || this.#pcap.matches(deferred)) {
          if (this.#count(this.#pcap.frame, limit)) return this.#summary("connection-limit");
        }
        if (deferred !== undefined) {
          const filter = this.#first;
          this.#compile(() => this.#pcap.setFilter(filter));
        }
      }
      for (;;) {
        if (signal?.aborted) return this.#summary("stopped");
        let budget = BATCH;
        if (source) {
          if (!(await source.awaitRecord(signal))) return this.#summary("stopped");
          budget = Math.min(BATCH, source.records);
        }
        // Any finite deadline makes the drain read each packet's time; MAX_VALUE is never met.
        const until = Math.min(deadline, this.#edge, timed ? Number.MAX_VALUE : Infinity);
        const status = this.#drain(limit, until, budget);
        if (status === DRAINED_LIMIT) return this.#summary("connection-limit");
        if (status === DRAINED_DEADLINE) {
          // An edge: the window before it is complete; the packet counts in the next, unless
          // it is past the time limit too.
          const crossed = await this.#crossEdges(this.#lastUs!, deadline, limit, turns, signal);
          if (crossed === "stopped") return this.#summary("stopped");
          if (crossed) return this.#summary("connection-limit");
          if (this.#lastUs! >= deadline) {
            this.#lastUs = this.#endUs = deadline;
            return this.#summary("time-limit");
          }
          continue;
        }
        if (status === DRAINED_END) return this.#summary("end-of-file");
        await turns.next();
      }
    } catch (e) {
      if (e instanceof PcapError) return { ...this.#summary("error"), error: e };
      throw e;
    }
  }

  /**
   * Reads up to `budget` packets. The hot path: no allocation, no BigInt, no strings.
   * Packets at or past `deadline` (capture seconds) end the capture uncounted.
   */
  #drain(limit: number, deadline: number, budget: number): number {
    const pcap = this.#pcap;
    const source = this.#source;
    for (let i = 0; i < budget; i++) {
      const status = pcap.next();
      if (source) source.took(status);
      if (status !== NextResult.PACKET) {
        return status === NextResult.END ? DRAINED_END : DRAINED_EMPTY;
      }
      const frame = pcap.frame;
      this.#seen++;
      this.#seenBytes += frame.length;
      if (deadline !== Infinity) {
        const time = this.#timeUs();
        this.#lastUs = time;
        if (!(time <= this.#endUs!)) this.#endUs = time;
        if (time >= deadline) return DRAINED_DEADLINE;
      }
      if (this.#count(frame, limit)) return DRAINED_LIMIT;
    }
    return DRAINED_MORE;
  }

  /** Decodes and counts the current packet, `frame`; true when the connection limit is reached. */
  #count(frame: Uint8Array, limit: number): boolean {
    const programs = this.#programs;
    if (programs.length > 0) {
      for (let i = 0; i < programs.length; i++) {
        if (!this.#pcap.matches(programs[i])) return false;
      }
    }
    this.#packets++;
    const verdict = this.#decode(frame, frame.length, this.#decoded);
    if (verdict === Verdict.EVENT) {
      const d = this.#decoded;
      const dedupe = this.#dedupe;
      if (dedupe !== undefined && dedupe.repeated(frame, d, this.#timeUs() / 1e6)) return false;
      const counter = this.#counter;
      counter.addWords(d.family, d.words, d.port);
      const ports = this.#ports;
      if (ports !== undefined) ports[d.port]++;
      return limit !== Infinity && counter.total + this.#before >= limit;
    }
    if (verdict === Verdict.MALFORMED) this.#malformed++;
    return false;
  }

  /** Calls `onDrops` when libpcap's drop counts have grown past `before`; the new total. */
  #reportDrops(onDrops: (stats: CaptureStats) => void, before: number): number {
    let stats: CaptureStats | undefined;
    try {
      stats = this.#pcap.stats();
    } catch {
      return before;
    }
    if (!stats) return before;
    const drops = stats.dropped + stats.ifDropped;
    if (drops > before) onDrops(stats);
    return Math.max(drops, before);
  }

  /** The current packet's time, in microseconds since the epoch. */
  #timeUs(): number {
    return this.#pcap.seconds * 1e6 + this.#pcap.microseconds;
  }

  /**
   * Crosses every edge at or before `timeUs` (the current packet's time) and before `deadline`,
   * then counts the current packet unless it is past `deadline`; true when that reached the
   * connection limit.
   */
  async #crossEdges(
    timeUs: number,
    deadline: number,
    limit: number,
    turns: Turns,
    signal: AbortSignal | undefined,
  ): Promise<boolean | "stopped"> {
    const edges = this.#edges!;
    // A long gap in a file (or a clock set forward) crosses many edges: the event loop runs
    // every so many, so that a signal still stops pulso. Stopped, the capture ends at the edge
    // reached, with the packet past it uncounted.
    for (let crossed = 1; this.#edge <= timeUs && this.#edge < deadline; crossed++) {
      this.#edge = edges.cross(this.#edge);
      if (crossed % EDGES_PER_TURN === 0) {
        await turns.next();
        if (signal?.aborted) {
          this.#lastUs = this.#endUs = this.#edge;
          return "stopped";
        }
      }
    }
    if (timeUs >= deadline) return false;
    return this.#count(this.#pcap.frame, limit);
  }

  #filterError(e: unknown): unknown {
    return e instanceof PcapError ? new FilterError(e.message) : e;
  }

  #compile<T>(install: () => T): T {
    try {
      return install();
    } catch (e) {
      throw this.#filterError(e);
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

/**
 * Runs the whole drain (libpcap's `pcap_next_ex` through FFI, the decoder, the counter) on a
 * made-up capture of IPv4 and IPv6 SYNs until V8 has compiled it, before a live capture opens:
 * from the moment the device is open the kernel's buffer fills, and code still interpreted when
 * pulso starts into a flood of a million SYNs a second cannot keep up with it.
 */
function warmUp(): void {
  if (warmedUp) return;
  warmedUp = true;
  if (!canFeedStreams()) return;
  const fed = new FedStream();
  fed.push(warmUpCapture());
  fed.end();
  let session: CaptureSession | undefined;
  try {
    session = CaptureSession.openWarmUp(Pcap.openStream("warm-up", fed));
  } catch {
    return; // No warm-up where libpcap cannot read C streams.
  }
  try {
    session.warm();
  } finally {
    session.close();
  }
}

/** A capture of {@link WARM_UP_EVENTS} SYNs, every fourth over IPv6, from distinct sources. */
function warmUpCapture(): Uint8Array {
  const v4 = new Uint8Array(54);
  v4.set([0x08, 0x00], 12);
  v4.set([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14);
  v4.set([0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02], 34);
  const v6 = new Uint8Array(74);
  v6.set([0x86, 0xdd], 12);
  v6.set([0x60, 0, 0, 0, 0, 20, 6, 64, 0xfd, 0], 14);
  v6[53] = 2;
  v6.set([0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02], 54);
  const out = new Uint8Array(24 + WARM_UP_EVENTS * (16 + 74));
  const view = new DataView(out.buffer);
  view.setUint32(0, 0xa1b2c3d4, true);
  view.setUint16(4, 2, true);
  view.setUint16(6, 4, true);
  view.setUint32(16, 65535, true);
  view.setUint32(20, LinkType.EN10MB, true);
  let at = 24;
  for (let i = 0; i < WARM_UP_EVENTS; i++) {
    const frame = i % 4 === 3 ? v6 : v4;
    if (frame === v4) {
      frame[28] = i >> 8;
      frame[29] = i & 0xff;
    } else {
      frame[36] = i >> 8;
      frame[37] = i & 0xff;
    }
    view.setUint32(at, 1_700_000_000 + (i >> 12), true);
    view.setUint32(at + 4, i & 0xfff, true);
    view.setUint32(at + 8, frame.length, true);
    view.setUint32(at + 12, frame.length, true);
    out.set(frame, at + 16);
    at += 16 + frame.length;
  }
  return out.subarray(0, at);
}

let warmedUp = false;
const WARM_UP_EVENTS = 40_000;

const DRAINED_EMPTY = 0;
const DRAINED_MORE = 1;
const DRAINED_LIMIT = 2;
const DRAINED_END = 3;
const DRAINED_DEADLINE = 4;

/** Window edges crossed between two turns of the event loop. */
const EDGES_PER_TURN = 1024;

/** How often a run of turns lets due timers run, in milliseconds. */
const TIMER_TURN_MS = 100;

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

  /** When a turn last went through the timers. */
  #timersAt = performance.now();

  /**
   * Resolves on the next turn of the event loop; at least every {@link TIMER_TURN_MS} through
   * a timer instead, since messages alone would keep timers (the status line's, a time limit's)
   * waiting for many turns.
   */
  next(): Promise<void> {
    const now = performance.now();
    if (now - this.#timersAt >= TIMER_TURN_MS) {
      this.#timersAt = now;
      return new Promise((resolve) => setTimeout(resolve, 0));
    }
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

/**
 * A capture stream read without blocking, whose bytes go to libpcap through a {@link FedStream}
 * as far as whole records have arrived ({@link RecordFraming}). Reads one chunk at a time, and
 * only while libpcap has no whole record to read: what is buffered stays within one record
 * and one chunk.
 */
class StreamSource {
  readonly fed = new FedStream();
  readonly #framing = new RecordFraming();
  readonly #reader: Readable;
  readonly #file: { close(): void } | undefined;
  readonly #buffer = new Uint8Array(STREAM_CHUNK);
  /** Packet records libpcap has read. */
  #reads = 0;
  #pending: Promise<void> | undefined;
  #error: PcapError | undefined;
  #closed = false;

  constructor(reader: Readable, file: { close(): void } | undefined) {
    this.#reader = reader;
    this.#file = file;
  }

  /** Packet records libpcap can read now without waiting (Infinity once the stream ended). */
  get records(): number {
    return this.#framing.ready - this.#reads;
  }

  /** Reads until libpcap can open the stream; throws {@link StoppedError} when aborted. */
  async open(signal: AbortSignal | undefined): Promise<void> {
    while (!this.#framing.opened) {
      if (!(await this.#more(signal))) throw new StoppedError();
    }
  }

  /** Reads until a record is there; false when aborted. Throws a read error as PcapError. */
  async awaitRecord(signal: AbortSignal | undefined): Promise<boolean> {
    while (this.records <= 0) {
      if (!(await this.#more(signal))) return false;
    }
    return true;
  }

  /** Notes the result of one `pcap_next_ex`. */
  took(status: number): void {
    if (status === NextResult.PACKET) this.#reads++;
  }

  /** Closes the file read (not stdin) and the stream when libpcap did not take it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#file?.close();
    } catch {
      // Already closed.
    }
    this.fed.close();
  }

  async #more(signal: AbortSignal | undefined): Promise<boolean> {
    if (this.#error) throw this.#error;
    if (signal?.aborted) return false;
    this.#pending ??= this.#read();
    try {
      await abortable(this.#pending, signal);
    } catch (e) {
      if (e instanceof StoppedError) return false;
      throw e;
    }
    this.#pending = undefined;
    if (this.#error) throw this.#error;
    return true;
  }

  /** One read; never rejects (an error is kept for {@link #more}). */
  async #read(): Promise<void> {
    let n: number | null;
    try {
      n = await this.#reader.read(this.#buffer);
    } catch (e) {
      if (this.#closed) return;
      this.#error = new PcapError(`Cannot read the capture stream: ${systemMessage(e)}`);
      return;
    }
    if (n === null) {
      this.#framing.end();
      this.fed.end();
    } else if (n > 0) {
      const bytes = this.#buffer.slice(0, n);
      this.#framing.push(bytes);
      this.fed.push(bytes);
      // Blocks that libpcap passes over (or fails on) count no read: a stream of nothing else
      // must not be buffered without bound. Beyond the longest read and a chunk, give up.
      const limit = this.#framing.longestRead + STREAM_CHUNK;
      if (this.records <= 0 && this.fed.buffered > limit) {
        this.#error = new PcapError(
          `Cannot read the capture stream: more than ${limit} bytes with no packet in them`,
        );
      }
    }
  }
}

/**
 * Resolves as `promise` does, or rejects with {@link StoppedError} as soon as `signal` aborts;
 * a value that comes after that goes to `cleanup`.
 */
function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  cleanup?: (value: T) => void,
): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.then((v) => cleanup?.(v), () => {});
    return Promise.reject(new StoppedError());
  }
  return new Promise<T>((resolve, reject) => {
    let stopped = false;
    const onAbort = () => {
      stopped = true;
      reject(new StoppedError());
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        if (stopped) cleanup?.(value);
        else resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        if (!stopped) reject(error);
      },
    );
  });
}
