/**
 * A loss is never silent: when the kernel drops packets that pulso could not take in time, a
 * warning says so at the default log level, as it happens and at the end.
 */
import assert from "node:assert/strict";
import { buildSynFlood, have, inNamespace, PULSO_COMMAND } from "./_pulso.ts";

const root = Deno.uid?.() === 0;

Deno.test({
  name: "drops are reported at the default log level: once as they happen, and at the end",
  ignore: !root || !have("unshare") || !have("ip") || !have("gcc"),
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      await buildSynFlood(dir);
      // pulso is stopped (SIGSTOP) while 100 000 SYNs flood a private lo: its 8 MiB buffer holds
      // about 28 000 of them.
      const script = `
        set -e
        ip link set lo up
        ${PULSO_COMMAND} -d lo --no-hash -f 'tcp dst port 9999' > out 2> err &
        P=$!
        for i in $(seq 50); do grep -q . err 2>/dev/null && break; sleep 0.1; done
        sleep 1
        kill -STOP $P
        ${dir}/syn_flood lo 0 0.5 16 9999 > /dev/null
        sleep 0.3
        kill -CONT $P
        sleep 1
        ${dir}/syn_flood lo 1000 0.2 16 9999 > /dev/null
        sleep 0.5
        kill -INT $P
        wait $P
        cat err
      `;
      const out = await inNamespace(script, dir);
      const stderr = out.stdout;
      assert.equal(out.code, 0, stderr + out.stderr);
      const lines = stderr.trimEnd().split("\n");
      assert.equal(lines.length, 2, stderr);
      assert.match(
        lines[0],
        /^\[WARN pulso\] Packets are being dropped \(\d+ by the kernel, 0 by the interface so far\): pulso is not keeping up, and its counts will be short$/,
      );
      const end = lines[1].match(
        /^\[WARN pulso\] (\d+) packets received by filter, (\d+) dropped by kernel, 0 dropped by interface: the digest is short of them$/,
      );
      assert.ok(end, lines[1]);
      assert.ok(Number(end[2]) > 10_000, lines[1]);
      const digest = await Deno.readTextFile(`${dir}/out`);
      const counted = digest.split("\n").filter(Boolean)
        .reduce((n, line) => n + Number(line.split(" ")[0].split(":")[1]), 0);
      assert.equal(counted + Number(end[2]), Number(end[1]), "counted + dropped = received");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
