import assert from "node:assert/strict";
import { escapeControls, quote } from "./quote.ts";

Deno.test("quote: plain text is only wrapped in single quotes", () => {
  assert.equal(quote(""), "''");
  assert.equal(quote("eth0"), "'eth0'");
  assert.equal(quote("--device <DEVICE>"), "'--device <DEVICE>'");
  assert.equal(quote('say "hi"'), `'say "hi"'`);
  // Non-ASCII that prints is kept: accents, CJK, emoji (a surrogate pair), a ZWJ-free flag.
  assert.equal(quote("café 日本 😀 🇫🇷"), "'café 日本 😀 🇫🇷'");
  // A combining mark after a base character is kept.
  assert.equal(quote("e\u0301"), "'e\u0301'");
  assert.equal(quote("\u00a0"), "'\u00a0'");
});

Deno.test("quote: short escapes", () => {
  assert.equal(quote("a\nb"), "'a\\nb'");
  assert.equal(quote("a\r\nb"), "'a\\r\\nb'");
  assert.equal(quote("\t"), "'\\t'");
  assert.equal(quote("\0"), "'\\0'");
  assert.equal(quote("C:\\dir"), "'C:\\\\dir'");
  assert.equal(quote("it's"), "'it\\'s'");
  assert.equal(quote("\\'"), "'\\\\\\''");
});

Deno.test("quote: other controls as \\u{…}, lowercase, no leading zeros", () => {
  assert.equal(quote("\x01"), "'\\u{1}'");
  assert.equal(quote("\x1b[31mred"), "'\\u{1b}[31mred'");
  assert.equal(quote("\x7f"), "'\\u{7f}'");
  assert.equal(quote("\x80\x85\x9b\x9f"), "'\\u{80}\\u{85}\\u{9b}\\u{9f}'");
  assert.equal(quote("a\u2028b\u2029c"), "'a\\u{2028}b\\u{2029}c'");
  // Format characters: bidi override, zero-width space and joiner, BOM, soft hyphen.
  assert.equal(quote("\u202egnp.exe"), "'\\u{202e}gnp.exe'");
  assert.equal(quote("\u200b\u200d\ufeff\u00ad"), "'\\u{200b}\\u{200d}\\u{feff}\\u{ad}'");
  // Every C0 control, DEL and every C1 control is escaped.
  for (let code = 0; code < 0xa0; code++) {
    if (code >= 0x20 && code < 0x7f) continue;
    const quoted = quote(String.fromCharCode(code));
    assert.match(quoted, /^'\\(?:[0tnr]|u\{[0-9a-f]+\})'$/, `U+${code.toString(16)}`);
  }
});

Deno.test("quote: lone surrogates and a leading combining mark", () => {
  assert.equal(quote("\ud800"), "'\\u{d800}'");
  assert.equal(quote("a\udfffb"), "'a\\u{dfff}b'");
  // Reversed pair: two lone surrogates.
  assert.equal(quote("\ude00\ud83d"), "'\\u{de00}\\u{d83d}'");
  assert.equal(quote("\u0301e"), "'\\u{301}e'");
});

Deno.test("quote: the result is one line of printable characters", () => {
  let all = "";
  for (let code = 0; code < 0x3000; code++) all += String.fromCharCode(code);
  all += "\ud800\udc00\udbff";
  const quoted = quote(all);
  assert.ok(quoted.startsWith("'") && quoted.endsWith("'"));
  assert.doesNotMatch(quoted, /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u);
  assert.ok(quoted.isWellFormed(), "no lone surrogate");
  // Between the outer quotes, every quote is escaped.
  assert.doesNotMatch(quoted.slice(1, -1).replaceAll("\\\\", ""), /(?<!\\)'/);
});

Deno.test("escapeControls: the same escapes, no quotes, backslash and quote as they are", () => {
  assert.equal(escapeControls(""), "");
  assert.equal(escapeControls("No such file or directory"), "No such file or directory");
  assert.equal(escapeControls("bad header\r\n"), "bad header\\r\\n");
  assert.equal(escapeControls("it's C:\\dir\t\x00"), "it's C:\\dir\\t\\0");
  assert.equal(
    escapeControls("\x1b[1m\x85\u2028\ud800\u202e"),
    "\\u{1b}[1m\\u{85}\\u{2028}\\u{d800}\\u{202e}",
  );
  assert.equal(escapeControls("\u0301e"), "\u0301e");
  const all = Array.from({ length: 0x3000 }, (_, code) => String.fromCharCode(code)).join("");
  assert.doesNotMatch(escapeControls(all + "\udc00"), /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u);
});
