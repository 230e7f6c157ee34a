/**
 * pulso's permissions are defined once, in `src/permissions.ts`; the places that must repeat
 * them as text (deno.json's `pulso` task, `scripts/pulso`, the README) say exactly the same.
 */
import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { PERMISSIONS } from "../src/permissions.ts";
import { ROOT } from "./_pulso.ts";

/** The `--allow-…`/`--deny-…` flags among shell words, in order. */
function permissionFlags(words: readonly string[]): string[] {
  return words.filter((w) => /^--(allow|deny)-|^-A$|^--allow-all$/.test(w));
}

Deno.test("deno.json's pulso task runs src/main.ts with exactly PERMISSIONS", () => {
  const words = denoJson.tasks.pulso.split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "run"]);
  assert.equal(words.at(-1), "src/main.ts");
  assert.deepEqual(permissionFlags(words), [...PERMISSIONS]);
});

Deno.test("scripts/pulso runs src/main.ts with exactly PERMISSIONS", () => {
  const text = Deno.readTextFileSync(`${ROOT}scripts/pulso`).replace(/\\\n/g, " ");
  const exec = text.split("\n").filter((line) => /^exec /.test(line));
  assert.equal(exec.length, 1, "one exec line");
  const words = exec[0].split(/\s+/);
  assert.ok(words.includes('"$PULSO_ROOT/src/main.ts"'), exec[0]);
  assert.deepEqual(permissionFlags(words), [...PERMISSIONS]);
});

Deno.test("every statement of pulso's flags in the README is exactly PERMISSIONS", () => {
  // Code blocks left out: their commands are other programs' (`deno run --allow-write …`).
  const text = Deno.readTextFileSync(`${ROOT}README.md`).replace(/^```[^]*?^```$/gm, "");
  // An inline code span made of permission flags only, two or more.
  const spans = [...text.replace(/\n/g, " ").matchAll(/`([^`]+)`/g)].map((m) => m[1].trim())
    .filter((span) => {
      const words = span.split(/\s+/);
      return words.length >= 2 && words.every((w) => /^--(allow|deny)-/.test(w));
    });
  assert.ok(spans.length >= 2, `the README states the flags (found ${spans.length})`);
  for (const span of spans) assert.equal(span, PERMISSIONS.join(" "));
});
