/**
 * libpcap bound with `Deno.dlopen`: the symbol table, the loader and the capture handle.
 *
 * libpcap is loaded lazily, on first use, so that `--help` works where it is missing.
 *
 * @module
 */
import {
  closeFile,
  copyFromAddress,
  type FedStream,
  openBufferedFile,
  streamOffset,
} from "./libc.ts";
import { escapeControls, quote } from "../src/quote.ts";

/** libpcap's symbols, each with its C prototype. */
export const SYMBOLS = {
  /** const char *pcap_lib_version(void) */
  pcap_lib_version: { parameters: [], result: "pointer" },
  /** pcap_t *pcap_create(const char *source, char *errbuf) */
  pcap_create: { parameters: ["buffer", "buffer"], result: "pointer" },
  /** pcap_t *pcap_open_dead(int linktype, int snaplen) */
  pcap_open_dead: { parameters: ["i32", "i32"], result: "pointer" },
  /** pcap_t *pcap_open_offline(const char *fname, char *errbuf) */
  pcap_open_offline: { parameters: ["buffer", "buffer"], result: "pointer" },
  /** pcap_t *pcap_fopen_offline(FILE *fp, char *errbuf) (a macro, not a symbol, on Windows) */
  pcap_fopen_offline: { parameters: ["pointer", "buffer"], result: "pointer", optional: true },
  /** int pcap_set_snaplen(pcap_t *p, int snaplen) */
  pcap_set_snaplen: { parameters: ["pointer", "i32"], result: "i32" },
  /** int pcap_set_promisc(pcap_t *p, int promisc) */
  pcap_set_promisc: { parameters: ["pointer", "i32"], result: "i32" },
  /** int pcap_set_timeout(pcap_t *p, int to_ms) */
  pcap_set_timeout: { parameters: ["pointer", "i32"], result: "i32" },
  /** int pcap_set_immediate_mode(pcap_t *p, int immediate_mode) */
  pcap_set_immediate_mode: { parameters: ["pointer", "i32"], result: "i32" },
  /** int pcap_set_buffer_size(pcap_t *p, int buffer_size) */
  pcap_set_buffer_size: { parameters: ["pointer", "i32"], result: "i32" },
  /** int pcap_activate(pcap_t *p) */
  pcap_activate: { parameters: ["pointer"], result: "i32" },
  /** int pcap_setnonblock(pcap_t *p, int nonblock, char *errbuf) */
  pcap_setnonblock: { parameters: ["pointer", "i32", "buffer"], result: "i32" },
  /** int pcap_get_selectable_fd(pcap_t *p) */
  pcap_get_selectable_fd: { parameters: ["pointer"], result: "i32" },
  /** int pcap_compile(pcap_t *p, struct bpf_program *fp, const char *str, int optimize,
   *    bpf_u_int32 netmask) */
  pcap_compile: { parameters: ["pointer", "buffer", "buffer", "i32", "u32"], result: "i32" },
  /** int pcap_setfilter(pcap_t *p, struct bpf_program *fp) */
  pcap_setfilter: { parameters: ["pointer", "buffer"], result: "i32" },
  /** int pcap_offline_filter(const struct bpf_program *fp, const struct pcap_pkthdr *h,
   *    const u_char *pkt) */
  pcap_offline_filter: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  /** void pcap_freecode(struct bpf_program *fp) */
  pcap_freecode: { parameters: ["buffer"], result: "void" },
  /** int pcap_next_ex(pcap_t *p, struct pcap_pkthdr **pkt_header, const u_char **pkt_data) */
  pcap_next_ex: { parameters: ["pointer", "pointer", "pointer"], result: "i32" },
  /** int pcap_datalink(pcap_t *p) */
  pcap_datalink: { parameters: ["pointer"], result: "i32" },
  /** const char *pcap_datalink_val_to_name(int dlt) */
  pcap_datalink_val_to_name: { parameters: ["i32"], result: "pointer" },
  /** const char *pcap_datalink_val_to_description(int dlt) */
  pcap_datalink_val_to_description: { parameters: ["i32"], result: "pointer" },
  /** FILE *pcap_file(pcap_t *p) — the standard I/O stream of a capture file, or NULL */
  pcap_file: { parameters: ["pointer"], result: "pointer" },
  /** int pcap_stats(pcap_t *p, struct pcap_stat *ps) */
  pcap_stats: { parameters: ["pointer", "buffer"], result: "i32" },
  /** char *pcap_geterr(pcap_t *p) */
  pcap_geterr: { parameters: ["pointer"], result: "pointer" },
  /** const char *pcap_statustostr(int error) */
  pcap_statustostr: { parameters: ["i32"], result: "pointer" },
  /** void pcap_close(pcap_t *p) */
  pcap_close: { parameters: ["pointer"], result: "void" },
  /** int pcap_findalldevs(pcap_if_t **alldevsp, char *errbuf) */
  pcap_findalldevs: { parameters: ["buffer", "buffer"], result: "i32" },
  /** void pcap_freealldevs(pcap_if_t *alldevs) */
  pcap_freealldevs: { parameters: ["pointer"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The loaded library. */
export type Libpcap = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** Names tried after `LIBPCAP_PATH`, in order. */
export const LIBRARY_NAMES = [
  "libpcap.so.1",
  "libpcap.so.0.8",
  "libpcap.so",
  "libpcap.A.dylib",
  "libpcap.dylib",
  "wpcap.dll",
] as const;

/** libpcap could not be loaded: nothing to capture with. */
export class LibpcapLoadError extends Error {
  /**
   * @param tried the names and paths tried, in order
   * @param fromEnv `LIBPCAP_PATH` when it was set and tried first, with why it did not load
   */
  constructor(readonly tried: readonly string[], fromEnv?: { path: string; reason: string }) {
    const names = tried.filter((t) => t !== fromEnv?.path);
    super(
      `Cannot load libpcap (${
        fromEnv ? `LIBPCAP_PATH ${quote(fromEnv.path)}: ${fromEnv.reason}; then ` : ""
      }tried ${names.map(quote).join(", ")}): install it ` +
        "(Debian/Ubuntu: apt-get install libpcap0.8; Fedora: dnf install libpcap; " +
        "Windows: Npcap) or set LIBPCAP_PATH to the library file",
    );
    this.name = "LibpcapLoadError";
  }
}

/** A libpcap call failed; the message is libpcap's own. */
export class PcapError extends Error {
  /**
   * @param message what failed, with libpcap's words
   * @param status libpcap's status code (PCAP_ERROR…), when there is one
   */
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = "PcapError";
  }
}

/**
 * A filter that only the kernel can run (`inbound`, `outbound`, `ifindex`: it loads what the
 * kernel alone knows), asked for in user space by {@link Pcap.compile}.
 */
export class KernelFilterError extends PcapError {
  /** @param expression the filter */
  constructor(expression: string) {
    super(`The filter ${quote(expression)} can run only in the kernel`);
    this.name = "KernelFilterError";
  }
}

/** libpcap's status codes that pulso reports in its own words. */
export const PcapStatus = {
  ERROR: -1,
  BREAK: -2,
  NO_SUCH_DEVICE: -5,
  PERM_DENIED: -8,
  PROMISC_PERM_DENIED: -11,
  WARNING: 1,
} as const;

let loaded: Libpcap | undefined;

/**
 * Loads libpcap once: `LIBPCAP_PATH` first, then {@link LIBRARY_NAMES}. Throws
 * {@link LibpcapLoadError} listing what was tried.
 *
 * @example
 * ```ts
 * const pcap = libpcap();
 * console.log(cString(pcap.pcap_lib_version()));
 * ```
 */
export function libpcap(): Libpcap {
  if (loaded) return loaded;
  const candidates: string[] = [];
  const fromEnv = Deno.env.get("LIBPCAP_PATH");
  if (fromEnv) candidates.push(fromEnv);
  candidates.push(...LIBRARY_NAMES);
  let envFailure: { path: string; reason: string } | undefined;
  for (const name of candidates) {
    try {
      loaded = Deno.dlopen(name, SYMBOLS).symbols;
      return loaded;
    } catch (e) {
      if (name === fromEnv && envFailure === undefined) {
        const reason = escapeControls(e instanceof Error ? e.message : String(e));
        envFailure = { path: fromEnv, reason };
        loadWarnings.push(`LIBPCAP_PATH ${quote(fromEnv)} not loaded: ${reason}`);
      }
    }
  }
  throw new LibpcapLoadError(candidates, envFailure);
}

/** Why `LIBPCAP_PATH` was passed over, for the log; taken by {@link takeLoadWarnings}. */
const loadWarnings: string[] = [];

/**
 * The messages of the last load of libpcap that the log should carry (a `LIBPCAP_PATH` that
 * did not load, though a library did), once each.
 */
export function takeLoadWarnings(): string[] {
  return loadWarnings.splice(0);
}

const encoder = new TextEncoder();

/** A NUL-terminated C string, e.g. `cstr("lo")`. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(s + "\0");
}

/** The JavaScript string at a `const char *`, or "" for NULL. */
export function cString(pointer: Deno.PointerValue): string {
  return pointer ? Deno.UnsafePointerView.getCString(pointer) : "";
}

const PCAP_ERRBUF_SIZE = 256;

/** An error buffer for libpcap's `errbuf` parameters. */
export function errorBuffer(): Uint8Array<ArrayBuffer> {
  return new Uint8Array(PCAP_ERRBUF_SIZE);
}

/** The NUL-terminated text in an error buffer. */
export function errorText(errbuf: Uint8Array): string {
  const end = errbuf.indexOf(0);
  return new TextDecoder().decode(errbuf.subarray(0, end < 0 ? errbuf.length : end)).trim();
}

/** libpcap's version text, e.g. "libpcap version 1.10.3 (with TPACKET_V3)". */
export function libraryVersion(): string {
  return cString(libpcap().pcap_lib_version());
}

/**
 * The name of a link type, e.g. `linkTypeName(1)` is "EN10MB", or `DLT <n>` when libpcap has
 * none.
 */
export function linkTypeName(dlt: number): string {
  return cString(libpcap().pcap_datalink_val_to_name(dlt)) || `DLT ${dlt}`;
}

/** One capture device. */
export interface Device {
  /** The name to pass to `--device`. */
  name: string;
  /** libpcap's description, when it has one. */
  description?: string;
  /** Loopback device. */
  loopback: boolean;
  /** Up and running. */
  up: boolean;
}

const PCAP_IF_LOOPBACK = 0x1;
const PCAP_IF_UP = 0x2;
const PCAP_IF_RUNNING = 0x4;

/**
 * The capture devices, as `tcpdump -D` lists them.
 *
 * @example
 * ```ts
 * for (const d of listDevices()) console.log(d.name, d.description ?? "");
 * ```
 */
export function listDevices(): Device[] {
  const lib = libpcap();
  const out = new BigUint64Array(1);
  const errbuf = errorBuffer();
  if (lib.pcap_findalldevs(out, errbuf) !== 0) {
    throw new PcapError(`Cannot list devices: ${errorText(errbuf)}`);
  }
  const head = Deno.UnsafePointer.create(out[0]);
  const devices: Device[] = [];
  try {
    // struct pcap_if { pcap_if *next; char *name; char *description; pcap_addr *addresses;
    //                  bpf_u_int32 flags; }
    for (let p = head; p;) {
      const view = new Deno.UnsafePointerView(p);
      const flags = view.getUint32(32);
      const description = cString(view.getPointer(16));
      devices.push({
        name: cString(view.getPointer(8)),
        ...(description ? { description } : {}),
        loopback: (flags & PCAP_IF_LOOPBACK) !== 0,
        up: (flags & (PCAP_IF_UP | PCAP_IF_RUNNING)) === (PCAP_IF_UP | PCAP_IF_RUNNING),
      });
      p = view.getPointer(0);
    }
  } finally {
    if (head) lib.pcap_freealldevs(head);
  }
  return devices;
}

/** Capture statistics from `pcap_stats`. */
export interface CaptureStats {
  /** Packets received by the filter. */
  received: number;
  /** Packets dropped for lack of buffer space. */
  dropped: number;
  /** Packets dropped by the interface or its driver. */
  ifDropped: number;
}

/** Options of a live capture. */
export interface LiveOptions {
  /** Bytes kept of each packet. */
  snaplen: number;
  /** Kernel buffer size in bytes. */
  bufferSize: number;
  /** Packet buffer timeout in milliseconds. */
  timeoutMs: number;
  /** Deliver each packet at once instead of in batches. */
  immediate: boolean;
}

/**
 * Default live options.
 *
 * - The snapshot length is libpcap's largest, as in a file: every header chain the decoder
 *   walks (IPv6 extension headers may fill a whole packet) is there live as it is offline. It
 *   costs a SYN nothing: with TPACKET_V3 the kernel stores each packet at its captured size,
 *   and the BPF filter passes little besides SYNs.
 * - Batched delivery and an 8 MiB buffer: about 50 000 packets of some 160 bytes each in the
 *   ring, a third of a second of an 80 000 SYN/s flood on `lo` (where each packet is seen
 *   twice). Under such a flood, 32 MiB cost twice the system time and 20 MiB more memory for no
 *   fewer drops (none either way); 2 MiB dropped packets.
 */
export const DEFAULT_LIVE_OPTIONS: LiveOptions = {
  snaplen: 262144,
  bufferSize: 8 * 1024 * 1024,
  timeoutMs: 10,
  immediate: false,
};

/** The result of {@link Pcap.next}. */
export const NextResult = {
  /** A packet is in {@link Pcap.frame}. */
  PACKET: 1,
  /** No packet now (live, non-blocking). */
  NONE: 0,
  /** End of the capture file. */
  END: -2,
} as const;

/**
 * The stdio buffer of a capture file being read, in bytes: 16 times the default, so 16 times
 * fewer read(2) calls, and small enough to stay in the CPU's cache (1 MiB was slower).
 */
export const READ_BUFFER_SIZE = 1 << 16;

/** Frames larger than this are read only this far: libpcap's own bound on a record of the link
 * types pulso decodes, so a frame is never cut. */
const MAX_COPY = 262144;

/** Deno turns addresses into pointer objects only through BigInt; reading relative to this one
 * fixed base pointer keeps the per-packet path free of BigInt and of new objects. Made on first
 * use: importing this module needs no FFI permission. */
let base: Deno.PointerObject | undefined;
const BASE_ADDRESS = 1;

/** How the C library words EAGAIN / EWOULDBLOCK (glibc and musl; macOS). */
const WOULD_BLOCK = /: (Resource temporarily unavailable|Operation would block)$/;

/** Frames up to this length get a view made once per length; longer ones (rare) one per read,
 * so that a file of every length cannot make the caches hold 262 144 views. */
const CACHED_LENGTHS = 2048;

/** The size of `struct pcap_pkthdr` (LP64). */
const HEADER_SIZE = 24;

/**
 * Reads the memory that libpcap points to, given the address as two 32-bit words, without
 * BigInt and, once settled, without any call. The bytes at a new address are copied (one FFI
 * call per packet); when the same address comes twice in a row (libpcap keeps the packet header
 * in the handle, and every packet of a file lands in one buffer), a view on that memory is made
 * once (the only allocation), and the packets there are then read in place. Either way, the
 * bytes are valid until the next `pcap_next_ex`, like libpcap's own pointers, and reads never
 * go past the `length` bytes of the current packet.
 */
class ForeignBytes {
  readonly #copy: ArrayBuffer;
  /** Subarrays of the copy buffer, by length. */
  readonly #copies: Uint8Array[] = [];
  /** The view in place, at the address #viewLow/#viewHigh, and its subarrays by length. */
  #view: Uint8Array = new Uint8Array(0);
  #views: Uint8Array[] = [];
  #viewLow = -1;
  #viewHigh = -1;
  /** The address read last. */
  #low = -1;
  #high = -1;

  /** @param capacity the most bytes read at once */
  constructor(capacity: number) {
    this.#copy = new ArrayBuffer(capacity);
  }

  /**
   * The `length` bytes at the address `low + high * 2^32`; `addresses[at]`, when given, is that
   * address as BigInt (read only when the bytes are copied, for the fast copy).
   */
  read(
    low: number,
    high: number,
    length: number,
    addresses?: BigUint64Array,
    at = 0,
  ): Uint8Array {
    if (low === this.#viewLow && high === this.#viewHigh && length <= this.#view.length) {
      return length <= CACHED_LENGTHS
        ? this.#views[length] ??= this.#view.subarray(0, length)
        : this.#view.subarray(0, length);
    }
    if (low === this.#low && high === this.#high && length > 0) {
      return this.#map(low, high, length);
    }
    this.#low = low;
    this.#high = high;
    const bytes = length <= CACHED_LENGTHS
      ? this.#copies[length] ??= new Uint8Array(this.#copy, 0, length)
      : new Uint8Array(this.#copy, 0, length);
    if (length > 0) {
      if (addresses !== undefined) {
        copyFromAddress(bytes, addresses[at]);
      } else {
        base ??= Deno.UnsafePointer.create(BigInt(BASE_ADDRESS))!;
        Deno.UnsafePointerView.copyInto(base, bytes, low + high * 0x1_0000_0000 - BASE_ADDRESS);
      }
    }
    return bytes;
  }

  /** Forgets the view in place (its memory goes away with the handle). */
  clear(): void {
    this.#view = new Uint8Array(0);
    this.#views = [];
    this.#viewLow =
      this.#viewHigh =
      this.#low =
      this.#high =
        -1;
  }

  #map(low: number, high: number, length: number): Uint8Array {
    const pointer = Deno.UnsafePointer.create((BigInt(high) << 32n) | BigInt(low))!;
    this.#view = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(pointer, length));
    this.#viewLow = low;
    this.#viewHigh = high;
    this.#views = [];
    return this.#views[length] = this.#view;
  }
}

/**
 * A libpcap capture handle: a live device or a capture file.
 *
 * @example
 * ```ts
 * using pcap = Pcap.openOffline("capture.pcap");
 * pcap.setFilter("tcp");
 * while (pcap.next() === NextResult.PACKET) console.log(pcap.frame.length);
 * ```
 */
export class Pcap {
  #handle: Deno.PointerObject | null;
  readonly #lib: Libpcap;
  /**
   * `pcap_next_ex`'s two out-parameters (header, then data pointer), in a buffer whose address
   * is taken once: a pointer argument costs about 20 ns less per call than a buffer one.
   */
  readonly #out = new ArrayBuffer(16);
  readonly #outWords = new Uint32Array(this.#out);
  readonly #outAddresses = new BigUint64Array(this.#out);
  readonly #headerOut = Deno.UnsafePointer.of(this.#out);
  readonly #dataOut = Deno.UnsafePointer.offset(this.#headerOut!, 8);
  // struct pcap_pkthdr { struct timeval ts; bpf_u_int32 caplen; bpf_u_int32 len; } (LP64)
  readonly #headerBytes = new ForeignBytes(HEADER_SIZE);
  #header: Uint8Array = new Uint8Array(HEADER_SIZE);
  readonly #frameBytes = new ForeignBytes(MAX_COPY);
  #frame: Uint8Array = new Uint8Array(0);
  readonly #programs: BpfProgram[] = [];
  /** The stream a fed capture reads (see {@link openStream}). */
  #stream: FedStream | undefined;
  /** The stdio buffer of the file's stream (C reads into it until the handle is closed). */
  #readBuffer: Uint8Array | undefined;
  #nonBlocking = false;
  /** libpcap's warning when activation succeeded with one (e.g. no promiscuous mode). */
  warning: string | undefined;

  private constructor(
    lib: Libpcap,
    handle: Deno.PointerObject,
    readBuffer?: Uint8Array,
    stream?: FedStream,
  ) {
    this.#lib = lib;
    this.#handle = handle;
    this.#readBuffer = readBuffer;
    this.#stream = stream;
  }

  /**
   * Opens and activates `device` for live capture. Throws {@link PcapError} with the status
   * (`PcapStatus.NO_SUCH_DEVICE`, `PcapStatus.PERM_DENIED`, …) when libpcap refuses.
   */
  static openLive(device: string, options: LiveOptions = DEFAULT_LIVE_OPTIONS): Pcap {
    const lib = libpcap();
    const errbuf = errorBuffer();
    const handle = lib.pcap_create(cstr(device), errbuf);
    if (!handle) throw new PcapError(`Cannot open device ${quote(device)}: ${errorText(errbuf)}`);
    const pcap = new Pcap(lib, handle);
    try {
      pcap.#check(lib.pcap_set_snaplen(handle, options.snaplen), "set the snapshot length");
      pcap.#check(lib.pcap_set_promisc(handle, 0), "leave promiscuous mode off");
      pcap.#check(lib.pcap_set_timeout(handle, options.timeoutMs), "set the timeout");
      pcap.#check(
        lib.pcap_set_immediate_mode(handle, options.immediate ? 1 : 0),
        "set immediate mode",
      );
      pcap.#check(lib.pcap_set_buffer_size(handle, options.bufferSize), "set the buffer size");
      const status = lib.pcap_activate(handle);
      if (status > 0) {
        pcap.warning = `${cString(lib.pcap_statustostr(status))} ${pcap.#lastError()}`.trim();
      }
      if (status < 0) {
        const detail = status === PcapStatus.ERROR
          ? pcap.#lastError()
          : cString(lib.pcap_statustostr(status));
        const extra = status === PcapStatus.ERROR ? "" : pcap.#lastError();
        throw new PcapError(
          `Cannot capture on ${quote(device)}: ${detail}${
            extra && !detail.includes(extra) ? ` (${extra})` : ""
          }`,
          status,
        );
      }
    } catch (e) {
      pcap.close();
      throw e;
    }
    return pcap;
  }

  /**
   * Opens a pcap or pcapng file, a regular one (a stream, such as a pipe, goes through
   * {@link openStream}). Throws {@link PcapError} when it cannot. The file is opened once.
   */
  static openOffline(path: string): Pcap {
    const lib = libpcap();
    const errbuf = errorBuffer();
    if (path !== "-" && lib.pcap_fopen_offline && Deno.build.os !== "windows") {
      // A larger stdio buffer: 3 300 read(2) calls for 200 MB instead of 53 000.
      const buffer = new Uint8Array(READ_BUFFER_SIZE);
      const file = openBufferedFile(path, buffer);
      if (file) return Pcap.openCFile(path, file, buffer);
    }
    const handle = lib.pcap_open_offline(cstr(path), errbuf);
    if (!handle) throw new PcapError(`Cannot read ${quote(path)}: ${errorText(errbuf)}`);
    return new Pcap(lib, handle);
  }

  /**
   * Opens a capture file from a C stream (`FILE *`) that libpcap then owns, `buffer` being its
   * stdio buffer; `name` is for messages. Throws {@link PcapError} when libpcap refuses it.
   */
  static openCFile(name: string, file: Deno.PointerObject, buffer: Uint8Array): Pcap {
    const lib = libpcap();
    const errbuf = errorBuffer();
    const handle = lib.pcap_fopen_offline?.(file, errbuf);
    if (!handle) {
      closeFile(file);
      throw new PcapError(`Cannot read ${quote(name)}: ${errorText(errbuf)}`);
    }
    return new Pcap(lib, handle, buffer);
  }

  /**
   * Opens a capture whose bytes are pushed into `stream` (see {@link FedStream}); `name` is
   * for messages. Call it only once the stream holds the whole file header (and with pcapng
   * every block up to the first interface description), and call {@link next} only when a
   * whole record is there: then libpcap never waits. The handle closes the stream. (libpcap
   * reads it through callbacks into JavaScript, which Deno allows from any FFI call.)
   */
  static openStream(name: string, stream: FedStream): Pcap {
    const lib = libpcap();
    const errbuf = errorBuffer();
    if (!lib.pcap_fopen_offline) {
      throw new PcapError(`Cannot read ${quote(name)}: this libpcap cannot read C streams`);
    }
    stream.handOver();
    const handle = lib.pcap_fopen_offline(stream.file, errbuf);
    if (!handle) {
      // pcap_fopen_offline leaves the stream open when it fails (pcap_open_offline closes only
      // the file it opened itself): close it, then release its callback.
      closeFile(stream.file);
      stream.close();
      throw new PcapError(`Cannot read ${quote(name)}: ${errorText(errbuf)}`);
    }
    return new Pcap(lib, handle, undefined, stream);
  }

  /** The link type (DLT value) of the frames. */
  get linkType(): number {
    return this.#lib.pcap_datalink(this.#live());
  }

  /** libpcap's name of the link type, e.g. "EN10MB". */
  get linkTypeName(): string {
    return linkTypeName(this.linkType);
  }

  /** The current frame: valid until the next call of {@link next}. */
  get frame(): Uint8Array {
    return this.#frame;
  }

  /**
   * Seconds part of the current frame's timestamp. A pcap file stores them as 32 unsigned bits,
   * which libpcap sign-extends: from 2038-01-19 on they come negative, and are read here as the
   * file meant them (up to 2106).
   */
  get seconds(): number {
    const high = word(this.#header, 4);
    const low = word(this.#header, 0);
    return high === 0xffffffff ? low : low + high * 0x1_0000_0000;
  }

  /** Microseconds part of the current frame's timestamp. */
  get microseconds(): number {
    return word(this.#header, 8);
  }

  /** Compiles `expression` and installs it as the capture filter. */
  setFilter(expression: string): void {
    const program = this.#compile(expression);
    try {
      if (this.#lib.pcap_setfilter(this.#live(), program) !== 0) {
        throw new PcapError(`Cannot set filter: ${this.#lastError()}`);
      }
    } finally {
      this.#lib.pcap_freecode(program);
    }
  }

  /** Throws {@link PcapError} with libpcap's message when `expression` does not compile. */
  checkFilter(expression: string): void {
    this.#lib.pcap_freecode(this.#compile(expression));
  }

  /**
   * Compiles `expression` for {@link matches}, to run in user space on the packets that the
   * installed filter passes. Close it (or let {@link close} do so) when done. It is compiled
   * as for a file of this link type: on a live handle libpcap would use loads that only the
   * kernel answers (a `vlan` test, for one), which fail in user space. libpcap hands live
   * frames over with their VLAN tags put back, as a file holds them. Primitives that need the
   * kernel (`inbound`, `outbound`, `ifindex`) do not compile so: see {@link checkFilter}.
   */
  compile(expression: string): BpfProgram {
    const lib = this.#lib;
    const dead = lib.pcap_open_dead(this.linkType, DEFAULT_LIVE_OPTIONS.snaplen);
    if (!dead) throw new PcapError("Cannot compile a filter: out of memory");
    try {
      // struct bpf_program { u_int bf_len; struct bpf_insn *bf_insns; } (LP64: 16 bytes)
      const code = new Uint8Array(16);
      const PCAP_NETMASK_UNKNOWN = 0xffffffff;
      if (lib.pcap_compile(dead, code, cstr(expression), 1, PCAP_NETMASK_UNKNOWN)) {
        throw new PcapError(
          `Invalid filter ${quote(expression)}: ${cString(lib.pcap_geterr(dead))}`,
        );
      }
      const program = new BpfProgram(lib, code);
      if (program.needsKernel) {
        program.close();
        throw new KernelFilterError(expression);
      }
      this.#programs.push(program);
      return program;
    } finally {
      lib.pcap_close(dead);
    }
  }

  /** Whether the current packet passes `program` (made by {@link compile}). */
  matches(program: BpfProgram): boolean {
    return program.matches(this.#header, this.#frame);
  }

  /** Switches non-blocking mode on or off (live captures). */
  setNonBlocking(on: boolean): void {
    const errbuf = errorBuffer();
    if (this.#lib.pcap_setnonblock(this.#live(), on ? 1 : 0, errbuf) !== 0) {
      throw new PcapError(`Cannot set non-blocking mode: ${errorText(errbuf)}`);
    }
    this.#nonBlocking = on;
  }

  /** How far into its file a capture file's handle has read, in bytes (undefined: live). */
  get fileOffset(): number | undefined {
    const file = this.#lib.pcap_file(this.#live());
    return file === null ? undefined : streamOffset(file);
  }

  /** A file descriptor to poll for readability, or -1 when the platform has none. */
  get selectableFd(): number {
    return this.#lib.pcap_get_selectable_fd(this.#live());
  }

  /**
   * Reads the next packet into {@link frame}. Returns {@link NextResult}: PACKET, NONE (live,
   * nothing now) or END (end of file); throws {@link PcapError} on a read error (for example a
   * damaged file). The hot path: no allocation, and when reading a file no call but
   * `pcap_next_ex` (see {@link ForeignBytes}).
   */
  next(): number {
    const handle = this.#handle;
    if (handle === null) throw new PcapError("The capture handle is closed");
    const status = this.#lib.pcap_next_ex(handle, this.#headerOut, this.#dataOut);
    if (status === 1) {
      const o = this.#outWords;
      const header = this.#header = this.#headerBytes.read(o[0], o[1], HEADER_SIZE);
      let length = word(header, 16);
      if (length > MAX_COPY) length = MAX_COPY;
      this.#frame = this.#frameBytes.read(o[2], o[3], length, this.#outAddresses, 1);
      return NextResult.PACKET;
    }
    if (status === 0 || status === NextResult.END) return status;
    const message = this.#lastError() || cString(this.#lib.pcap_statustostr(status));
    // Some of libpcap's devices (nfqueue, nflog) report a non-blocking read that finds nothing
    // as an error instead of 0: it is no packet now.
    if (this.#nonBlocking && WOULD_BLOCK.test(message)) return NextResult.NONE;
    throw new PcapError(message, status);
  }

  /** Capture statistics so far, or undefined when libpcap has none (capture files). */
  stats(): CaptureStats | undefined {
    const stat = new Uint32Array(4);
    if (this.#lib.pcap_stats(this.#live(), stat) !== 0) return undefined;
    return { received: stat[0], dropped: stat[1], ifDropped: stat[2] };
  }

  /** Closes the handle; safe to call more than once. */
  close(): void {
    for (const program of this.#programs.splice(0)) program.close();
    // The last header and frame may be libpcap's memory: keep copies.
    this.#header = this.#header.slice();
    this.#frame = this.#frame.slice();
    this.#headerBytes.clear();
    this.#frameBytes.clear();
    if (this.#handle) this.#lib.pcap_close(this.#handle);
    this.#handle = null;
    // The stream's buffer may go only now that C is done with it.
    if (this.#readBuffer) this.#readBuffer = undefined;
    // The stream's callback may go only now that the stream is closed.
    this.#stream?.close();
    this.#stream = undefined;
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #compile(expression: string): Uint8Array<ArrayBuffer> {
    // struct bpf_program { u_int bf_len; struct bpf_insn *bf_insns; } (LP64: 16 bytes)
    const program = new Uint8Array(16);
    const PCAP_NETMASK_UNKNOWN = 0xffffffff;
    if (this.#lib.pcap_compile(this.#live(), program, cstr(expression), 1, PCAP_NETMASK_UNKNOWN)) {
      throw new PcapError(`Invalid filter ${quote(expression)}: ${this.#lastError()}`);
    }
    return program;
  }

  #live(): Deno.PointerObject {
    if (!this.#handle) throw new PcapError("The capture handle is closed");
    return this.#handle;
  }

  #lastError(): string {
    return this.#handle ? cString(this.#lib.pcap_geterr(this.#handle)) : "";
  }

  #check(status: number, what: string): void {
    if (status !== 0) {
      throw new PcapError(`Cannot ${what}: ${cString(this.#lib.pcap_statustostr(status))}`, status);
    }
  }
}

/**
 * A compiled BPF program run in user space with `pcap_offline_filter`, on packets that the
 * installed filter passed: made by {@link Pcap.compile}, closed with its handle.
 *
 * @example
 * ```ts
 * using program = pcap.compile("not vlan");
 * if (pcap.next() === NextResult.PACKET && pcap.matches(program)) console.log("passes");
 * ```
 */
export class BpfProgram {
  readonly #lib: Libpcap;
  #program: Uint8Array<ArrayBuffer> | undefined;
  /** A copy of the packet header, for the rare frame longer than what was read of it. */
  readonly #cut = new Uint8Array(HEADER_SIZE);

  /** @internal Made by {@link Pcap.compile}. */
  constructor(lib: Libpcap, program: Uint8Array<ArrayBuffer>) {
    this.#lib = lib;
    this.#program = program;
  }

  /**
   * Whether the program loads what only the kernel answers (Linux's ancillary data, at
   * offsets from SKF_AD_OFF): in user space such loads fail, and the packet with them.
   */
  get needsKernel(): boolean {
    const program = this.#program;
    if (!program) return false;
    const view = new DataView(program.buffer);
    const count = view.getUint32(0, true);
    const instructions = Deno.UnsafePointer.create(view.getBigUint64(8, true));
    if (!instructions || count === 0) return false;
    // struct bpf_insn { u_short code; u_char jt; u_char jf; bpf_u_int32 k; }
    const code = new Deno.UnsafePointerView(instructions);
    const SKF_AD_OFF = 0xfffff000;
    for (let i = 0; i < count; i++) {
      const op = code.getUint16(i * 8);
      const k = code.getUint32(i * 8 + 4);
      const loadClass = op & 0x07; // BPF_LD, BPF_LDX
      const mode = op & 0xe0; // BPF_ABS, BPF_IND
      if (loadClass <= 1 && (mode === 0x20 || mode === 0x40) && k >= SKF_AD_OFF) return true;
    }
    return false;
  }

  /** Whether the packet with this `struct pcap_pkthdr` and these bytes passes. */
  matches(header: Uint8Array, frame: Uint8Array): boolean {
    if (!this.#program) throw new PcapError("The filter program is closed");
    if (word(header, 16) > frame.length) {
      // Never let the filter read past the bytes at hand.
      this.#cut.set(header);
      new DataView(this.#cut.buffer).setUint32(16, frame.length, true);
      header = this.#cut;
    }
    return this.#lib.pcap_offline_filter(this.#program, header, frame) !== 0;
  }

  /** Frees the program; idempotent. */
  close(): void {
    if (this.#program) this.#lib.pcap_freecode(this.#program);
    this.#program = undefined;
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** The 32-bit word at `at` in host order (little-endian: every platform Deno runs on). */
function word(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}
