import assert from "node:assert/strict";
import { EnvironmentError, readVariable, safeEnvironment, VARIABLES } from "./environment.ts";

/** A stand-in for Deno.env whose `get` throws as Deno's does for a value that is not UTF-8. */
const env = {
  get(name: string): string | undefined {
    if (name === "BAD") {
      throw new TypeError('environment variable was not valid unicode: "hunter2\\xFF"');
    }
    return name === "GOOD" ? "value" : undefined;
  },
};

Deno.test("readVariable gives the value, or undefined when unset", () => {
  assert.equal(readVariable("GOOD", env), "value");
  assert.equal(readVariable("UNSET", env), undefined);
});

Deno.test("a value that is not UTF-8 is named, never shown", () => {
  assert.throws(() => readVariable("BAD", env), (e: unknown) => {
    assert.ok(e instanceof EnvironmentError);
    assert.equal(e.variable, "BAD");
    assert.equal(e.message, "the environment variable BAD is not valid UTF-8");
    assert.doesNotMatch(e.message, /hunter2/);
    return true;
  });
  assert.throws(() => safeEnvironment(env).get("BAD"), EnvironmentError);
  assert.equal(safeEnvironment(env).get("GOOD"), "value");
});

Deno.test("the variables pulso reads", () => {
  assert.deepEqual([...VARIABLES], ["PULSO_SECRET", "PULSO_LOG", "RUST_LOG", "LIBPCAP_PATH"]);
});
