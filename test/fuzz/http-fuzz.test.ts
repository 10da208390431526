/**
 * HTTP fuzzing (issue 7): FUZZ_RUNS requests aimed at EVERY route of
 * a real app — path parameters, queries and bodies drawn from the route's OpenAPI operation,
 * mixed with raw garbage (see requests.ts) — then a few hundred raw-socket garbage requests
 * to a listening port. For every answer:
 * - never a 5xx;
 * - every error body is Belay's `{error: {code, message}}`, its code one of src/core/errors.ts
 *   with the matching HTTP status, and no stack trace (`/mcp` answers protocol errors in
 *   JSON-RPC's shape, as the MCP spec requires);
 * - a refused request (4xx) changes nothing: when anything committed to the database while it
 *   was handled, it is replayed on a quiet store and the jobs, events, cancellation records,
 *   tokens and webhooks before and after are compared;
 * - the server still answers /healthz at the end.
 *
 * Each route gets its own server (so what one route's accepted requests create does not slow
 * another's), a few routes at a time.
 *
 * Cost: about 0.5 ms of CPU per request, so 10 000 per route × 30 routes is some 140 s of CPU
 * (one thread) and several minutes on a busy machine: `npm test` runs the bounded form, 1 000
 * per route; `npm run fuzz` runs the full 10 000 per route. Environment: FUZZ_RUNS (requests per route), FUZZ_ROUTES (a substring of
 * `METHOD /path`: only those routes), FUZZ_TRACE (print each request to stderr before sending it).
 */
import { connect } from "node:net";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { errorCodes } from "../../src/core/errors.ts";
import { fuzzServer } from "./fuzz-server.ts";
import type { FuzzServer } from "./fuzz-server.ts";
import { requestArbitrary } from "./requests.ts";
import type { FuzzRequest, OpenApiDoc } from "./requests.ts";
import { appRoutes, routeName } from "./routes.ts";
import type { AppRoute } from "./routes.ts";
import { rawRequests } from "./raw-requests.ts";

const runsPerRoute = Number(process.env["FUZZ_RUNS"] ?? 1_000);
/** A substring of `METHOD /path`: fuzz only the matching routes (for a closer look at one). */
const onlyRoutes = process.env["FUZZ_ROUTES"];
/** Routes fuzzed at once, each on its own server. */
const lanes = 4;

interface Answer {
  status: number;
  contentType: string;
  body: string;
}

interface RouteReport {
  route: string;
  sent: number;
  statuses: Record<number, number>;
  /** Refused requests during which something committed: replayed on a quiet store. */
  replayed: number;
  /** Seconds spent sending (the server's setup not included). */
  seconds: number;
  violations: Map<string, string>;
}

/** Longest wait for an answer: a request left hanging is a failure too. */
const answerTimeoutMs = 30_000;

/**
 * Inject `req` and read its answer. Every answer is read as a stream, so an endless event
 * stream (GET /api/v1/events, reached by whatever URL) is recognised and closed once it started.
 */
async function send(server: FuzzServer, req: FuzzRequest): Promise<Answer> {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(new Error(`no answer within ${answerTimeoutMs} ms`));
    }, answerTimeoutMs);
  });
  try {
    const res = await Promise.race([
      server.app.inject({
        method: req.method as "GET",
        url: req.url,
        headers: req.headers,
        ...(req.payload === undefined ? {} : { payload: req.payload }),
        payloadAsStream: true,
        signal: abort.signal,
      }),
      timeout,
    ]);
    const contentType = String(res.headers["content-type"] ?? "");
    const stream = res.stream();
    if (contentType.startsWith("text/event-stream")) {
      // An endless stream that started: enough. Aborting closes it (and its subscription).
      stream.on("error", () => undefined);
      abort.abort();
      return { status: res.statusCode, contentType, body: "" };
    }
    const chunks: Buffer[] = [];
    const read = (async () => {
      for await (const chunk of stream) chunks.push(chunk as Buffer);
    })();
    await Promise.race([read, timeout]);
    return { status: res.statusCode, contentType, body: Buffer.concat(chunks).toString("utf8") };
  } finally {
    clearTimeout(timer);
    timeout.catch(() => undefined);
  }
}

/**
 * What is wrong with an answer, or null. `bodiless` allows an error with no body at all:
 * on a raw socket, Node's HTTP server itself answers a few protocol errors that way before
 * any of Belay's code runs (an HTTP/1.1 request without Host: 400; an Expect other than
 * 100-continue: 417).
 */
