/**
 * The release archives as the usual tools read them: GNU tar and gzip for the tar.gz, unzip
 * (Info-ZIP) for the zip; and the zip reader on an archive made by Info-ZIP's zip.
 */
import assert from "node:assert/strict";
import { type ArchiveEntry, tar, tarGz, unzipFile, zip } from "./archive.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** 2023-11-14 22:13:20 UTC. */
const MTIME = 1700000000;

/** A binary of several blocks, not a multiple of 512 bytes. */
const binary = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7919) & 0xff);
const ENTRIES: ArchiveEntry[] = [
  { name: "pulso", data: binary, mode: 0o755 },
  { name: "README.md", data: encoder.encode("# pulso\n"), mode: 0o644 },
  { name: "LICENSE", data: encoder.encode("licence text\n"), mode: 0o644 },
];

function have(tool: string): boolean {
  return new Deno.Command("sh", { args: ["-c", `command -v ${tool}`], stdout: "null" })
    .outputSync().success;
}

function run(cmd: string, args: string[], cwd?: string): string {
  const out = new Deno.Command(cmd, { args, cwd, env: { TZ: "UTC", LC_ALL: "C" } }).outputSync();
  assert.equal(out.code, 0, `${cmd} ${args.join(" ")}: ${decoder.decode(out.stderr)}`);
  return decoder.decode(out.stdout);
}

const missing = ["tar", "gzip", "zip", "unzip"].filter((t) => !have(t));
if (missing.length > 0) console.error(`archive tests skipped: missing ${missing.join(", ")}`);

