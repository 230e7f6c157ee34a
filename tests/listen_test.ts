/**
 * `--listen` through the CLI: a malformed value is a usage error (2), a port in use or an
 * address that is not the machine's a runtime error (1), each one line and before any capture;
 * a file read with `--listen` serves while it reads and exits when done.
 */
import assert from "node:assert/strict";
import { CORPUS, pulso } from "./_pulso.ts";

const PC2 = `${CORPUS}lab/pc2_eth.pcap`;

Deno.test("--listen: bad values, a port in use, an address not the machine's", async () => {
  const malformed = await pulso(["-r", PC2, "--listen", "localhost"]);
  assert.equal(malformed.code, 2);
  assert.match(malformed.stderr, /^error: Invalid --listen address 'localhost'/);
  assert.equal(malformed.stdout, "");
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  const inUse = await pulso(["-r", PC2, "--listen", `127.0.0.1:${port}`]);
  assert.equal(inUse.code, 1);
  assert.equal(inUse.stderr, `error: Cannot listen on 127.0.0.1:${port}: the address is in use\n`);
  assert.equal(inUse.stdout, "", "nothing was counted");
  const foreign = await pulso(["-r", PC2, "--listen", "192.0.2.1:9464"]);
  assert.equal(foreign.code, 1);
  assert.equal(foreign.stderr.split("\n").length, 2, foreign.stderr);
  assert.match(foreign.stderr, /^error: Cannot listen on 192\.0\.2\.1:9464: /);
});

Deno.test("--listen with a file: the digest as without it, and the process ends", async () => {
  const plain = await pulso(["-r", PC2, "--no-hash"]);
  const served = await pulso(["-r", PC2, "--no-hash", "--listen", "127.0.0.1:0"]);
  assert.equal(served.code, 0, served.stderr);
  assert.equal(served.stdout, plain.stdout);
});