function problem(req: FuzzRequest, answer: Answer, bodiless = false): string | null {
  if (answer.status >= 500) return `HTTP ${answer.status}`;
  if (answer.status < 400 || req.method === "HEAD") return null;
  if (bodiless && answer.body === "" && answer.contentType === "") return null;
  if (!answer.contentType.startsWith("application/json")) return `HTTP ${answer.status} with content-type "${answer.contentType}"`;
  let json: unknown;
  try {
    json = JSON.parse(answer.body);
  } catch {
    return `HTTP ${answer.status} with a body that is not JSON`;
  }
  const isMcp = req.url.split(/[?#]/)[0] === "/mcp";
  const error = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (isMcp && (json as { jsonrpc?: unknown }).jsonrpc === "2.0") {
    return typeof error?.code === "number" && typeof error.message === "string" ? null : `HTTP ${answer.status}: a JSON-RPC error without code/message`;
  }
  if (typeof error?.code !== "string" || typeof error.message !== "string") return `HTTP ${answer.status}: not the Belay error shape`;
  const expected = (errorCodes as Record<string, number>)[error.code];
  if (expected === undefined) return `HTTP ${answer.status}: unknown code ${error.code}`;
  if (expected !== answer.status) return `HTTP ${answer.status} with code ${error.code} (which is HTTP ${expected})`;
  if (/\n\s+at /.test(error.message)) return `HTTP ${answer.status} ${error.code}: a stack trace in the message`;
  return null;
}

/** Until nothing has committed for 100 ms (at most 5 s). */
async function quiet(server: FuzzServer): Promise<void> {
  const deadline = Date.now() + 5000;
  let last = server.dataVersion();
  let still = 0;
  while (still < 4 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    const now = server.dataVersion();
    still = now === last ? still + 1 : 0;
    last = now;
  }
}

/**
 * Whether a refused request changes the store: replayed on a quiet store, twice if need be;
 * it is blamed only if it is refused again and the store changed across it both times.
 */
async function refusalChangesState(server: FuzzServer, req: FuzzRequest): Promise<boolean> {
  for (let attempt = 0; attempt < 2; attempt++) {
    await quiet(server);
    const version = server.dataVersion();
    const before = await server.fingerprint();
    const answer = await send(server, req);
    if (answer.status < 400 || answer.status >= 500) return false;
    if (server.dataVersion() === version) return false;
    if ((await server.fingerprint()) === before) return false;
  }
  return true;
}

const describeRequest = (req: FuzzRequest): string => {
  const payload = req.payload === undefined ? "" : ` body(${req.kind}, ${req.payload.length} bytes)=${JSON.stringify(req.payload.toString().slice(0, 200))}`;
  const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, v.length > 80 ? `${v.slice(0, 40)}…(${v.length})` : v]));
  return `${req.method} ${req.url.slice(0, 300)} ${JSON.stringify(headers)}${payload}`;
};

async function fuzzRoute(route: AppRoute, doc: OpenApiDoc): Promise<RouteReport> {
  const server = await fuzzServer();
  const report: RouteReport = { route: routeName(route), sent: 0, statuses: {}, replayed: 0, seconds: 0, violations: new Map() };
  const note = (what: string, req: FuzzRequest, detail = ""): void => {
    if (!report.violations.has(what)) report.violations.set(what, `${describeRequest(req)}${detail}`);
  };
  try {
    const requests = requestArbitrary(route, { doc, fixtures: server.fixtures, secrets: server.secrets });
    const started = performance.now();
    await fc.assert(
      fc.asyncProperty(requests, async (req) => {
        if (process.env["FUZZ_TRACE"] !== undefined) process.stderr.write(`${report.route} #${report.sent}: ${describeRequest(req).slice(0, 300)}\n`);
        const version = server.dataVersion();
        let answer: Answer;
        try {
          answer = await send(server, req);
        } catch (error) {
          note(`the request could not be sent: ${(error as Error).message}`, req);
          return true;
        }
        report.sent += 1;
        report.statuses[answer.status] = (report.statuses[answer.status] ?? 0) + 1;
        const wrong = problem(req, answer);
        if (wrong !== null) note(wrong, req, ` → ${answer.body.slice(0, 300)}`);
        if (answer.status >= 400 && answer.status < 500 && server.dataVersion() !== version) {
          report.replayed += 1;
          if (await refusalChangesState(server, req)) note(`HTTP ${answer.status}: a refused request changed the store`, req);
        }
        return true;
      }),
      { numRuns: runsPerRoute },
    );
    report.seconds = (performance.now() - started) / 1000;
    const health = await server.app.inject({ url: "/healthz" });
    if (health.statusCode !== 200) note(`/healthz answered ${health.statusCode} after the run`, { method: "GET", url: "/healthz", headers: {}, kind: "health" });
  } finally {
    await server.close();
  }
  return report;
}

