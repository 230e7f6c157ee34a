import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("./_output_worker_run.ts", import.meta.url));

async function run(secret?: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--no-prompt", "--allow-ffi", "--allow-read", SCRIPT].concat(
      secret === undefined ? [] : [secret],
    ),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  return { stdout: new TextDecoder().decode(output.stdout), report: JSON.parse(stderr) };
}

Deno.test("the output worker writes the windows, off the capture's thread", async () => {
  const { stdout, report } = await run();
  // The edge returned before the window was written: the capture's thread did not write it.
  assert.equal(report.writtenAtEdge, 0);
  assert.equal(report.writtenAtEnd, 2);
  assert.equal(report.last.published, true);
  assert.equal(report.last.distinctSources, 1);
  const lines = stdout.split("\n");
  assert.equal(
    lines[0],
    "# 1970-01-01T00:00:01.000Z 1970-01-01T00:00:02.000Z connections=20002 sources=20001 malformed=0",
  );
  assert.equal(lines[1], "10.0.0.1:2 443:2");
  assert.equal(lines.length, 1 + 20_001 + 1 + 1 + 1);
  assert.equal(
    lines.at(-3),
    "# 1970-01-01T00:00:02.000Z 1970-01-01T00:00:02.500Z connections=1 sources=1 malformed=0",
  );
  assert.equal(lines.at(-2), "10.0.0.2:1 22:1");
});

Deno.test("the output worker names sources by their keyed hash, as the capture's thread did", async () => {
  const { stdout } = await run("s3cret");
  const { KeyedHasher } = await import("../src/keyed_hash.ts");
  const hasher = await KeyedHasher.create("s3cret");
  assert.equal(stdout.split("\n")[1], `${hasher.hash(new Uint8Array([10, 0, 0, 1]))}:2 443:2`);
  assert.ok(!stdout.includes("10.0.0."), "no address in clear");
});
