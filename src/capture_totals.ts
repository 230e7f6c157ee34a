/**
 * Monotonic totals of libpcap's statistics, whose counters are 32-bit and wrap. Pure: no I/O.
 *
 * @module
 */

/** One reading of libpcap's `pcap_stats`: unsigned 32-bit counters, which wrap to 0. */
export interface CaptureSample {
  /** `ps_recv`: packets received. */
  received: number;
  /** `ps_drop`: packets dropped for lack of buffer space. */
  dropped: number;
  /** `ps_ifdrop`: packets dropped by the interface or its driver. */
  ifDropped: number;
}

const WRAP = 2 ** 32;

/** The increase from `previous` to `current`, two readings of a 32-bit counter, modulo 2^32. */
function delta(previous: number, current: number): number {
  return (current - previous + WRAP) % WRAP;
}

/**
 * Totals of libpcap's statistics since the first sample, kept monotonic across the wraps of its
 * 32-bit counters: each sample adds its increase over the previous one, modulo 2^32. A wrap
 * between two samples is counted right as long as a counter grows by less than 2^32 between
 * them (sample at least every few minutes: 2^32 packets take over 7 minutes at 10 million per
 * second). The first sample gives the starting totals as they are.
 *
 * @example
 * ```ts
 * const totals = new CaptureTotals();
 * totals.update({ received: 4294967290, dropped: 0, ifDropped: 0 });
 * totals.update({ received: 4, dropped: 0, ifDropped: 0 }); // wrapped
 * totals.received; // 4294967300
 * ```
 */
export class CaptureTotals {
  #last: CaptureSample | undefined;
  #received = 0;
  #dropped = 0;
  #ifDropped = 0;

  /** Packets received, since the capture opened. */
  get received(): number {
    return this.#received;
  }

  /** Packets dropped for lack of buffer space, since the capture opened. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Packets dropped by the interface or its driver, since the capture opened. */
  get ifDropped(): number {
    return this.#ifDropped;
  }

  /** Whether a sample has been taken. */
  get sampled(): boolean {
    return this.#last !== undefined;
  }

  /**
   * Adds a sample of libpcap's counters.
   *
   * @param sample the raw counters, each a whole number from 0 to 2^32 - 1
   * @throws {RangeError} when a counter is not such a number
   *
   * @example
   * ```ts
   * totals.update({ received: stats.ps_recv, dropped: stats.ps_drop, ifDropped: stats.ps_ifdrop });
   * ```
   */
  update(sample: Readonly<CaptureSample>): void {
    check(sample.received, "received");
    check(sample.dropped, "dropped");
    check(sample.ifDropped, "ifDropped");
    const last = this.#last;
    if (last === undefined) {
      this.#received = sample.received;
      this.#dropped = sample.dropped;
      this.#ifDropped = sample.ifDropped;
    } else {
      this.#received += delta(last.received, sample.received);
      this.#dropped += delta(last.dropped, sample.dropped);
      this.#ifDropped += delta(last.ifDropped, sample.ifDropped);
    }
    this.#last = {
      received: sample.received,
      dropped: sample.dropped,
      ifDropped: sample.ifDropped,
    };
  }

  /**
   * The totals, as a plain object (for a metrics snapshot).
   *
   * @example
   * ```ts
   * totals.snapshot(); // { received: 4294967300, dropped: 0, ifDropped: 0 }
   * ```
   */
  snapshot(): CaptureSample {
    return { received: this.#received, dropped: this.#dropped, ifDropped: this.#ifDropped };
  }
}

function check(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0 || value >= WRAP) {
    throw new RangeError(
      `Invalid libpcap counter ${name} '${value}' (expected a whole number from 0 to 2^32 - 1)`,
    );
  }
}
