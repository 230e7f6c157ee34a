/**
 * Writes the benchmark workload: a deterministic pcap file of Ethernet frames, 75 % IPv4 and
 * 25 % IPv6, half of them connection attempts (SYN without ACK) and the rest SYN-ACK, ACK or
 * FIN-ACK segments, from a fixed set of sources to a handful of destination ports.
 *
 * Usage: deno run --allow-write gen_workload.ts OUT.pcap [FRAMES] [SOURCES]
 *
 * Same arguments, same bytes: the generator uses its own seeded PRNG.
 *
 * @module
 */

/** Destination ports of the servers. */
export const PORTS = [22, 25, 53, 80, 443, 3306, 5432, 8080] as const;

/** mulberry32: a small deterministic PRNG, `next()` in [0, 2^32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const SYN = 0x02, ACK = 0x10, FIN = 0x01, PSH = 0x08;

/**
 * An Ethernet pcap file (v2.4, snaplen 262144), written in 1 MiB pieces: {@link record} makes
 * room for one record and returns where its frame goes in {@link chunk}.
 */
export class PcapWriter {
  readonly chunk = new Uint8Array(1 << 20);
  readonly view = new DataView(this.chunk.buffer);
  readonly #file: Deno.FsFile;
  #used = 24;

  constructor(path: string) {
    this.#file = Deno.openSync(path, { write: true, create: true, truncate: true });
    // Global header: magic, v2.4, thiszone 0, sigfigs 0, snaplen 262144, DLT_EN10MB.
    this.view.setUint32(0, 0xa1b2c3d4, true);
    this.view.setUint16(4, 2, true);
    this.view.setUint16(6, 4, true);
    this.view.setUint32(16, 262144, true);
    this.view.setUint32(20, 1, true);
  }

  /** A record of `length` bytes at this time: its header written, its frame zeroed. */
  record(seconds: number, micros: number, length: number): number {
    if (this.#used + 16 + length > this.chunk.length) this.#flush();
    const h = this.#used;
    this.view.setUint32(h, seconds, true);
    this.view.setUint32(h + 4, micros, true);
    this.view.setUint32(h + 8, length, true);
    this.view.setUint32(h + 12, length, true);
    const f = h + 16;
    this.chunk.fill(0, f, f + length);
    this.#used = f + length;
    return f;
  }

  /** Writes what is left and closes the file. */
  close(): void {
    try {
      this.#flush();
    } finally {
      this.#file.close();
    }
  }

  #flush(): void {
    let off = 0;
    while (off < this.#used) off += this.#file.writeSync(this.chunk.subarray(off, this.#used));
    this.#used = 0;
  }
}

/** Writes `frames` frames from `sources` sources to `path`. */
export function generate(path: string, frames: number, sources: number): void {
  const v6Sources = Math.max(1, Math.round(sources / 4));
  const v4Sources = Math.max(1, sources - v6Sources);
  const random = prng(0x5eed);
  const out = new PcapWriter(path);
  try {
    const { chunk, view } = out;
    let seconds = 1_700_000_000, micros = 0;
    for (let n = 0; n < frames; n++) {
      const r = random();
      const v6 = (r & 3) === 0; // 25 %
      const syn = ((r >>> 2) & 1) === 0; // 50 %
      const kind = (r >>> 3) % 3; // for the others: SYN-ACK, ACK (with data), FIN-ACK
      const port = PORTS[(r >>> 5) % PORTS.length];
      const source = random() % (v6 ? v6Sources : v4Sources);
      const sport = 1024 + (random() % 64000);
      const flags = syn ? SYN : kind === 0 ? SYN | ACK : kind === 1 ? ACK | PSH : FIN | ACK;
      const tcpHeader = syn || kind === 0 ? 40 : 32; // MSS, SACK-perm, TS, WS / TS only
      const payload = !syn && kind === 1 ? 64 + (random() % 64) : 0;
      const ipHeader = v6 ? 40 : 20;
      const length = 14 + ipHeader + tcpHeader + payload;
      // Record header.
      micros += 1 + (random() & 7);
      if (micros >= 1_000_000) {
        seconds++;
        micros -= 1_000_000;
      }
      const f = out.record(seconds, micros, length);
      // Ethernet.
      chunk.set([0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02], f);
      view.setUint16(f + 12, v6 ? 0x86dd : 0x0800);
      const ip = f + 14;
      // The client is the source unless the server answers (SYN-ACK).
      const fromServer = !syn && kind === 0;
      let tcp: number;
      if (v6) {
        view.setUint32(ip, 0x60000000);
        view.setUint16(ip + 4, tcpHeader + payload);
        chunk[ip + 6] = 6;
        chunk[ip + 7] = 64;
        const client = ip + (fromServer ? 24 : 8);
        const server = ip + (fromServer ? 8 : 24);
        // Clients fd00:be::<n>, the server fd00:cafe::1.
        view.setUint32(client, 0xfd0000be);
        view.setUint32(client + 12, source + 1);
        view.setUint32(server, 0xfd00cafe);
        view.setUint32(server + 12, 1);
        tcp = ip + 40;
      } else {
        chunk[ip] = 0x45;
        view.setUint16(ip + 2, 20 + tcpHeader + payload);
        view.setUint16(ip + 4, n & 0xffff);
        view.setUint16(ip + 6, 0x4000); // DF
        chunk[ip + 8] = 64;
        chunk[ip + 9] = 6;
        // Clients 10.<n>, the server 192.0.2.1; the checksum is left at zero.
        const client = ip + (fromServer ? 16 : 12);
        const server = ip + (fromServer ? 12 : 16);
        view.setUint32(client, (10 << 24) | (source + 1));
        view.setUint32(server, 0xc0000201);
        tcp = ip + 20;
      }
      view.setUint16(tcp, fromServer ? port : sport);
      view.setUint16(tcp + 2, fromServer ? sport : port);
      view.setUint32(tcp + 4, random());
      if (flags & ACK) view.setUint32(tcp + 8, random());
      chunk[tcp + 12] = (tcpHeader / 4) << 4;
      chunk[tcp + 13] = flags;
      view.setUint16(tcp + 14, 64240);
      if (tcpHeader === 40) {
        // MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
        chunk.set([2, 4, 5, 180, 4, 2, 8, 10], tcp + 20);
        view.setUint32(tcp + 28, n);
        chunk.set([1, 3, 3, 7], tcp + 36);
      } else {
        // NOP, NOP, timestamps.
        chunk.set([1, 1, 8, 10], tcp + 20);
        view.setUint32(tcp + 24, n);
      }
      for (let i = 0; i < payload; i++) chunk[tcp + tcpHeader + i] = (n + i) & 0xff;
    }
  } finally {
    out.close();
  }
}

if (import.meta.main) {
  const [out, framesText = "2000000", sourcesText = "5000"] = Deno.args;
  if (!out) {
    console.error("usage: gen_workload.ts OUT.pcap [FRAMES] [SOURCES]");
    Deno.exit(2);
  }
  generate(out, Number(framesText), Number(sourcesText));
}
