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

/** Closes a stream from {@link openBufferedFile} that was not handed over. */
export function closeFile(file: Deno.PointerObject): void {
  libc().fclose(file);
}
