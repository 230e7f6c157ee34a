/**
 * What the benchmark's parts share: where things are, how pulso is run (with the permissions
 * its task grants), and reading a process's CPU time.
 *
 * @module
 */

import { PERMISSIONS } from "../src/permissions.ts";

/** The repository's root. */
export const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/** The Deno that runs the benchmark runs pulso too. */
export const DENO = Deno.execPath();

/** `deno` arguments that run pulso from source with the permissions its task grants. */
export const PULSO_FLAGS = [
  "run",
  "--quiet",
  "--no-prompt",
  ...PERMISSIONS,
  `${ROOT}/src/main.ts`,
];

/** A file under /proc, through cat: Deno grants reading /proc/PID/ only with every permission. */
export function readProc(path: string): string {
  const out = new Deno.Command("cat", { args: [path], stdout: "piped" }).outputSync();
  return new TextDecoder().decode(out.stdout);
}

/** CPU seconds (user + sys) that process `pid` has used so far. */
export function processCpu(pid: number): number {
  // Fields 14 and 15 of stat, in clock ticks (100 Hz).
  const text = readProc(`/proc/${pid}/stat`);
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error(`cannot read the CPU time of ${pid}: '${text}'`);
  return ticks / 100;
}
