/**
 * How long a live capture waits between two drains of the kernel's buffer.
 *
 * Every wait costs CPU (waking a thread costs tens of microseconds on a virtual machine, and an
 * event-loop turn more), so while packets keep coming pulso waits as long as the buffer allows:
 * long enough for {@link PACER.packets} packets at the rate just seen, never longer than it takes
 * {@link PACER.ringShare} of the buffer to fill at the highest rate seen lately (which fades by
 * half in {@link PACER.peakHalfLifeMs}), and between {@link PACER.minMs} and {@link PACER.maxMs}.
 * So a burst, a rising ramp or the next pulse of an on/off flood finds the buffer with room for
 * four times the fastest rate lately: the buffer overflows only if the rate jumps past that
 * within one wait. The first wait after `poll(2)` returns, when no rate is known yet (a flood may
 * just have begun, at any rate), is the shortest. After {@link PACER.idleWaits} waits without a
 * packet, pulso goes back to `poll(2)`, which costs nothing while idle.
 *
 * Pure: the capture loop tells it what each drain found and when.
 *
 * @module
 */

/** The pacing's constants. */
export const PACER = {
  /** Shortest and longest waits between drains, in milliseconds. */
  minMs: 5,
  maxMs: 100,
  /** Packets to let the buffer gather between two drains under load. */
  packets: 8192,
  /** The share of the buffer that may fill between two drains at the highest rate lately. */
  ringShare: 1 / 4,
  /**
   * The bytes a packet takes in the kernel's buffer besides its own: TPACKET_V3's frame header
   * and link address, aligned.
   */
  overhead: 80,
  /** Copies the kernel stores per packet seen: on `lo` also the outgoing one libpcap skips. */
  copies: 2,
  /** Waits in a row without a packet before going back to `poll(2)`. */
  idleWaits: 3,
  /** How fast the highest rate seen fades from the bound on waits: by half in this time. */
  peakHalfLifeMs: 10_000,
} as const;

/** {@link DrainPacer.next}'s answer for "wait in `poll(2)`". */
export const POLL = -1;

/**
 * Decides each wait of a live capture from what the drains found.
 *
 * @example
 * ```ts
 * const pacer = new DrainPacer(8 * 1024 * 1024);
 * const ms = pacer.next(performance.now(), packets, bytes); // after each drain
 * if (ms === POLL) await waiter.wait(500); else await waiter.sleep(ms);
 * ```
 */
export class DrainPacer {
  readonly #budget: number;
  #busy = 0;
  #waitMs: number = PACER.minMs;
  #since: number | undefined;
  #polled = true;
  /** The highest rate into the buffer seen lately, in bytes per millisecond. */
  #peak = 0;
  #peakAt = 0;

  /** @param ringBytes the size of the kernel's buffer */
  constructor(ringBytes: number) {
    this.#budget = ringBytes * PACER.ringShare;
  }

  /** The highest rate into the buffer seen lately (faded to `now`), in bytes per millisecond. */
  peak(now: number): number {
    return this.#peak * 0.5 ** ((now - this.#peakAt) / PACER.peakHalfLifeMs);
  }

  /**
   * A drain ended at `now` (ms) having read `packets` packets of `bytes` captured bytes since
   * the previous one ended: the next wait in milliseconds, or {@link POLL}.
   */
  next(now: number, packets: number, bytes: number): number {
    const since = this.#since ?? now;
    this.#since = now;
    if (packets > 0) {
      this.#busy = PACER.idleWaits;
      if (this.#polled) {
        // The time in poll(2) says nothing of the rate.
        this.#waitMs = PACER.minMs;
      } else {
        const elapsed = Math.max(now - since, 1);
        const byCount = PACER.packets / (packets / elapsed);
        const rate = PACER.copies * (bytes + packets * PACER.overhead) / elapsed;
        this.#peak = Math.max(rate, this.peak(now));
        this.#peakAt = now;
        const bySize = this.#budget / this.#peak;
        // Rounded down: the bound holds.
        this.#waitMs = Math.min(
          PACER.maxMs,
          Math.max(PACER.minMs, Math.floor(Math.min(byCount, bySize))),
        );
      }
    }
    this.#polled = this.#busy <= 0;
    return this.#busy-- > 0 ? this.#waitMs : POLL;
  }
}
