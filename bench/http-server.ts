/**
 * A server for the HTTP workloads of the benchmark (H0–H3), run as a CHILD process so that
 * the client (bench/run.ts) and the server do not share an event loop.
 *
 *   node bench/http-server.ts belay <concurrency>   Belay's server (startServer) on a temp home
 *   node bench/http-server.ts floor                 a minimal node:http server answering {}
 *
 * Prints one JSON line on stdout when listening: `{"url", "token", "pid"}` (token: the admin
 * token of the temp home; "" for the floor). Then reads commands on stdin, one per line:
 *
 *   stats           print one JSON line: server-side timings since the last `stats` (or the
 *                   start), per request kind and per wrapped engine/store call, the process's
 *                   CPU time and the main thread's busy time
 *   profile         start the V8 CPU profiler on the main thread (node:inspector, 100 µs
 *                   sampling); prints `{}`
 *   profile-stop P  stop it and write the profile to the file P (.cpuprofile, for Chrome
 *                   DevTools or `node bench/profile-top.ts P`); prints `{"path": P}`
 *
 * When stdin ends (the parent closes it, or dies) the server closes, the temp home is
 * removed and the process exits. Not a test; asserts nothing.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { Session } from "node:inspector/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pino } from "pino";
import { startServer } from "../src/server/serve.ts";

export interface TimingSummary {
  count: number;
  p50: number;
  p99: number;
  mean: number;
}

/** What `stats` prints: durations in ms. */
export interface ServerStats {
  /** Request arrival (`request` event) → response finished, per `METHOD /path-with-:id`. */
  requests: Record<string, TimingSummary>;
  /** Wrapped calls (engine.submit, engine.getJob, engine.cancelJob, store.findToken, store.dueDeliveries). */
  calls: Record<string, TimingSummary>;
  /** CPU time of the process (all threads) over the wall time since the last `stats`. */
  cpuMs: number;
  /** Time the main thread's event loop was not idle (eventLoopUtilization). */
  mainBusyMs: number;
  wallMs: number;
}

const samples = new Map<string, number[]>();
const callSamples = new Map<string, number[]>();

function record(into: Map<string, number[]>, key: string, ms: number): void {
  let list = into.get(key);
  if (list === undefined) into.set(key, (list = []));
  list.push(ms);
}

function summarize(into: Map<string, number[]>): Record<string, TimingSummary> {
  const out: Record<string, TimingSummary> = {};
  for (const [key, list] of into) {
    const sorted = [...list].sort((a, b) => a - b);
    const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
    out[key] = { count: list.length, p50: at(50), p99: at(99), mean: list.reduce((a, b) => a + b, 0) / list.length };
  }
  return out;
}

/** Requests received and not yet finished. */
let inFlight = 0;

/** Time every request the server handles: `request` event (before the framework's listener) → `finish`. */
function timeRequests(server: Server): void {
  server.prependListener("request", (request, response) => {
    const t = performance.now();
    inFlight += 1;
    response.once("close", () => (inFlight -= 1));
    const path = (request.url ?? "").split("?")[0]?.replace(/\/jobs\/[^/]+/, "/jobs/:id") ?? "";
    response.once("finish", () => record(samples, `${request.method ?? "?"} ${path}`, performance.now() - t));
  });
}

/**
 * Replace `target[name]` (an async method) by a timed wrapper recording into callSamples;
 * with `split`, calls made while a request is in flight and between requests apart.
 */
function timeMethod(target: object, name: string, label: string, split = false): void {
  const holder = target as Record<string, unknown>;
  const original = holder[name];
  if (typeof original !== "function") return;
  const bound = (original as (...args: unknown[]) => Promise<unknown>).bind(target);
  holder[name] = async (...args: unknown[]): Promise<unknown> => {
    const t = performance.now();
    const key = split ? `${label}${inFlight > 0 ? " [while a request is in flight]" : " [between requests]"}` : label;
    try {
      return await bound(...args);
    } finally {
      record(callSamples, key, performance.now() - t);
    }
  };
}

let cpuMark = process.cpuUsage();
let wallMark = performance.now();
let eluMark = performance.eventLoopUtilization();

function stats(): ServerStats {
  const cpu = process.cpuUsage(cpuMark);
  const elu = performance.eventLoopUtilization(eluMark);
  const out: ServerStats = {
    requests: summarize(samples),
    calls: summarize(callSamples),
    cpuMs: (cpu.user + cpu.system) / 1000,
    mainBusyMs: elu.active,
    wallMs: performance.now() - wallMark,
  };
  samples.clear();
  callSamples.clear();
  cpuMark = process.cpuUsage();
  wallMark = performance.now();
  eluMark = performance.eventLoopUtilization();
  return out;
}

let session: Session | null = null;

async function command(line: string): Promise<unknown> {
  const [name, ...rest] = line.trim().split(" ");
  if (name === "stats") return stats();
  if (name === "profile") {
    session = new Session();
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 100 });
    await session.post("Profiler.start");
    return {};
  }
  if (name === "profile-stop" && session !== null) {
    const path = rest.join(" ");
    const { profile } = await session.post("Profiler.stop");
    writeFileSync(path, JSON.stringify(profile));
    session.disconnect();
    session = null;
    return { path };
  }
  return { error: `unknown command: ${line}` };
}

const kind = process.argv[2];
let close: () => Promise<void>;
let url: string;
let token = "";

if (kind === "floor") {
  const server = createServer((request, response) => {
    // Read the body to the end (as a JSON API does), then answer {}.
    request.resume();
    request.once("end", () => {
      response.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": "2" });
      response.end("{}");
    });
  });
  timeRequests(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
} else if (kind === "belay") {
  const concurrency = Number(process.argv[3] ?? "0");
  const home = mkdtempSync(join(tmpdir(), "belay-bench-http-"));
  const running = await startServer({
    home,
    port: 0,
    concurrency,
    logger: pino({ level: "silent" }),
    rateLimitPerMinute: 1_000_000_000,
  });
  timeRequests(running.app.server);
  timeMethod(running.engine, "submit", "engine.submit");
  timeMethod(running.engine, "getJob", "engine.getJob");
  timeMethod(running.engine, "cancelJob", "engine.cancelJob");
  timeMethod(running.engine.store, "findToken", "store.findToken (auth)");
  // The webhook dispatcher's delivery pass (src/server/webhooks.ts) queries this after events.
  timeMethod(running.engine.store, "dueDeliveries", "store.dueDeliveries (webhook pass)", true);
  url = running.url;
  token = readFileSync(join(home, "admin.token"), "utf8").trim();
  close = async () => {
    try {
      await running.close({ graceMs: 0 });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  };
} else {
  process.stderr.write('usage: node bench/http-server.ts belay <concurrency> | floor\n');
  process.exit(2);
}

process.stdout.write(`${JSON.stringify({ url, token, pid: process.pid })}\n`);

const lines = createInterface({ input: process.stdin });
// One command at a time, answered in order.
let queue = Promise.resolve();
lines.on("line", (line) => {
  queue = queue.then(async () => {
    const answer = await command(line).catch((error: unknown) => ({ error: (error as Error).message }));
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  });
});
lines.once("close", () => {
  void queue
    .then(() => close())
    .catch((error: unknown) => process.stderr.write(`  (server close failed: ${(error as Error).message})\n`))
    .finally(() => process.exit(0));
});
