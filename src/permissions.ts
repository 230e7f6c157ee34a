/**
 * The permissions pulso runs with, in one place: `deno run` from source, the tests, and the
 * release binaries (baked in by `deno compile`) all take them from here.
 *
 * - FFI: libpcap and the C library.
 * - Read: capture files (`--read`), and libpcap's shared object.
 * - Environment: exactly the variables pulso reads.
 * - Net: only to listen for Prometheus' scrapes (`--listen`); pulso opens no connection, and
 *   without `--listen` no socket at all.
 *
 * @module
 */
import { VARIABLES } from "./environment.ts";

/**
 * Deno's permission flags for running pulso.
 *
 * @example
 * ```ts
 * new Deno.Command(Deno.execPath(), { args: ["run", ...PERMISSIONS, "src/main.ts", "-V"] });
 * ```
 */
export const PERMISSIONS: readonly string[] = [
  "--allow-ffi",
  "--allow-read",
  `--allow-env=${VARIABLES.join(",")}`,
  "--allow-net",
];
