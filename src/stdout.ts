/**
 * Writing to stdout and stderr: a reader that has gone (a closed pipe) is noted, not an error;
 * other write errors (a full disk) are reported once.
 *
 * @module
 */
import { systemMessage } from "./quote.ts";

const encoder = new TextEncoder();

/**
 * Writes all of `text` to a stream; false when the reader is gone (closed pipe). Other write
 * errors (a full disk) are thrown.
 *
 * @example
 * ```ts
 * writeAll(Deno.stderr, "error: …\n");
 * ```
 */
export function writeAll(stream: { writeSync(p: Uint8Array): number }, text: string): boolean {
  let bytes = encoder.encode(text);
  try {
    while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.BrokenPipe) return false;
    throw e;
  }
}

/**
 * stdout for digests: once its reader has gone, writes are dropped ({@link closed}); a write
 * that fails otherwise returns false and keeps its error's message.
 *
 * @example
 * ```ts
 * const out = new Stdout();
 * if (!out.write("10.0.0.1:1 80:1\n")) fail(out.error!);
 * ```
 */
export class Stdout {
  readonly #stream: { writeSync(p: Uint8Array): number };
  #closed = false;
  #error: string | undefined;

  /** @param stream where to write (Deno.stdout by default) */
  constructor(stream: { writeSync(p: Uint8Array): number } = Deno.stdout) {
    this.#stream = stream;
  }

  /** Whether the reader has gone (`pulso … | head -1`). */
  get closed(): boolean {
    return this.#closed;
  }

  /** The last write error, as said to the user. */
  get error(): string | undefined {
    return this.#error;
  }

  /** Writes `text`; false when it could not (not when the reader has gone). */
  write(text: string): boolean {
    try {
      if (!this.#closed && !writeAll(this.#stream, text)) this.#closed = true;
      return true;
    } catch (e) {
      this.#error = `Cannot write to stdout: ${systemMessage(e)}`;
      return false;
    }
  }
}
