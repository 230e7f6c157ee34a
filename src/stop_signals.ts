/**
 * The signals that stop a capture (SIGINT, SIGTERM and SIGHUP; SIGINT alone on Windows),
 * listened to from the moment this module is evaluated. The command imports it before anything
 * else, so that a signal that comes while pulso is still starting stops it cleanly (digest,
 * exit status 0) instead of killing it. What comes before Deno runs any JavaScript at all (some
 * 15 to 20 ms after exec on a small virtual machine) no JavaScript can catch.
 *
 * @module
 */

/** The signals that stop pulso. */
export const STOP_SIGNALS: readonly Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT"]
  : ["SIGINT", "SIGTERM", "SIGHUP"];

const controller = new AbortController();
let received: Deno.Signal | undefined;

for (const signal of STOP_SIGNALS) {
  Deno.addSignalListener(signal, () => {
    received ??= signal;
    controller.abort();
  });
}

/**
 * Aborted by the first stop signal.
 *
 * @example
 * ```ts
 * stopSignal.addEventListener("abort", () => console.error(`stopping on ${receivedSignal()}`));
 * ```
 */
export const stopSignal: AbortSignal = controller.signal;

/** The first stop signal received, if any. */
export function receivedSignal(): Deno.Signal | undefined {
  return received;
}
