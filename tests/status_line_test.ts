/**
 * The status line as a user sees it: on a terminal's stderr (a pseudo-terminal made by
 * `script`), refreshed in place and cleared at exit; never when stderr is not a terminal, or
 * when logging is at info.
 */
import assert from "node:assert/strict";
import { PcapWriter } from "../scripts/gen_workload.ts";
import { have, pulso, PULSO_COMMAND, SECRET } from "./_pulso.ts";

/** A capture of `n` SYNs from 1000 sources: long enough to read for several refreshes. */
function capture(n: number): string {
  const path = Deno.makeTempFileSync({ suffix: ".pcap" });
  const writer = new PcapWriter(path);
  for (let i = 0; i < n; i++) {
    const f = writer.record(1_800_000_000 + Math.floor(i / 1000), i % 1000, 54);
    const v = writer.view;
    v.setUint16(f + 12, 0x0800);
    v.setUint8(f + 14, 0x45);
    v.setUint16(f + 16, 40);
    v.setUint8(f + 23, 6);
    v.setUint32(f + 26, 0x0a000000 + (i % 1000));
    v.setUint16(f + 36, 80);
    v.setUint8(f + 46, 0x50);
    v.setUint8(f + 47, 0x02);
  }
  writer.close();
  return path;
}

async function onTerminal(args: string, env: Record<string, string> = {}): Promise<string> {
  const out = await new Deno.Command("script", {
    args: ["-qfec", `${PULSO_COMMAND} ${args} > /dev/null`, "/dev/null"],
    env: { PULSO_SECRET: SECRET, ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test({
  name: "the status line: on a terminal only, refreshed in place, cleared at exit",
  ignore: !have("script"),
  fn: async () => {
    const path = capture(3_000_000);
    try {
      // `--dedupe` makes the read slow enough for a few refreshes.
      const tty = await onTerminal(`-r ${path} --dedupe`);
      const draws = tty.split("\r\x1b[2K").filter((t) => t.startsWith("pulso "));
      assert.ok(draws.length >= 1, JSON.stringify(tty));
      assert.match(
        draws[0],
        /^pulso \d+\.\ds · \d+ connections · \d+ sources · \d+ SYN\/s · \d+% read/,
      );
      assert.ok(tty.trimEnd().endsWith("\r\x1b[2K"), "cleared at exit");
      const quiet = await onTerminal(`-r ${path} -c 10`, { PULSO_LOG: "info" });
      assert.doesNotMatch(quiet, /pulso \d/, "not with logging at info");
      const piped = await pulso(["-r", path, "-c", "1000"]);
      assert.equal(piped.stderr, "", "never when stderr is not a terminal");
    } finally {
      Deno.removeSync(path);
    }
  },
});
