/**
 * Quoting of user-supplied text in one-line messages. Pure: no I/O.
 *
 * @module
 */

/** Characters shown as a two-character escape. */
const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  "\0": "\\0",
  "\t": "\\t",
  "\n": "\\n",
  "\r": "\\r",
  "\\": "\\\\",
  "'": "\\'",
};

/**
 * Code points shown as `\u{…}`: controls (C0, DEL, C1), format characters such as the bidi
 * overrides, the zero-width characters and the BOM, and the line and paragraph separators.
 */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/** A combining mark, which would fuse with the opening quote when it comes first. */
const EXTEND = /\p{Grapheme_Extend}/u;

/**
 * Returns `value` inside single quotes, escaped so that it shows on one line with no raw control
 * character, in the style of Rust's `char::escape_debug`:
 *
 * - `\0`, `\t`, `\n`, `\r`, `\\` and `\'` for NUL, tab, line feed, carriage return, backslash
 *   and single quote (the double quote is left as it is, as in Rust's `'"'`);
 * - `\u{…}`, lowercase hexadecimal without leading zeros, for every other control character
 *   (U+0001-U+001F, DEL, U+0080-U+009F), every format character (bidi controls, zero-width
 *   characters, BOM, soft hyphen…), U+2028, U+2029, lone surrogates (which Rust's strings cannot
 *   hold) and a combining mark at the start of `value`;
 * - everything else as it is.
 *
 * @example
 * ```ts
 * quote("a\nb"); // "'a\\nb'", printed as 'a\nb'
 * quote("it's\x1b[0m"); // "'it\\'s\\u{1b}[0m'", printed as 'it\'s\u{1b}[0m'
 * ```
 */
export function quote(value: string): string {
  return `'${escapeText(value, true)}'`;
}

/**
 * Returns free text (a system's error message, say) on one line with no raw control character:
 * escaped as by {@link quote}, but with no quotes around it, and with backslashes, single quotes
 * and a leading combining mark left as they are.
 *
 * @example
 * ```ts
 * escapeControls("bad header\r\n"); // "bad header\\r\\n", printed as bad header\r\n
 * ```
 */
export function escapeControls(text: string): string {
  return escapeText(text, false);
}

function escapeText(value: string, quoted: boolean): string {
  let out = "";
  let first = true;
  // for…of walks code points, yielding a lone surrogate as a string of its own.
  for (const char of value) {
    const code = char.codePointAt(0)!;
    const short = quoted || (char !== "\\" && char !== "'") ? SHORT_ESCAPES[char] : undefined;
    if (short !== undefined) out += short;
    else if (
      HIDDEN.test(char) || (code >= 0xd800 && code <= 0xdfff) ||
      (quoted && first && EXTEND.test(char))
    ) {
      out += `\\u{${code.toString(16)}}`;
    } else out += char;
    first = false;
  }
  return out;
}

/**
 * The system's words for an I/O error, without Deno's decoration (" (os error 2): open …"),
 * control characters escaped.
 *
 * @example
 * ```ts
 * systemMessage(new Error("No such file or directory (os error 2): open 'x'"));
 * // "No such file or directory"
 * ```
 */
export function systemMessage(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const cut = text.search(/ \(os error \d+\)/);
  return escapeControls(cut < 0 ? text : text.slice(0, cut));
}
