/**
 * Writes flood captures for the bounded-memory benchmark: deterministic pcap files of Ethernet
 * SYN frames (a quarter IPv6).
 *
 * Usage:
 *   deno run --allow-write gen_flood.ts OUT.pcap FRAMES SOURCES [HEAVY]
 *     a spoofed SYN flood to port 80: every one of SOURCES sources once, then random ones,
 *     among them HEAVY sources sending 1000 SYNs each to port 443, spread through the file;
 *   deno run --allow-write gen_flood.ts --fill OUT.pcap SOURCES PORTS
 *     the worst case for the bounds: SOURCES sources, each to PORTS distinct ports, the ports
 *     of a source in rising order, sources interleaved.
 *
 * @module
 */
import { PcapWriter, prng } from "./gen_workload.ts";

/** Writes SYN frames, one per `next()` call, until it returns undefined. */
function write(path: string, next: () => [source: number, port: number] | undefined): void {
  const random = prng(0xf100d);
  const out = new PcapWriter(path);
  try {
    const { chunk, view } = out;
    let seconds = 1_700_000_000, micros = 0;
    for (let event = next(); event !== undefined; event = next()) {
      const [source, port] = event;
      const v6 = source % 4 === 3;
      const length = 14 + (v6 ? 40 : 20) + 20;
      micros += 1;
      if (micros >= 1_000_000) {
        seconds++;
        micros = 0;
      }
      const f = out.record(seconds, micros, length);
      chunk.set([0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02], f);
      view.setUint16(f + 12, v6 ? 0x86dd : 0x0800);
      const ip = f + 14;
      let tcp: number;
      if (v6) {
        view.setUint32(ip, 0x60000000);
        view.setUint16(ip + 4, 20);
        chunk[ip + 6] = 6;
        chunk[ip + 7] = 64;
        view.setUint32(ip + 8, 0xfd0000be);
        view.setUint32(ip + 16, source >>> 16);
        view.setUint32(ip + 20, source & 0xffff);
        view.setUint32(ip + 24, 0xfd00cafe);
        view.setUint32(ip + 36, 1);
        tcp = ip + 40;
      } else {
        chunk[ip] = 0x45;
        view.setUint16(ip + 2, 40);
        chunk[ip + 8] = 64;
        chunk[ip + 9] = 6;
        // Sources from 16.0.0.0 up: 2^28 of them before the address space runs out.
        view.setUint32(ip + 12, 0x10000000 + source);
        view.setUint32(ip + 16, 0xc0000201);
        tcp = ip + 20;
      }
      view.setUint16(tcp, 1024 + (random() % 64000));
      view.setUint16(tcp + 2, port);
      view.setUint32(tcp + 4, random());
      chunk[tcp + 12] = 5 << 4;
      chunk[tcp + 13] = 0x02;
      view.setUint16(tcp + 14, 64240);
    }
  } finally {
    out.close();
  }
}

/** A spoofed flood: see the module's usage. */
export function flood(path: string, frames: number, sources: number, heavy = 0): void {
  const random = prng(0x5eed);
  const heavyLeft = new Array(heavy).fill(1000);
  let heavyFrames = heavy * 1000;
  let n = 0;
  // A permutation of the light sources for the first pass: i * odd step mod a power of two.
  let size = 1;
  while (size < sources) size *= 2;
  let pass = 0;
  write(path, () => {
    if (n++ >= frames) return undefined;
    const left = frames - n + 1;
    if (heavyFrames > 0 && random() % left < heavyFrames) {
      let h = random() % heavy;
      while (heavyLeft[h] === 0) h = (h + 1) % heavy;
      heavyLeft[h]--;
      heavyFrames--;
      return [h, 443];
    }
    let light: number;
    if (pass < size) {
      do light = Math.imul(pass++, 0x9e3779b1) & (size - 1); while (
        light >= sources && pass < size
      );
      if (light >= sources) light = random() % sources;
    } else {
      light = random() % sources;
    }
    return [heavy + light, 80];
  });
}

/** The worst case for the bounds: see the module's usage. */
export function fill(path: string, sources: number, ports: number): void {
  let n = 0;
  write(path, () => {
    if (n >= sources * ports) return undefined;
    const source = n % sources;
    const port = 1 + Math.floor(n / sources);
    n++;
    return [source, port];
  });
}

if (import.meta.main) {
  const args = Deno.args;
  if (args[0] === "--fill") fill(args[1], Number(args[2]), Number(args[3]));
  else flood(args[0], Number(args[1]), Number(args[2]), Number(args[3] ?? 0));
}
