import assert from "node:assert/strict";
import { CONTENT_TYPES, type MetricsFormat } from "./metrics.ts";
import {
  formatListen,
  ListenError,
  ListenUsageError,
  MetricsServer,
  parseListen,
} from "./metrics_server.ts";

const PROMETHEUS_ACCEPT = "application/openmetrics-text;version=1.0.0," +
  "application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/** A render that says which format it was asked for, and counts its calls. */
function fakeRender() {
  const calls: MetricsFormat[] = [];
  const render = (format: MetricsFormat) => {
    calls.push(format);
    return format === "openmetrics" ? "pulso_connections_total 1\n# EOF\n" : "pulso_x 1\n";
  };
  return { calls, render };
}

async function get(
  port: number,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; headers: Headers; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, init);
  return { status: response.status, headers: response.headers, body: await response.text() };
}

Deno.test("MetricsServer: /metrics in the text format by default, OpenMetrics when preferred", async () => {
  const { calls, render } = fakeRender();
  await using server = await MetricsServer.start({ hostname: "127.0.0.1", port: 0 }, render);
  assert.ok(server.port > 0);
  assert.equal(server.hostname, "127.0.0.1");

  let r = await get(server.port, "/metrics");
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), CONTENT_TYPES.text);
  assert.equal(r.body, "pulso_x 1\n");

  r = await get(server.port, "/metrics", { headers: { Accept: PROMETHEUS_ACCEPT } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), CONTENT_TYPES.openmetrics);
  assert.equal(r.body, "pulso_connections_total 1\n# EOF\n");

  r = await get(server.port, "/metrics?name[]=x", { headers: { Accept: "text/plain" } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), CONTENT_TYPES.text);
  assert.deepEqual(calls, ["text", "openmetrics", "text"]);
});

Deno.test("MetricsServer: HEAD is GET without the body", async () => {
  const { calls, render } = fakeRender();
  await using server = await MetricsServer.start({ hostname: "127.0.0.1", port: 0 }, render);
  let r = await get(server.port, "/metrics", { method: "HEAD" });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), CONTENT_TYPES.text);
  assert.equal(r.body, "");
  r = await get(server.port, "/", { method: "HEAD" });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(r.body, "");
  assert.deepEqual(calls, ["text"]);
});

Deno.test("MetricsServer: landing page links to /metrics", async () => {
  const { calls, render } = fakeRender();
  await using server = await MetricsServer.start({ hostname: "127.0.0.1", port: 0 }, render);
  const r = await get(server.port, "/");
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "text/html; charset=utf-8");
  assert.match(r.body, /^<!DOCTYPE html>/);
  assert.match(r.body, /<a href="metrics">\/metrics<\/a>/);
  assert.deepEqual(calls, []); // no render for the landing page
});

Deno.test("MetricsServer: other paths 404, other methods 405 with Allow", async () => {
  const { calls, render } = fakeRender();
  await using server = await MetricsServer.start({ hostname: "127.0.0.1", port: 0 }, render);
  for (const path of ["/metrics/", "/favicon.ico", "/Metrics", "/metrics.txt", "//metrics"]) {
    const r = await get(server.port, path);
    assert.equal(r.status, 404, path);
    assert.equal(r.body, "Not found\n");
  }
  for (const [method, path] of [["POST", "/metrics"], ["PUT", "/"], ["DELETE", "/metrics"]]) {
    const r = await get(server.port, path, { method });
    assert.equal(r.status, 405, `${method} ${path}`);
    assert.equal(r.headers.get("allow"), "GET, HEAD");
    assert.equal(r.body, "Method not allowed\n");
  }
  assert.deepEqual(calls, []);
});

Deno.test("MetricsServer: an error while rendering is a 500, reported, and the server goes on", async () => {
  const errors: unknown[] = [];
  let fail = true;
  const render = () => {
    if (fail) throw new Error("boom");
    return "ok\n";
  };
  await using server = await MetricsServer.start(
    { hostname: "127.0.0.1", port: 0 },
    render,
    { onError: (e) => errors.push(e) },
  );
  let r = await get(server.port, "/metrics");
  assert.equal(r.status, 500);
  assert.equal(r.body, "Internal server error\n");
  assert.equal(errors.length, 1);
  assert.equal((errors[0] as Error).message, "boom");
  fail = false;
  r = await get(server.port, "/metrics");
  assert.equal(r.status, 200);
  assert.equal(r.body, "ok\n");

  // A failing error hook does not break the answer either.
  await using other = await MetricsServer.start(
    { hostname: "127.0.0.1", port: 0 },
    () => {
      throw new Error("render");
    },
    {
      onError: () => {
        throw new Error("hook");
      },
    },
  );
  r = await get(other.port, "/metrics");
  assert.equal(r.status, 500);
});

