/**
 * The JSON Lines output: one object per window (or one for the whole capture), on one line.
 * The schema is `src/digest_schema.json`; the order of sources and ports is the text digest's.
 *
 * @module
 */
import type { WindowReport } from "./windows.ts";
import { isoTime } from "./window_text.ts";

/**
 * A window as one JSON object and a newline, in pieces of about `size` characters written as
 * they come: a digest of tens of thousands of sources is never held whole.
 *
 * @example
 * ```ts
 * for (const text of windowJson(report)) write(text);
 * // {"start":"2026-12-01T08:00:00.000Z","end":"2026-12-01T08:01:00.000Z","connections":3,...}
 * ```
 */
export function* windowJson(report: WindowReport, size = 1 << 16): IterableIterator<string> {
  const { digest, capture } = report;
  const time = (us: number | undefined) => us === undefined ? "null" : `"${isoTime(us)}"`;
  let out = `{"start":${time(report.start)},"end":${time(report.end)},` +
    `"connections":${report.connections},"sources":[`;
  let first = true;
  for (const line of digest.lines()) {
    if (!first) out += ",";
    first = false;
    out += `{"source":${JSON.stringify(unbracketed(line.source))},` +
      `"connections":${line.connections},"error":${line.error},"untracked":${line.untracked},` +
      `"ports":[`;
    for (let i = 0; i < line.ports.length; i++) {
      const p = line.ports[i];
      out += `${i > 0 ? "," : ""}{"port":${p.port},"connections":${p.connections},` +
        `"error":${p.error}}`;
    }
    out += "]}";
    if (out.length >= size) {
      yield out;
      out = "";
    }
  }
  out += `],"untracked":${digest.untracked}`;
  const other = digest.other();
  if (other !== undefined) {
    out += `,"other":{"connections":${other.connections},"untracked":${other.untracked},"ports":[`;
    for (let i = 0; i < other.ports.length; i++) {
      const p = other.ports[i];
      out += `${i > 0 ? "," : ""}{"port":${p.port},"connections":${p.connections}}`;
    }
    out += "]}";
  }
  out += `,"distinctSources":${digest.distinctSources},` +
    `"distinctSourcesExact":${digest.distinctSourcesExact},"exact":${digest.exact}`;
  if (capture) {
    out += `,"capture":{"received":${capture.received},"dropped":${capture.dropped},` +
      `"interfaceDropped":${capture.ifDropped}}`;
  }
  out += `,"packets":${report.packets},"malformed":${report.malformed}`;
  if (report.retransmissions !== undefined) {
    out += `,"retransmissions":${report.retransmissions}`;
  }
  yield `${out}}\n`;
}

/** An address in clear without the brackets the text digest puts around IPv6. */
function unbracketed(source: string): string {
  return source.startsWith("[") && source.endsWith("]") ? source.slice(1, -1) : source;
}