Deno.test({
  name: "tarGz: GNU tar lists the entries in order, owned by root, dated MTIME, with their modes",
  ignore: !have("tar") || !have("gzip"),
  fn() {
    const dir = Deno.makeTempDirSync();
    try {
      Deno.writeFileSync(`${dir}/a.tar.gz`, tarGz(ENTRIES, MTIME));
      const listing = run("tar", [
        "--list",
        "--verbose",
        "--full-time",
        "--numeric-owner",
        "-zf",
        `${dir}/a.tar.gz`,
      ]);
      const rows = listing.trimEnd().split("\n").map((line) => line.split(/\s+/));
      assert.deepEqual(rows, [
        ["-rwxr-xr-x", "0/0", "5000", "2023-11-14", "22:13:20", "pulso"],
        ["-rw-r--r--", "0/0", "8", "2023-11-14", "22:13:20", "README.md"],
        ["-rw-r--r--", "0/0", "13", "2023-11-14", "22:13:20", "LICENSE"],
      ]);
      const names = run("tar", ["--list", "--verbose", "-zf", `${dir}/a.tar.gz`]);
      assert.match(names, /^-rwxr-xr-x root\/root /);
      Deno.mkdirSync(`${dir}/x`);
      run("tar", ["-xzf", `${dir}/a.tar.gz`], `${dir}/x`);
      assert.deepEqual(Deno.readFileSync(`${dir}/x/pulso`), binary);
      assert.equal(Deno.readTextFileSync(`${dir}/x/README.md`), "# pulso\n");
      assert.equal(Deno.statSync(`${dir}/x/pulso`).mode! & 0o777, 0o755);
      // gzip itself finds it sound, and the header carries no time and a fixed system byte.
      run("gzip", ["-t", `${dir}/a.tar.gz`]);
      const gz = Deno.readFileSync(`${dir}/a.tar.gz`);
      assert.deepEqual([...gz.subarray(0, 4)], [0x1f, 0x8b, 8, 0]);
      assert.deepEqual([...gz.subarray(4, 8)], [0, 0, 0, 0]);
      assert.equal(gz[9], 3);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("tar: blocks of 512 bytes, ustar magic, two zero blocks at the end", () => {
  const bytes = tar(ENTRIES, MTIME);
  // 3 headers, 10 + 1 + 1 data blocks, 2 end blocks.
  assert.equal(bytes.length, (3 + 12 + 2) * 512);
  assert.equal(decoder.decode(bytes.subarray(257, 265)), "ustar\x0000");
  assert.ok(bytes.subarray(bytes.length - 1024).every((b) => b === 0));
});

Deno.test("the archives depend only on the entries and the time", () => {
  assert.deepEqual(tarGz(ENTRIES, MTIME), tarGz(ENTRIES, MTIME));
  assert.notDeepEqual(tarGz(ENTRIES, MTIME), tarGz(ENTRIES, MTIME + 2));
  assert.deepEqual(zip(ENTRIES, MTIME), zip(ENTRIES, MTIME));
  assert.notDeepEqual(zip(ENTRIES, MTIME), zip(ENTRIES, MTIME + 2));
});

Deno.test("bad names and times are refused", () => {
  const data = new Uint8Array(1);
  for (const name of ["", "x".repeat(101), "a\nb", "é"]) {
    assert.throws(() => tar([{ name, data, mode: 0o644 }], 0), /Unsupported archive entry name/);
    assert.throws(() => zip([{ name, data, mode: 0o644 }], 0), /Unsupported archive entry name/);
  }
  assert.throws(() => tar(ENTRIES, -1), /Invalid archive time '-1'/);
  assert.throws(() => zip(ENTRIES, 1.5), /Invalid archive time '1.5'/);
});

Deno.test({
  name: "zip: unzip lists the entries in order, Unix modes, dated MTIME, and tests them sound",
  ignore: !have("unzip"),
  fn() {
    const dir = Deno.makeTempDirSync();
    try {
      Deno.writeFileSync(`${dir}/a.zip`, zip(ENTRIES, MTIME));
      // zipinfo: mode, version, system, size, type, method, date (-T: decimal), name.
      const rows = run("unzip", ["-Z", "-T", `${dir}/a.zip`]).trimEnd().split("\n")
        .filter((line) => /^-/.test(line)).map((line) => line.split(/\s+/));
      assert.deepEqual(rows.map((r) => [r[0], r[2], r[3], r[5], r[6], r[7]]), [
        ["-rwxr-xr-x", "unx", "5000", "defN", "20231114.221320", "pulso"],
        ["-rw-r--r--", "unx", "8", "defN", "20231114.221320", "README.md"],
        ["-rw-r--r--", "unx", "13", "defN", "20231114.221320", "LICENSE"],
      ]);
      run("unzip", ["-tq", `${dir}/a.zip`]);
      Deno.mkdirSync(`${dir}/x`);
      run("unzip", ["-q", `${dir}/a.zip`], `${dir}/x`);
      assert.deepEqual(Deno.readFileSync(`${dir}/x/pulso`), binary);
      assert.equal(Deno.readTextFileSync(`${dir}/x/LICENSE`), "licence text\n");
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "unzipFile reads stored and deflated files of a zip made by Info-ZIP",
  ignore: !have("zip"),
  fn() {
    const dir = Deno.makeTempDirSync();
    try {
      Deno.writeFileSync(`${dir}/denort`, binary);
      Deno.writeTextFileSync(`${dir}/note.txt`, "hello\n");
      run("zip", ["-q", "-9", `${dir}/deflated.zip`, "note.txt", "denort"], dir);
      run("zip", ["-q", "-0", `${dir}/stored.zip`, "denort"], dir);
      for (const file of ["deflated.zip", "stored.zip"]) {
        const bytes = Deno.readFileSync(`${dir}/${file}`);
        assert.deepEqual(unzipFile(bytes, "denort"), binary, file);
        assert.equal(unzipFile(bytes, "denort.exe"), undefined, file);
      }
      const damaged = Deno.readFileSync(`${dir}/stored.zip`);
      damaged[100] ^= 0xff; // inside the stored data
      assert.throws(() => unzipFile(damaged, "denort"), /Damaged zip archive \(size or CRC/);
      assert.throws(() => unzipFile(encoder.encode("not a zip"), "denort"), /Not a zip archive/);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("unzipFile reads what zip writes, at any level", () => {
  for (const level of [1, 9]) {
    const bytes = zip(ENTRIES, MTIME, { level });
    assert.deepEqual(unzipFile(bytes, "pulso"), binary);
    assert.equal(decoder.decode(unzipFile(bytes, "README.md")), "# pulso\n");
  }
});
