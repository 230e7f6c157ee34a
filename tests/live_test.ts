/**
 * Live capture on the loopback device, with real connections made by the test. Needs root (or
 * CAP_NET_RAW and CAP_NET_ADMIN); skipped otherwise.
 */
import assert from "node:assert/strict";
import { connectOnce, hashOf, have, listen, pulso, sleep, spawnPulso } from "./_pulso.ts";

const root = Deno.uid() === 0;

/** Time for libpcap to hand over what it captured (its buffer timeout is 10 ms). */
const SETTLE_MS = 400;

for (const [family, host] of [["IPv4", "127.0.0.1"], ["IPv6", "::1"]] as const) {
  Deno.test({
    name: `-d lo -c 2 counts one connection to each of two ports over ${family}`,
    ignore: !root,
    fn: async () => {
      using a = listen(host);
      using b = listen(host);
      const live = await spawnPulso(["-d", "lo", "-c", "2"]);
      await connectOnce(host, a.port);
      await connectOnce(host, b.port);
      const run = await live.done;
      assert.equal(run.code, 0, run.stderr);
      const [p1, p2] = [a.port, b.port].sort((x, y) => x - y);
      assert.equal(run.stdout, `${hashOf(host)}:2 ${p1}:1 ${p2}:1\n`);
    },
  });
}

// The user's filter runs apart from pulso's and in user space, compiled as for a file: a `vlan`
// in it must not use the kernel-only loads of a live handle (which fail in user space).
for (const filter of ["not vlan", "tcp or vlan"]) {
  Deno.test({
    name: `live, -f '${filter}' counts the untagged connections on lo`,
    ignore: !root,
    fn: async () => {
      using a = listen("127.0.0.1");
      const live = await spawnPulso(["-d", "lo", "-c", "2", "-f", filter]);
      await connectOnce("127.0.0.1", a.port);
      await connectOnce("127.0.0.1", a.port);
      const stop = setTimeout(() => live.child.kill("SIGTERM"), 5000);
      const run = await live.done;
      clearTimeout(stop);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, `${hashOf("127.0.0.1")}:2 ${a.port}:2\n`);
    },
  });
}

Deno.test({
  name: "-c stops at exactly N events when more arrive at once",
  ignore: !root,
  fn: async () => {
    using a = listen("127.0.0.1");
    const live = await spawnPulso(["-d", "lo", "-c", "3", "-f", `dst port ${a.port}`]);
    await Promise.all(Array.from({ length: 10 }, () => connectOnce("127.0.0.1", a.port)));
    const run = await live.done;
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `${hashOf("127.0.0.1")}:3 ${a.port}:3\n`);
  },
});

Deno.test({
  name: "-d lo -t 1 exits 0 with nothing on stdout within 1.1 s",
  ignore: !root,
  fn: async () => {
    // A port nobody connects to, so that nothing is counted whatever else runs on lo.
    const run = await pulso(["-d", "lo", "-t", "1", "-f", "dst port 9"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "");
    assert.ok(run.seconds < 1.1, `took ${run.seconds.toFixed(3)} s`);
    assert.ok(run.seconds >= 0.9, `took only ${run.seconds.toFixed(3)} s`);
  },
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test({
    name: `${signal} during a capture prints the digest and exits 0`,
    ignore: !root,
    fn: async () => {
      using a = listen("127.0.0.1");
      const live = await spawnPulso(["-d", "lo", "-f", `dst port ${a.port}`]);
      await connectOnce("127.0.0.1", a.port);
      await connectOnce("127.0.0.1", a.port);
      // At once: what the kernel still holds is drained before the digest.
      live.child.kill(signal);
      const run = await live.done;
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, `${hashOf("127.0.0.1")}:2 ${a.port}:2\n`);
    },
  });
}

Deno.test({
  name: "-d any counts each loopback connection once",
  ignore: !root,
  fn: async () => {
    using a = listen("127.0.0.1");
    using b = listen("::1");
    const live = await spawnPulso(["-d", "any", "-f", `dst port ${a.port} or dst port ${b.port}`]);
    for (let i = 0; i < 3; i++) await connectOnce("127.0.0.1", a.port);
    await connectOnce("::1", b.port);
    await sleep(SETTLE_MS);
    live.child.kill("SIGTERM");
    const run = await live.done;
    assert.equal(run.code, 0, run.stderr);
    const lines = [`${hashOf("127.0.0.1")}:3 ${a.port}:3`, `${hashOf("::1")}:1 ${b.port}:1`];
    assert.equal(run.stdout, lines.join("\n") + "\n");
    assert.match(run.stderr, /link type LINUX_SLL/);
  },
});

Deno.test({
  name: "--no-hash prints live sources in clear, IPv6 in brackets",
  ignore: !root,
  fn: async () => {
    using a = listen("::1");
    using b = listen("127.0.0.1");
    const live = await spawnPulso(
      ["-d", "lo", "--no-hash", "-c", "3", "-f", `dst port ${a.port} or dst port ${b.port}`],
      { unset: ["PULSO_SECRET"] },
    );
    await connectOnce("::1", a.port);
    await connectOnce("::1", a.port);
    await connectOnce("127.0.0.1", b.port);
    const run = await live.done;
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `[::1]:2 ${a.port}:2\n127.0.0.1:1 ${b.port}:1\n`);
  },
});