Deno.test("MetricsServer: scrapes get through while a capture-like loop runs", async () => {
  const { render } = fakeRender();
  await using server = await MetricsServer.start({ hostname: "127.0.0.1", port: 0 }, render);
  let running = true;
  let slices = 0;
  const loop = (async () => {
    while (running) {
      const until = performance.now() + 4;
      while (performance.now() < until) {
        // busy, as a capture burst
      }
      slices++;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  })();
  try {
    for (let i = 0; i < 10; i++) {
      const r = await get(server.port, "/metrics");
      assert.equal(r.status, 200);
    }
  } finally {
    running = false;
    await loop;
  }
  assert.ok(slices > 0);
});

Deno.test("MetricsServer: a port in use is a ListenError with one clear line", async () => {
  const { render } = fakeRender();
  await using first = await MetricsServer.start({ hostname: "127.0.0.1", port: 0 }, render);
  await assert.rejects(
    MetricsServer.start({ hostname: "127.0.0.1", port: first.port }, render),
    (e: unknown) => {
      assert.ok(e instanceof ListenError);
      assert.equal(e.message, `Cannot listen on 127.0.0.1:${first.port}: the address is in use`);
      assert.equal(e.address, `127.0.0.1:${first.port}`);
      assert.equal(e.name, "ListenError");
      assert.ok(e.cause instanceof Deno.errors.AddrInUse);
      return true;
    },
  );
});

Deno.test("MetricsServer: an address the permissions do not cover is a ListenError", async () => {
  const { render } = fakeRender();
  const allowed = Deno.permissions.querySync({ name: "net", host: "192.0.2.1:9464" });
  const reason = allowed.state === "granted"
    ? "the address is not one of this machine's"
    : "Deno's permissions do not allow it (--allow-net)";
  await assert.rejects(
    MetricsServer.start({ hostname: "192.0.2.1", port: 9464 }, render),
    (e: unknown) =>
      e instanceof ListenError && e.message === `Cannot listen on 192.0.2.1:9464: ${reason}`,
  );
});

Deno.test("MetricsServer: IPv6 loopback", async () => {
  const { render } = fakeRender();
  let server: MetricsServer;
  try {
    server = await MetricsServer.start(parseListen("[::1]:0"), render);
  } catch (e) {
    if (e instanceof ListenError && /not one of this machine's/.test(e.message)) {
      console.warn("No IPv6 loopback here: test skipped");
      return;
    }
    throw e;
  }
  await using _ = server;
  assert.equal(server.hostname, "::1");
  const response = await fetch(`http://[::1]:${server.port}/metrics`);
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "pulso_x 1\n");
});

