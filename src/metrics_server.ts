/**
 * The HTTP endpoint Prometheus scrapes (`--listen`): `GET /metrics` in the format the scraper
 * prefers, a landing page on `/`, nothing else.
 *
 * @module
 */

import { formatAddress, parseAddress } from "./address.ts";
import { CONTENT_TYPES, type MetricsFormat, negotiateFormat } from "./metrics.ts";
import { escapeControls, quote, systemMessage } from "./quote.ts";

/** Where to listen: a host name or IP address (IPv6 without brackets), and a port. */
export interface ListenAddress {
  /** Host name, IPv4 address, or IPv6 address without brackets. */
  hostname: string;
  /** TCP port, 0 for one the system chooses. */
  port: number;
}

/** A `--listen` value that is not an address: a usage error (exit status 2). */
export class ListenUsageError extends Error {
  /** @param message what is wrong, one line */
  constructor(message: string) {
    super(message);
    this.name = "ListenUsageError";
  }
}

/** The endpoint cannot listen where asked (exit status 1); the message is one line. */
export class ListenError extends Error {
  /** The address as shown in the message, e.g. `127.0.0.1:9464` or `[::1]:9464`. */
  readonly address: string;

  /**
   * @param address the address, as shown
   * @param reason why it cannot listen there
   * @param cause the error from Deno
   */
  constructor(address: string, reason: string, cause?: unknown) {
    super(`Cannot listen on ${address}: ${reason}`, { cause });
    this.name = "ListenError";
    this.address = address;
  }
}

const EXPECTED = "expected HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464";

/** A host name: dot-separated labels of letters, digits and inner hyphens. */
const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Parses a `--listen` value: `HOST:PORT`, where HOST is an IPv4 address in dotted form, an
 * IPv6 address in brackets, or a host name, and PORT a decimal number from 0 to 65535 (0: any
 * free port). An IPv6 address without brackets (`::1:9464`) and an empty host (`:9464`) are
 * refused, the former as ambiguous, the latter so that listening on every address is asked
 * for explicitly (`0.0.0.0:9464`, `[::]:9464`). IPv6 zone identifiers (`[fe80::1%eth0]`) are
 * not supported.
 *
 * @throws {ListenUsageError} when `value` is not such an address
 *
 * @example
 * ```ts
 * parseListen("127.0.0.1:9464"); // { hostname: "127.0.0.1", port: 9464 }
 * parseListen("[::1]:9464"); // { hostname: "::1", port: 9464 }
 * parseListen("localhost:0"); // { hostname: "localhost", port: 0 }
 * ```
 */
export function parseListen(value: string): ListenAddress {
  const invalid = (why: string) =>
    new ListenUsageError(`Invalid --listen address ${quote(value)} (${why})`);
  let host: string;
  let portText: string;
  if (value.startsWith("[")) {
    const close = value.indexOf("]");
    if (close < 0 || value[close + 1] !== ":") throw invalid(EXPECTED);
    host = value.slice(1, close);
    portText = value.slice(close + 2);
    if (parseAddress(host)?.length !== 16) {
      throw invalid(`${quote(host)} is not an IPv6 address`);
    }
  } else {
    const colon = value.lastIndexOf(":");
    if (colon < 0) throw invalid(EXPECTED);
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (host.includes(":")) {
      throw invalid("an IPv6 address goes in brackets, e.g. [::1]:9464");
    }
    if (host === "") {
      throw invalid(`${EXPECTED}; 0.0.0.0:9464 listens on every IPv4 address`);
    }
    if (/^[0-9.]+$/.test(host)) {
      // Digits and dots make an IPv4 address or nothing: no "10.1" or "010.0.0.1", which the
      // system's resolver would read in ways nobody expects.
      const bytes = parseAddress(host);
      if (bytes?.length !== 4 || formatAddress(bytes) !== host) {
        throw invalid(`${quote(host)} is not an IPv4 address`);
      }
    } else if (!HOST_NAME.test(host)) {
      throw invalid(`${quote(host)} is not an IP address or a host name`);
    }
  }
  if (portText === "") throw invalid(EXPECTED);
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw invalid(`the port must be a number from 0 to 65535`);
  }
  return { hostname: host, port: Number(portText) };
}

/**
 * An address as shown in messages: `HOST:PORT`, an IPv6 address in brackets.
 *
 * @example
 * ```ts
 * formatListen({ hostname: "::1", port: 9464 }); // "[::1]:9464"
 * ```
 */
export function formatListen(address: ListenAddress): string {
  const host = escapeControls(address.hostname);
  return `${host.includes(":") ? `[${host}]` : host}:${address.port}`;
}

/** Options of {@link MetricsServer.start}. */
export interface MetricsServerOptions {
  /**
   * Called with an error thrown while answering a request (the request is answered 500); the
   * server logs nothing itself.
   */
  onError?: (error: unknown) => void;
}