// A SYN with an IPv6 hop-by-hop options header, made by the kernel for a real connect(2): the
// socket gets the IPV6_HOPOPTS sticky option through libc.
const libc = root
  ? Deno.dlopen("libc.so.6", {
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
    connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
  })
  : undefined;

/**
 * A hop-by-hop options header of `bytes` bytes (a multiple of 8; Linux takes at most 8 options in it, so at most about 2 KiB): its next header
 * (set by the kernel), its length, then options of an unknown type that a receiver skips.
 */
function hopByHop(bytes: number): Uint8Array {
  const header = new Uint8Array(bytes);
  header[1] = bytes / 8 - 1;
  let at = 2;
  while (at < bytes) {
    const left = bytes - at;
    if (left === 1) break; // Pad1 (a zero byte)
    const length = Math.min(255, left - 2);
    header[at] = 0x1e; // experimental option type, skipped when unknown (RFC 4727)
    header[at + 1] = length;
    at += 2 + length;
  }
  return header;
}

for (const bytes of [8, 1024, 1536]) {
  Deno.test({
    name: `an IPv6 SYN carrying a ${bytes}-byte hop-by-hop header is counted live`,
    ignore: !libc,
    fn: async () => {
      const c = libc!.symbols;
      using a = listen("::1");
      // No port in the filter: libpcap's `port` does not look past extension headers.
      const live = await spawnPulso(["-d", "lo", "-c", "1", "-f", "ip6"]);
      const AF_INET6 = 10, SOCK_STREAM = 1, SOCK_NONBLOCK = 0o4000;
      const IPPROTO_IPV6 = 41, IPV6_HOPOPTS = 54;
      const fd = c.socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
      assert.ok(fd >= 0, "socket");
      try {
        const options = hopByHop(bytes);
        assert.equal(
          c.setsockopt(fd, IPPROTO_IPV6, IPV6_HOPOPTS, options, options.length),
          0,
          "setsockopt",
        );
        // struct sockaddr_in6 { family, port (network order), flowinfo, ::1, scope id }
        const address = new Uint8Array(28);
        const view = new DataView(address.buffer);
        view.setUint16(0, AF_INET6, true);
        view.setUint16(2, a.port, false);
        address[23] = 1;
        c.connect(fd, address, 28); // non-blocking: EINPROGRESS, the SYN is on its way
        const run = await live.done;
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.stdout, `${hashOf("::1")}:1 ${a.port}:1\n`);
      } finally {
        c.close(fd);
      }
    },
  });
}

Deno.test({
  name: "live equals offline: pulso --read of tcpdump's file prints the live digest",
  ignore: !root || !have("tcpdump"),
  fn: async () => {
    using a = listen("127.0.0.1");
    using b = listen("::1");
    using c = listen("127.0.0.1");
    const filter = `dst port ${a.port} or dst port ${b.port} or dst port ${c.port}`;
    const file = await Deno.makeTempFile({ suffix: ".pcap" });
    try {
      const tcpdump = new Deno.Command("tcpdump", {
        // A small snapshot length: in immediate mode each packet takes a ring slot of that size.
        args: ["-i", "lo", "--immediate-mode", "-s", "256", "-U", "-w", file, filter],
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const reader = tcpdump.stderr.getReader();
      let said = "";
      while (!said.includes("listening on")) {
        const { value, done } = await reader.read();
        if (done) break;
        said += new TextDecoder().decode(value);
      }
      const live = await spawnPulso(["-d", "lo", "-f", filter]);
      const plan: [string, number, number][] = [["127.0.0.1", a.port, 5], ["::1", b.port, 3], [
        "127.0.0.1",
        c.port,
        1,
      ]];
      for (const [host, port, n] of plan) {
        for (let i = 0; i < n; i++) await connectOnce(host, port);
      }
      await sleep(SETTLE_MS);
      live.child.kill("SIGTERM");
      tcpdump.kill("SIGINT");
      const run = await live.done;
      await tcpdump.status;
      reader.releaseLock();
      await tcpdump.stderr.cancel();
      assert.equal(run.code, 0, run.stderr);
      const offline = await pulso(["--read", file]);
      assert.equal(offline.code, 0, offline.stderr);
      assert.equal(offline.stdout, run.stdout);
      assert.equal(
        run.stdout,
        `${hashOf("127.0.0.1")}:6 ${a.port}:5 ${c.port}:1\n${hashOf("::1")}:3 ${b.port}:3\n`,
      );
    } finally {
      await Deno.remove(file);
    }
  },
});