Deno.test("MetricsServer: with --allow-net, an unassignable address and an unknown host", async () => {
  // A child with all network permissions: the system's errors rather than Deno's permission one.
  const dir = await Deno.makeTempDir({ prefix: "pulso_metrics_server_test" });
  try {
    const script = `${dir}/probe.ts`;
    const module = new URL("./metrics_server.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { ListenError, MetricsServer } from ${JSON.stringify(module)};
const out = [];
for (const hostname of ["192.0.2.1", "pulso-test.invalid"]) {
  try {
    const server = await MetricsServer.start({ hostname, port: 9464 }, () => "");
    await server.close();
    out.push("listening");
  } catch (e) {
    out.push(e instanceof ListenError ? e.message : "not a ListenError: " + e);
  }
}
console.log(JSON.stringify(out));
`,
    );
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--no-lock", "--no-prompt", "--allow-net", script],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, 0, err);
    const [unassignable, unknown] = JSON.parse(new TextDecoder().decode(stdout));
    assert.equal(
      unassignable,
      "Cannot listen on 192.0.2.1:9464: the address is not one of this machine's",
    );
    assert.match(
      unknown,
      /^Cannot listen on pulso-test\.invalid:9464: the host name does not resolve \(.+\)$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("MetricsServer: close is idempotent; disposal closes", async () => {
  const { render } = fakeRender();
  const server = await MetricsServer.start({ hostname: "127.0.0.1", port: 0 }, render);
  const port = server.port;
  const closing = server.close();
  assert.equal(server.close(), closing);
  await closing;
  await server.close();
  await server[Symbol.asyncDispose]();
  await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`));
  // The port is free again.
  let reused: MetricsServer;
  {
    using sync = await MetricsServer.start({ hostname: "127.0.0.1", port }, render);
    reused = sync;
    assert.equal(sync.port, port);
  }
  await reused.close(); // the closing that disposal started
  await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`));
});

Deno.test("parseListen: accepted forms", () => {
  const cases: [string, string, number][] = [
    ["127.0.0.1:9464", "127.0.0.1", 9464],
    ["[::1]:9464", "::1", 9464],
    ["[::]:9464", "::", 9464],
    ["[::ffff:127.0.0.1]:80", "::ffff:127.0.0.1", 80],
    ["[2001:DB8::1]:443", "2001:DB8::1", 443],
    ["0.0.0.0:0", "0.0.0.0", 0],
    ["localhost:9464", "localhost", 9464],
    ["metrics-1.example.com:65535", "metrics-1.example.com", 65535],
    ["127.0.0.1:09464", "127.0.0.1", 9464],
  ];
  for (const [value, hostname, port] of cases) {
    assert.deepEqual(parseListen(value), { hostname, port }, value);
  }
});

Deno.test("parseListen: refused forms, with one clear line each", () => {
  const expected = "(expected HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464)";
  const port = "(the port must be a number from 0 to 65535)";
  const cases: [string, string][] = [
    ["foo", `Invalid --listen address 'foo' ${expected}`],
    ["", `Invalid --listen address '' ${expected}`],
    ["9464", `Invalid --listen address '9464' ${expected}`],
    ["127.0.0.1:", `Invalid --listen address '127.0.0.1:' ${expected}`],
    ["[::1]", `Invalid --listen address '[::1]' ${expected}`],
    ["[::1]9464", `Invalid --listen address '[::1]9464' ${expected}`],
    ["[::1]:", `Invalid --listen address '[::1]:' ${expected}`],
    [
      ":9464",
      "Invalid --listen address ':9464' (expected HOST:PORT, e.g. 127.0.0.1:9464 or " +
      "[::1]:9464; 0.0.0.0:9464 listens on every IPv4 address)",
    ],
    [
      "::1:9464",
      "Invalid --listen address '::1:9464' (an IPv6 address goes in brackets, e.g. [::1]:9464)",
    ],
    ["127.0.0.1:99999", `Invalid --listen address '127.0.0.1:99999' ${port}`],
    ["127.0.0.1:65536", `Invalid --listen address '127.0.0.1:65536' ${port}`],
    ["127.0.0.1:-1", `Invalid --listen address '127.0.0.1:-1' ${port}`],
    ["127.0.0.1:+80", `Invalid --listen address '127.0.0.1:+80' ${port}`],
    ["127.0.0.1:0x10", `Invalid --listen address '127.0.0.1:0x10' ${port}`],
    ["127.0.0.1: 80", `Invalid --listen address '127.0.0.1: 80' ${port}`],
    ["127.0.0.1:http", `Invalid --listen address '127.0.0.1:http' ${port}`],
    ["[::1]:99999", `Invalid --listen address '[::1]:99999' ${port}`],
    [
      "999.1.1.1:80",
      "Invalid --listen address '999.1.1.1:80' ('999.1.1.1' is not an IPv4 address)",
    ],
    [
      "010.0.0.1:80",
      "Invalid --listen address '010.0.0.1:80' ('010.0.0.1' is not an IPv4 address)",
    ],
    ["10.1:80", "Invalid --listen address '10.1:80' ('10.1' is not an IPv4 address)"],
    [
      "[nothost]:80",
      "Invalid --listen address '[nothost]:80' ('nothost' is not an IPv6 address)",
    ],
    [
      "[127.0.0.1]:80",
      "Invalid --listen address '[127.0.0.1]:80' ('127.0.0.1' is not an IPv6 address)",
    ],
    [
      "[fe80::1%eth0]:80",
      "Invalid --listen address '[fe80::1%eth0]:80' ('fe80::1%eth0' is not an IPv6 address)",
    ],
    [
      "bad host:80",
      "Invalid --listen address 'bad host:80' ('bad host' is not an IP address or a host name)",
    ],
    [
      "-bad.example:80",
      "Invalid --listen address '-bad.example:80' ('-bad.example' is not an IP address or a " +
      "host name)",
    ],
    [
      "a\nb:80",
      "Invalid --listen address 'a\\nb:80' ('a\\nb' is not an IP address or a host name)",
    ],
    [
      "\u202eevil:80",
      "Invalid --listen address '\\u{202e}evil:80' ('\\u{202e}evil' is not an IP address or a " +
      "host name)",
    ],
  ];
  for (const [value, message] of cases) {
    assert.throws(
      () => parseListen(value),
      (e: unknown) => {
        assert.ok(e instanceof ListenUsageError, JSON.stringify(value));
        assert.equal(e.message, message);
        assert.equal(e.name, "ListenUsageError");
        return true;
      },
    );
  }
});

Deno.test("formatListen: IPv6 in brackets", () => {
  assert.equal(formatListen({ hostname: "127.0.0.1", port: 9464 }), "127.0.0.1:9464");
  assert.equal(formatListen({ hostname: "::1", port: 9464 }), "[::1]:9464");
  assert.equal(formatListen({ hostname: "localhost", port: 0 }), "localhost:0");
  assert.equal(formatListen(parseListen("[2001:db8::1]:80")), "[2001:db8::1]:80");
});
