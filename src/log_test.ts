import assert from "node:assert/strict";
import { parseLogLevel } from "./log.ts";

Deno.test("parseLogLevel: bare levels, any case", () => {
  assert.equal(parseLogLevel("info"), "info");
  assert.equal(parseLogLevel("INFO"), "info");
  assert.equal(parseLogLevel("Debug"), "debug");
  assert.equal(parseLogLevel("error"), "error");
  assert.equal(parseLogLevel("trace"), "trace");
  assert.equal(parseLogLevel(" info "), "info");
});

Deno.test("parseLogLevel: warn is LogTape's warning", () => {
  assert.equal(parseLogLevel("warn"), "warning");
  assert.equal(parseLogLevel("warning"), "warning");
  assert.equal(parseLogLevel("pulso=warn"), "warning");
});

Deno.test("parseLogLevel: off is null", () => {
  assert.equal(parseLogLevel("off"), null);
  assert.equal(parseLogLevel("OFF"), null);
  assert.equal(parseLogLevel("info,pulso=off"), null);
});

Deno.test("parseLogLevel: directive lists, pulso's own entry wins", () => {
  assert.equal(parseLogLevel("pulso=debug,other=warn"), "debug");
  assert.equal(parseLogLevel("other=warn,pulso=debug"), "debug");
  assert.equal(parseLogLevel("error,pulso=debug"), "debug");
  assert.equal(parseLogLevel("pulso=debug,error"), "debug");
  assert.equal(parseLogLevel(" pulso = info , other=trace"), "info");
  // A bare level applies when pulso has no entry.
  assert.equal(parseLogLevel("other=debug,warn"), "warning");
  // A bad pulso entry falls back to the bare level.
  assert.equal(parseLogLevel("pulso=loud,info"), "info");
});

Deno.test("parseLogLevel: nothing that applies is undefined", () => {
  assert.equal(parseLogLevel("other=debug"), undefined);
  assert.equal(parseLogLevel("hyper=info,tokio=trace"), undefined);
  assert.equal(parseLogLevel("garbage"), undefined);
  assert.equal(parseLogLevel("verbose"), undefined);
  assert.equal(parseLogLevel(""), undefined);
  assert.equal(parseLogLevel(",,,"), undefined);
  assert.equal(parseLogLevel("pulso="), undefined);
  assert.equal(parseLogLevel("pulsox=debug"), undefined);
});
