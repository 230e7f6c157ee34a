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

  /** Makes the current and every later {@link wait} return at once. */
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