const LANDING_PAGE = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>pulso</title></head>
<body>
<h1>pulso</h1>
<p>New TCP connections, counted. Metrics for Prometheus: <a href="metrics">/metrics</a></p>
</body>
</html>
`;

const ALLOWED = "GET, HEAD";

function textResponse(status: number, body: string, headers: Record<string, string> = {}) {
  return new Response(body, {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8", ...headers },
  });
}

/**
 * The HTTP server of `--listen`. Its handler is synchronous and cheap (one render), so that a
 * capture loop in the same process, which yields to the event loop every few milliseconds,
 * lets scrapes through.
 *
 * - `GET /metrics`: the render, in the format the `Accept` header prefers (see
 *   {@link negotiateFormat}), with its content type.
 * - `GET /`: a short HTML page linking to `/metrics`.
 * - `HEAD` on both: as `GET`, without the body (Deno leaves it out).
 * - Other methods on both: 405 with `Allow: GET, HEAD`; other paths: 404.
 * - An error while answering: 500, and `options.onError`; the server goes on.
 *
 * The server keeps the process alive until it is closed.
 *
 * @example
 * ```ts
 * await using server = await MetricsServer.start(
 *   parseListen("127.0.0.1:9464"),
 *   (format) => exposition.render(snapshot(), format),
 * );
 * ```
 */
export class MetricsServer {
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  #closing: Promise<void> | undefined;

  private constructor(server: Deno.HttpServer<Deno.NetAddr>) {
    this.#server = server;
  }

  /**
   * Starts listening on `address`; resolves once listening.
   *
   * @param address where to listen, from {@link parseListen}
   * @param render the metrics, in the format asked for
   * @param options what to do with errors while answering
   * @throws {ListenError} when it cannot listen there: the address in use, not one of this
   * machine's, not allowed by Deno's permissions, a host name that does not resolve…
   *
   * @example
   * ```ts
   * const server = await MetricsServer.start({ hostname: "127.0.0.1", port: 0 }, render);
   * console.log(server.port); // the port chosen
   * await server.close();
   * ```
   */
  static start(
    address: ListenAddress,
    render: (format: MetricsFormat) => string,
    options: MetricsServerOptions = {},
  ): Promise<MetricsServer> {
    const onError = options.onError;
    const failed = (error: unknown) => {
      try {
        onError?.(error);
      } catch {
        // A failing error hook must not turn a 500 into a dropped connection.
      }
      return textResponse(500, "Internal server error\n");
    };
    const handler = (request: Request): Response => {
      try {
        return answer(request, render);
      } catch (error) {
        return failed(error);
      }
    };
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        hostname: address.hostname,
        port: address.port,
        onListen: () => {},
        onError: failed,
      }, handler);
    } catch (error) {
      return Promise.reject(listenError(address, error));
    }
    return Promise.resolve(new MetricsServer(server));
  }

  /** The port listened on (the one chosen by the system when asked for port 0). */
  get port(): number {
    return this.#server.addr.port;
  }

  /** The address listened on, as Deno reports it (an IPv6 address without brackets). */
  get hostname(): string {
    return this.#server.addr.hostname;
  }

  /**
   * Stops listening and waits for the requests under way; the same promise every time.
   *
   * @example
   * ```ts
   * await server.close();
   * ```
   */
  close(): Promise<void> {
    return this.#closing ??= this.#server.shutdown();
  }

  /** As {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Starts {@link close} without waiting for it. */
  [Symbol.dispose](): void {
    this.close().catch(() => {});
  }
}

function answer(request: Request, render: (format: MetricsFormat) => string): Response {
  const path = new URL(request.url).pathname;
  if (path !== "/metrics" && path !== "/") return textResponse(404, "Not found\n");
  if (request.method !== "GET" && request.method !== "HEAD") {
    return textResponse(405, "Method not allowed\n", { Allow: ALLOWED });
  }
  if (path === "/") {
    return new Response(LANDING_PAGE, {
      headers: { "Content-Type": "text/html; charset=utf-8" },
    });
  }
  const format = negotiateFormat(request.headers.get("Accept"));
  return new Response(render(format), {
    headers: { "Content-Type": CONTENT_TYPES[format], "Cache-Control": "no-store" },
  });
}

const LOOKUP_FAILED = "failed to lookup address information";

function listenError(address: ListenAddress, error: unknown): ListenError {
  const shown = formatListen(address);
  let reason: string;
  if (error instanceof Deno.errors.AddrInUse) reason = "the address is in use";
  else if (error instanceof Deno.errors.AddrNotAvailable) {
    reason = "the address is not one of this machine's";
  } else if (error instanceof Deno.errors.NotCapable) {
    reason = "Deno's permissions do not allow it (--allow-net)";
  } else if (error instanceof Deno.errors.PermissionDenied) {
    reason = address.port > 0 && address.port < 1024
      ? "permission denied (a port below 1024 needs privileges)"
      : "permission denied";
  } else if (error instanceof Error && error.message.startsWith(LOOKUP_FAILED)) {
    const detail = error.message.slice(LOOKUP_FAILED.length).replace(/^:\s*/, "");
    reason = `the host name does not resolve${detail ? ` (${escapeControls(detail)})` : ""}`;
  } else reason = systemMessage(error);
  return new ListenError(shown, reason, error);
}
