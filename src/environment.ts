/**
 * Reading pulso's environment variables safely: a value that is not valid UTF-8 is reported by
 * the variable's name only, never by its value (Deno's own error quotes the value, which for
 * `PULSO_SECRET` would print the secret).
 *
 * @module
 */

/** The variables pulso reads. */
export const VARIABLES = ["PULSO_SECRET", "PULSO_LOG", "RUST_LOG", "LIBPCAP_PATH"] as const;

/** A variable whose value pulso cannot use: a usage error that names it, never its value. */
export class EnvironmentError extends Error {
  /** @param variable the variable's name */
  constructor(readonly variable: string) {
    super(`the environment variable ${variable} is not valid UTF-8`);
    this.name = "EnvironmentError";
  }
}

/** Where variables come from: `Deno.env`, or a stand-in in tests. */
export interface Environment {
  get(name: string): string | undefined;
}

/**
 * The value of `name`, or undefined when it is unset. Throws {@link EnvironmentError} (naming
 * the variable only) when the value is not valid UTF-8.
 *
 * @example
 * ```ts
 * const level = readVariable("PULSO_LOG"); // "info", or undefined
 * ```
 */
export function readVariable(name: string, env: Environment = Deno.env): string | undefined {
  try {
    return env.get(name);
  } catch (e) {
    // A binary built without the permission to read it: say so (Deno's message names it).
    if (e instanceof Deno.errors.NotCapable) throw e;
    // Deno's message quotes the value: never pass it on.
    throw new EnvironmentError(name);
  }
}

/**
 * A reader of variables that throws {@link EnvironmentError} instead of Deno's error.
 *
 * @example
 * ```ts
 * setupLogging(safeEnvironment());
 * ```
 */
export function safeEnvironment(env: Environment = Deno.env): Environment {
  return { get: (name) => readVariable(name, env) };
}