describe("HTTP fuzzing", () => {
  it(`sends ${runsPerRoute} requests to every route: no 5xx, every error in Belay's shape, no change from a refused request`, { timeout: 1_800_000 }, async () => {
    const probe = await fuzzServer();
    const routes = appRoutes(probe.app);
    const doc = (await probe.app.inject({ url: "/api/v1/openapi.json" })).json<OpenApiDoc>();
    await probe.close();
    // Every operation of the document is among the routes fuzzed (a cross-check of the route list).
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) expect(routes.map(routeName)).toContain(`${method.toUpperCase()} ${path.replaceAll(/\{(\w+)\}/g, ":$1")}`);
    }

    const started = Date.now();
    const cpuBefore = process.cpuUsage();
    const pending = routes.filter((r) => onlyRoutes === undefined || routeName(r).includes(onlyRoutes));
    const reports: RouteReport[] = [];
    // allSettled: a lane that fails must not leave the others running past the test.
    const outcomes = await Promise.allSettled(
      Array.from({ length: lanes }, async () => {
        for (let route = pending.shift(); route !== undefined; route = pending.shift()) reports.push(await fuzzRoute(route, doc));
      }),
    );
    for (const outcome of outcomes) if (outcome.status === "rejected") throw outcome.reason;
    const seconds = (Date.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const total = reports.reduce((n, r) => n + r.sent, 0);
    console.log(
      `HTTP fuzz: ${total} requests to ${reports.length} routes in ${seconds.toFixed(1)} s (${Math.round(total / seconds)}/s), ${cpuSeconds.toFixed(1)} s of CPU\n` +
        reports
          .sort((a, b) => a.route.localeCompare(b.route))
          .map((r) => `  ${r.route.padEnd(42)} ${String(r.sent).padStart(6)} in ${r.seconds.toFixed(1).padStart(5)} s, replayed ${String(r.replayed).padStart(3)}  ${JSON.stringify(r.statuses)}`)
          .join("\n"),
    );

    const violations = reports.flatMap((r) => [...r.violations].map(([what, example]) => `${r.route}: ${what}\n    e.g. ${example}`));
    expect(violations).toEqual([]);
    if (onlyRoutes === undefined) expect(reports.map((r) => r.route).sort()).toEqual(routes.map(routeName).sort());
    for (const r of reports) expect(r.sent, r.route).toBeGreaterThanOrEqual(runsPerRoute);
  });

  it("answers a few hundred raw-socket garbage requests without a 5xx or a crash, errors in Belay's shape", { timeout: 300_000 }, async () => {
    const server = await fuzzServer();
    try {
      const address = await server.app.listen({ host: "127.0.0.1", port: 0 });
      const port = Number(new URL(address).port);
      const requests = rawRequests(server.secrets.admin, server.fixtures.jobIds[0] ?? "");
      const violations = new Map<string, string>();
      let answered = 0;
      for (const raw of requests) {
        const reply = await exchange(port, raw.bytes);
        for (const response of parseResponses(reply)) {
          answered += 1;
          const wrong = problem({ method: raw.method, url: raw.path, headers: {}, kind: raw.kind }, response, true);
          if (wrong !== null && !violations.has(wrong)) violations.set(wrong, `${raw.kind}: ${JSON.stringify(raw.bytes.toString("latin1").slice(0, 200))} → ${response.body.slice(0, 200)}`);
        }
      }
      console.log(`raw-socket fuzz: ${requests.length} requests, ${answered} answers`);
      expect([...violations].map(([what, example]) => `${what}\n    e.g. ${example}`)).toEqual([]);
      expect(requests.length).toBeGreaterThanOrEqual(300);
      // Still up, and still serving the API.
      expect((await fetch(`${address}/healthz`)).status).toBe(200);
      const jobs = await fetch(`${address}/api/v1/jobs`, { headers: { authorization: `Bearer ${server.secrets.viewer}` } });
      expect(jobs.status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

/** Write `bytes`, half-close, and collect whatever comes back until the server closes or 1 s passes. */
function exchange(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: "127.0.0.1", port });
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks));
    };
    const timer = setTimeout(done, 1000);
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", done);
    socket.on("close", done);
    socket.on("connect", () => socket.end(bytes));
  });
}

/** The HTTP/1.1 responses in a byte stream (status, content type, body by content-length or to the end). */
export function parseResponses(data: Buffer): Answer[] {
  const answers: Answer[] = [];
  let rest = data;
  while (rest.length > 0) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) break;
    const head = rest.subarray(0, end).toString("latin1").split("\r\n");
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? "");
    if (status === null) break;
    const header = (name: string): string | undefined => head.find((h) => h.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim();
    const length = Number(header("content-length") ?? Number.NaN);
    const bodyStart = end + 4;
    if (header("transfer-encoding")?.toLowerCase() === "chunked") {
      const chunks: Buffer[] = [];
      let at = bodyStart;
      for (;;) {
        const lineEnd = rest.indexOf("\r\n", at);
        const size = lineEnd < 0 ? 0 : Number.parseInt(rest.subarray(at, lineEnd).toString("latin1"), 16);
        if (lineEnd < 0 || !(size > 0)) {
          at = lineEnd < 0 ? rest.length : Math.min(rest.length, lineEnd + 4);
          break;
        }
        chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
      }
      answers.push({ status: Number(status[1]), contentType: header("content-type") ?? "", body: Buffer.concat(chunks).toString("utf8") });
      rest = rest.subarray(at);
      continue;
    }
    const bodyEnd = Number.isFinite(length) ? bodyStart + length : rest.length;
    answers.push({ status: Number(status[1]), contentType: header("content-type") ?? "", body: rest.subarray(bodyStart, bodyEnd).toString("utf8") });
    rest = rest.subarray(bodyEnd);
  }
  return answers;
}
