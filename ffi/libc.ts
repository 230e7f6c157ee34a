/**
 * The few libc calls pulso needs to wait for packets without blocking JavaScript: `poll(2)` runs
 * as a `nonblocking` FFI call (on a helper thread, returning a promise), and a pipe wakes it up
 * when the capture must stop.
 *
 * @module
 */

/** libc's symbols, each with its C prototype. */
export const LIBC_SYMBOLS = {
  /** int poll(struct pollfd *fds, nfds_t nfds, int timeout) — awaited, off the main thread */
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  /** int pipe(int pipefd[2]) */
  pipe: { parameters: ["buffer"], result: "i32" },
  /** ssize_t write(int fd, const void *buf, size_t count) */
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  /** int close(int fd) */
  close: { parameters: ["i32"], result: "i32" },
  /** int open(const char *pathname, int flags) */
  open: { parameters: ["buffer", "i32"], result: "i32" },
  /** ssize_t read(int fd, void *buf, size_t count) */
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  /** long sysconf(int name) */
  sysconf: { parameters: ["i32"], result: "i64" },
  /** FILE *fopen(const char *path, const char *mode) */
  fopen: { parameters: ["buffer", "buffer"], result: "pointer" },
  /** int setvbuf(FILE *stream, char *buf, int mode, size_t size) */
  setvbuf: { parameters: ["pointer", "pointer", "i32", "usize"], result: "i32" },
  /** int fclose(FILE *stream) */
  fclose: { parameters: ["pointer"], result: "i32" },
  /** int open(const char *pathname, int flags) — awaited, off the main thread (a FIFO's open
   *  waits for a writer) */
  open_async: { name: "open", parameters: ["buffer", "i32"], result: "i32", nonblocking: true },
  /** ssize_t read(int fd, void *buf, size_t count) — awaited, off the main thread */
  read_async: {
    name: "read",
    parameters: ["i32", "buffer", "usize"],
    result: "isize",
    nonblocking: true,
  },
  /** off_t lseek(int fd, off_t offset, int whence) */
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  /** long ftell(FILE *stream) */
  ftell: { parameters: ["pointer"], result: "i64" },
  /** FILE *fdopen(int fd, const char *mode) */
  fdopen: { parameters: ["i32", "buffer"], result: "pointer" },
  /** void *memcpy(void *dest, const void *src, size_t n) — the source address and the count as
   *  BigInt (u64): Deno's fast call; a number there, or UnsafePointerView.copyInto, takes about
   *  200 ns a call instead of about 25 */
  memcpy: { parameters: ["buffer", "u64", "u64"], result: "void" },
  /** int sched_setscheduler(pid_t pid, int policy, const struct sched_param *param) (Linux;
   *  pid 0: the calling thread) */
  sched_setscheduler: { parameters: ["i32", "i32", "buffer"], result: "i32", optional: true },
  /** int setpriority(int which, id_t who, int prio) (Linux: who 0, the calling thread) */
  setpriority: { parameters: ["i32", "u32", "i32"], result: "i32" },
  /** char *getenv(const char *name) */
  getenv: { parameters: ["buffer"], result: "pointer" },
  // The C library's ways to make a `FILE *` from read callbacks (one or the other exists).
  /** FILE *fopencookie(void *cookie, const char *mode, cookie_io_functions_t io_funcs) (glibc,
   *  musl); io_funcs is { read, write, seek, close }, passed by value */
  fopencookie: {
    parameters: ["pointer", "buffer", { struct: ["pointer", "pointer", "pointer", "pointer"] }],
    result: "pointer",
    optional: true,
  },
  /** FILE *funopen(const void *cookie, int (*readfn)(void *, char *, int),
   *    int (*writefn)(void *, const char *, int), fpos_t (*seekfn)(void *, fpos_t, int),
   *    int (*closefn)(void *)) (macOS, BSD) */
  funopen: {
    parameters: ["pointer", "function", "pointer", "pointer", "pointer"],
    result: "pointer",
    optional: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

let loaded: Libc | undefined;

function libc(): Libc {
  if (loaded) return loaded;
  const names = Deno.build.os === "darwin" ? ["libSystem.B.dylib"] : ["libc.so.6", "libc.so"];
  for (const name of names) {
    try {
      loaded = Deno.dlopen(name, LIBC_SYMBOLS).symbols;
      return loaded;
    } catch {
      // Try the next name.
    }
  }
  throw new Error(`Cannot load the C library (tried ${names.map((n) => `'${n}'`).join(", ")})`);
}

const POLLIN = 0x1;

/**
 * Makes the calling thread yield to every other (Linux: `SCHED_IDLE`, else the lowest nice
 * value): the output worker then runs only on what the capture leaves of the CPU, even when
 * both are pinned to one core. False when neither could be set (other systems).
 *
 * @example
 * ```ts
 * lowerThreadPriority(); // first thing in the output worker
 * ```
 */
export function lowerThreadPriority(): boolean {
  if (Deno.build.os !== "linux") return false;
  try {
    const c = libc();
    const SCHED_IDLE = 5;
    if (c.sched_setscheduler && c.sched_setscheduler(0, SCHED_IDLE, new Int32Array(1)) === 0) {
      return true;
    }
    const PRIO_PROCESS = 0;
    return c.setpriority(PRIO_PROCESS, 0, 19) === 0;
  } catch {
    return false;
  }
}

/**
 * Waits, without blocking JavaScript, until a file descriptor is readable, a timeout passes or
 * {@link wake} is called.
 *
 * @example
 * ```ts
 * using waiter = new Waiter(pcap.selectableFd);
 * await waiter.wait(1000);
 * ```
 */
export class Waiter {
  readonly #lib = libc();
  // struct pollfd { int fd; short events; short revents; } × 2: the watched fd, the wake pipe
  readonly #fds = new Int32Array(4);
  readonly #pipe = new Int32Array(2);
  /** The wake pipe's struct pollfd alone. */
  readonly #wakeFds = new Int32Array(this.#fds.buffer, 8, 2);
  #open = true;

  /** Watches `fd` for readability. */
  constructor(fd: number) {
    if (this.#lib.pipe(this.#pipe) !== 0) throw new Error("Cannot create a pipe");
    const shorts = new Int16Array(this.#fds.buffer);
    this.#fds[0] = fd;
    shorts[2] = POLLIN;
    this.#fds[2] = this.#pipe[0];
    shorts[6] = POLLIN;
  }

  /** Resolves when the fd is readable, after `timeoutMs`, or once {@link wake} was called. */
  async wait(timeoutMs: number): Promise<void> {
    if (!this.#open) return;
    await this.#lib.poll(this.#fds, 2n, timeoutMs);
  }

  /**
   * Resolves after `timeoutMs`, or once {@link wake} was called, whatever the fd does. Cheaper
   * than a timer plus an abort listener (about 170 µs of CPU per wait against 280 µs here).
   */
  async sleep(timeoutMs: number): Promise<void> {
    if (!this.#open) return;
    await this.#lib.poll(this.#wakeFds, 1n, timeoutMs);
  }

  /** Makes the current and every later {@link wait} and {@link sleep} return at once. */
  wake(): void {
    if (this.#open) this.#lib.write(this.#pipe[1], new Uint8Array(1), 1n);
  }

  /** Closes the wake pipe; call only when no {@link wait} is pending. Idempotent. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#lib.close(this.#pipe[0]);
    this.#lib.close(this.#pipe[1]);
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Reads a small file through libc (Deno's permissions keep `/proc/self` out of reach). */
function readSmallFile(path: string): string | undefined {
  const lib = libc();
  const O_RDONLY = 0;
  const fd = lib.open(new TextEncoder().encode(path + "\0"), O_RDONLY);
  if (fd < 0) return undefined;
  try {
    const buffer = new Uint8Array(4096);
    const n = Number(lib.read(fd, buffer, BigInt(buffer.length)));
    return n > 0 ? new TextDecoder().decode(buffer.subarray(0, n)) : undefined;
  } finally {
    lib.close(fd);
  }
}

/** BigInt byte counts, made once each up to this length. */
const COUNTS = Array.from({ length: 2049 }, (_, i) => BigInt(i));

/**
 * Where a C stream (`FILE *`) is in its file, in bytes, or undefined when it cannot say.
 *
 * @example
 * ```ts
 * streamOffset(file); // 1048576
 * ```
 */
export function streamOffset(file: Deno.PointerObject): number | undefined {
  const offset = Number(libc().ftell(file));
  return offset >= 0 ? offset : undefined;
}

/**
 * Copies `destination.length` bytes from the C memory at `address` into `destination`: one fast
 * FFI call, no allocation up to 2048 bytes.
 *
 * @example
 * ```ts
 * copyFromAddress(frame, dataAddress); // frame: a Uint8Array of the packet's length
 * ```
 */
export function copyFromAddress(destination: Uint8Array, address: bigint): void {
  const n = destination.length;
  libc().memcpy(destination, address, n < COUNTS.length ? COUNTS[n] : BigInt(n));
}

/**
 * Milliseconds since this process started (Linux: from `/proc`, to 10 ms), or `undefined` where
 * that is unknown. `performance.now()` starts only once the runtime is up, tens of
 * milliseconds later.
 *
 * @example
 * ```ts
 * const age = processAgeMs() ?? performance.now();
 * ```
 */
export function processAgeMs(): number | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    const stat = readSmallFile("/proc/self/stat");
    const uptime = readSmallFile("/proc/uptime");
    if (!stat || !uptime) return undefined;
    // Field 22, starttime, in clock ticks since boot; the fields after "(comm)" start at 3.
    const startTicks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    const _SC_CLK_TCK = 2;
    const ticksPerSecond = Number(libc().sysconf(_SC_CLK_TCK));
    const age = (Number(uptime.split(" ")[0]) - startTicks / ticksPerSecond) * 1000;
    return Number.isFinite(age) && age >= 0 ? age : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The raw bytes of an environment variable, whatever their encoding (Deno reads only UTF-8
 * values), or undefined when it is unset or the C library cannot be loaded.
 *
 * @example
 * ```ts
 * const secret = environmentBytes("PULSO_SECRET");
 * ```
 */
export function environmentBytes(name: string): Uint8Array | undefined {
  let lib: Libc;
  try {
    lib = libc();
  } catch {
    return undefined;
  }
  const value = lib.getenv(encoder.encode(name + "\0"));
  if (!value) return undefined;
  const view = new Deno.UnsafePointerView(value);
  let length = 0;
  while (view.getUint8(length) !== 0) length++;
  const bytes = new Uint8Array(length);
  if (length > 0) view.copyInto(bytes);
  return bytes;
}

/** setvbuf's full buffering mode (0 in glibc, musl and macOS alike). */
const IOFBF = 0;

const encoder = new TextEncoder();

/**
 * Opens `path` for reading as a C stream that reads through `buffer`, or returns null when it
 * cannot (the C library or the file). libpcap reads a file through the stdio buffer of its
 * stream, 4 KiB by default: one `read(2)` per 4 KiB, 50 000 of them for 200 MB. `buffer` must
 * stay referenced until the stream is closed. Hand the stream to `pcap_fopen_offline`, which
 * closes it with the handle; else close it with {@link closeFile}.
 *
 * @example
 * ```ts
 * const buffer = new Uint8Array(1 << 16);
 * const file = openBufferedFile("capture.pcap", buffer);
 * ```
 */
export function openBufferedFile(path: string, buffer: Uint8Array): Deno.PointerObject | null {
  let lib: Libc;
  try {
    lib = libc();
  } catch {
    return null;
  }
  const file = lib.fopen(encoder.encode(path + "\0"), encoder.encode("rb\0"));
  if (!file) return null;
  // Before any read, as the C standard asks; should it fail, the default buffer stays. (glibc
  // ignores the size unless it is given the buffer too.)
  lib.setvbuf(file, Deno.UnsafePointer.of(buffer), IOFBF, BigInt(buffer.length));
  return file;
}

/**
 * Whether the open file descriptor `fd` can seek: a regular file (or a device), which never
 * makes a reader wait, unlike a pipe, a FIFO, a terminal or a socket. False when unsure.
 *
 * @example
 * ```ts
 * const stdinIsAFile = isSeekable(0);
 * ```
 */
export function isSeekable(fd: number): boolean {
  try {
    const SEEK_CUR = 1;
    return libc().lseek(fd, 0n, SEEK_CUR) >= 0n;
  } catch {
    return false;
  }
}

/**
 * A file opened by the C library rather than by Deno: for paths that Deno's permissions keep
 * out of reach whatever `--allow-read` says (`/dev/stdin`, `/dev/fd/N` of a shell's process
 * substitution). Opened off the main thread (a FIFO's open waits for its writer), read off it.
 *
 * @example
 * ```ts
 * const file = await Descriptor.open("/dev/fd/63");
 * if (file && !file.seekable) await file.read(new Uint8Array(65536));
 * ```
 */
export class Descriptor {
  readonly #lib: Libc;
  #fd: number;

  private constructor(lib: Libc, fd: number) {
    this.#lib = lib;
    this.#fd = fd;
  }

  /** Opens `path` for reading; null when it cannot (the C library gives no reason here). */
  static async open(path: string): Promise<Descriptor | null> {
    const lib = libc();
    const O_CLOEXEC = Deno.build.os === "darwin" ? 0x1000000 : 0x80000;
    const fd = await lib.open_async(encoder.encode(path + "\0"), O_CLOEXEC);
    return fd < 0 ? null : new Descriptor(lib, fd);
  }

  /** Whether it can seek: a regular file (or a device) that never makes a reader wait. */
  get seekable(): boolean {
    return this.#fd >= 0 && isSeekable(this.#fd);
  }

  /** Reads into `p`: the count, or null at end of file. Rejects on a read error. */
  async read(p: Uint8Array): Promise<number | null> {
    if (this.#fd < 0) throw new Error("The file is closed");
    const n = Number(await this.#lib.read_async(this.#fd, p, BigInt(p.length)));
    if (n < 0) throw new Error("Input/output error");
    return n === 0 ? null : n;
  }

  /**
   * Hands the descriptor over as a C stream reading through `buffer` (kept referenced until
   * the stream is closed), or null when it cannot; this object then no longer owns it.
   */
  toFile(buffer: Uint8Array): Deno.PointerObject | null {
    const file = this.#lib.fdopen(this.#fd, encoder.encode("rb\0"));
    if (!file) return null;
    this.#fd = -1;
    this.#lib.setvbuf(file, Deno.UnsafePointer.of(buffer), IOFBF, BigInt(buffer.length));
    return file;
  }

  /** Closes the descriptor unless it was handed over; idempotent. */
  close(): void {
    if (this.#fd >= 0) this.#lib.close(this.#fd);
    this.#fd = -1;
  }
}

/** Closes a stream from {@link openBufferedFile} that was not handed over. */
export function closeFile(file: Deno.PointerObject): void {
  libc().fclose(file);
}

/** Whether {@link FedStream} works here (a C library with `fopencookie` or `funopen`). */
export function canFeedStreams(): boolean {
  if (Deno.build.os === "windows") return false;
  try {
    const lib = libc();
    return lib.fopencookie !== null || lib.funopen !== null;
  } catch {
    return false;
  }
}

/**
 * A C stream (`FILE *`) whose bytes JavaScript hands over with {@link push}: C's reads are served
 * from what was pushed, synchronously, on the thread that reads. Only what was pushed can be
 * read; a read past it before {@link end} is a caller's error: it fails (C sees a read error)
 * and {@link starved} tells. Hand {@link file} to a reader that closes it (such as
 * `pcap_fopen_offline`), then {@link close} this object. The calls that read it are plain FFI
 * calls: Deno lets them re-enter JavaScript.
 *
 * @example
 * ```ts
 * using stream = new FedStream();
 * stream.push(bytes);
 * stream.end();
 * // pcap_fopen_offline(stream.file, errbuf) …
 * ```
 */
export class FedStream {
  readonly #chunks: Uint8Array[] = [];
  /** Bytes of the first chunk already read. */
  #offset = 0;
  #buffered = 0;
  #ended = false;
  #starved = false;
  #consumed = 0;
  #open = true;
  /** Whether a reader took the C stream (and closes it). */
  #handedOver = false;
  readonly #callback: { readonly pointer: Deno.PointerObject; close(): void };
  /** The C stream. */
  readonly file: Deno.PointerObject;

  /** Makes the C stream; throws when the C library has no way to. */
  constructor() {
    const lib = libc();
    if (lib.fopencookie) {
      this.#callback = new Deno.UnsafeCallback(
        { parameters: ["pointer", "pointer", "usize"], result: "isize" } as const,
        (_cookie, buf, size) => BigInt(this.#read(buf, Number(size))),
      );
      const functions = new BigUint64Array(4);
      functions[0] = BigInt(Deno.UnsafePointer.value(this.#callback.pointer));
      const file = lib.fopencookie(null, encoder.encode("r\0"), new Uint8Array(functions.buffer));
      if (!file) throw new Error("Cannot make a C stream (fopencookie)");
      this.file = file;
    } else if (lib.funopen) {
      this.#callback = new Deno.UnsafeCallback(
        { parameters: ["pointer", "pointer", "i32"], result: "i32" } as const,
        (_cookie, buf, size) => this.#read(buf, size),
      );
      const file = lib.funopen(null, this.#callback.pointer, null, null, null);
      if (!file) throw new Error("Cannot make a C stream (funopen)");
      this.file = file;
    } else {
      throw new Error("The C library has neither fopencookie nor funopen");
    }
  }

  /** Marks the C stream as taken by a reader that closes it (such as `pcap_fopen_offline`). */
  handOver(): void {
    this.#handedOver = true;
  }

  /** Bytes pushed and not yet read by C. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Bytes read by C so far. */
  get consumed(): number {
    return this.#consumed;
  }

  /** Whether C tried to read past what was pushed before the end. */
  get starved(): boolean {
    return this.#starved;
  }

  /** Appends bytes for C to read (kept by reference: do not reuse `bytes`). */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#chunks.push(bytes);
    this.#buffered += bytes.length;
  }

  /** No more bytes will come: C's reads past them meet end of file. */
  end(): void {
    this.#ended = true;
  }

  #read(buf: Deno.PointerValue, size: number): number {
    if (this.#buffered === 0) {
      if (this.#ended) return 0;
      this.#starved = true;
      return -1;
    }
    if (!buf || size <= 0) return 0;
    const n = Math.min(size, this.#buffered);
    const target = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(buf, n));
    let done = 0;
    while (done < n) {
      const chunk = this.#chunks[0];
      const take = Math.min(n - done, chunk.length - this.#offset);
      target.set(chunk.subarray(this.#offset, this.#offset + take), done);
      done += take;
      this.#offset += take;
      if (this.#offset === chunk.length) {
        this.#chunks.shift();
        this.#offset = 0;
      }
    }
    this.#buffered -= n;
    this.#consumed += n;
    return n;
  }

  /**
   * Releases the read callback, once the reader closed the C stream; closes the stream first
   * when no reader took it. Idempotent.
   */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    if (!this.#handedOver) libc().fclose(this.file);
    this.#chunks.length = 0;
    this.#buffered = 0;
    this.#callback.close();
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
