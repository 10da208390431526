/**
 * A fake remote job service, speaking the `http` adapter's contract (docs/remote-adapter.md),
 * for tests and demos: `belay fake-remote`, or `startFakeRemote()` in-process.
 *
 * Each job behaves as its input says (see `FakeJobKnobs`). `setDown(true)` makes every
 * request answer 503 — the port stays open so the service can come back on the same URL;
 * jobs go on running behind it, as a cloud backend's would during an API outage.
 */
import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import type { Json } from "../core/model.ts";
import { FakeJob, parseKnobs } from "./job.ts";
import type { FakeJobView } from "./job.ts";

export type { FakeJobView } from "./job.ts";

export interface FakeRemoteOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** When set, every request must carry `Authorization: Bearer <token>` (else 401). */
  token?: string;
}

export interface FakeRemote {
  url: string;
  /** Stop answering (503) or answer again. */
  setDown(down: boolean): void;
  /** Snapshots of every job, oldest first, with the calls each received. */
  jobs(): FakeJobView[];
  job(id: string): FakeJobView | undefined;
  /** Stop every job's timers and the server; requests still held (cancel `timeout`) are dropped. */
  close(): Promise<void>;
}

const maxBodyBytes = 1024 * 1024;

class HttpProblem extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function startFakeRemote(options: FakeRemoteOptions = {}): Promise<FakeRemote> {
  const jobs = new Map<string, FakeJob>();
  let down = false;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (down) throw new HttpProblem(503, "UNAVAILABLE", "the fake remote service is down");
    if (options.token !== undefined && req.headers.authorization !== `Bearer ${options.token}`) {
      throw new HttpProblem(401, "UNAUTHENTICATED", "a valid bearer token is required");
    }
    const path = new URL(req.url ?? "/", "http://fake").pathname.replace(/\/+$/, "");
    const parts = path.split("/").slice(1).map(decoded);
    const method = req.method ?? "GET";

    if (method === "GET" && path === "/healthz") return send(res, 200, { ok: true });
    if (parts[0] !== "jobs") throw new HttpProblem(404, "NOT_FOUND", `no route ${method} ${path}`);
    if (parts.length === 1 && method === "POST") return submit(req, res);
    if (parts.length === 1 && method === "GET") return send(res, 200, { items: [...jobs.values()].map((j) => j.wire()) });
    const job = jobs.get(parts[1] ?? "");
    if (parts.length === 2 && method === "GET") {
      if (job === undefined) throw new HttpProblem(404, "NOT_FOUND", `no job ${parts[1]}`);
      return answer(job, "poll", res, 200, job.wire());
    }
    if (parts.length === 3 && parts[2] === "cancel" && method === "POST") {
      if (job === undefined) throw new HttpProblem(404, "NOT_FOUND", `no job ${parts[1]}`);
      return cancel(job, res);
    }
    throw new HttpProblem(404, "NOT_FOUND", `no route ${method} ${path}`);
  };

  const submit = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readJson(req);
    const input = field(body, "input") ?? null;
    const knobs = parseKnobs(input);
    if (typeof knobs === "string") throw new HttpProblem(400, "INVALID_INPUT", knobs);
    const job = new FakeJob(randomUUID(), input, field(body, "belay") ?? null, knobs);
    jobs.set(job.id, job);
    answer(job, "submit", res, 201, { id: job.id, state: job.state });
  };

  const cancel = (job: FakeJob, res: ServerResponse): void => {
    if (job.state === "cancelled" || job.cancelRequested) return answer(job, "cancel", res, 200, { id: job.id, state: job.state });
    if (job.finished) {
      return answer(job, "cancel", res, 409, { error: { code: "ALREADY_FINISHED", message: `job ${job.id} has already ${job.state}` } });
    }
    if (job.knobs.cancel === "fail") {
      return answer(job, "cancel", res, 500, { error: { code: "CANCEL_FAILED", message: `the backend could not stop job ${job.id}` } });
    }
    if (job.knobs.cancel === "timeout") {
      job.logCall("cancel"); // never answered: the client must give up on its own
      return;
    }
    job.acceptCancel();
    answer(job, "cancel", res, 202, { id: job.id, state: job.state });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const problem = error instanceof HttpProblem ? error : new HttpProblem(500, "INTERNAL", (error as Error).message);
      // A job's calls are logged even when refused, so a test can see a cancel reached a service that was down.
      const job = jobOf(req.url);
      if (job !== undefined) job.logCall(req.method === "GET" ? "poll" : "cancel")(problem.status);
      send(res, problem.status, { error: { code: problem.code, message: problem.message } });
    });
  });
  const jobOf = (url: string | undefined): FakeJob | undefined => jobs.get(decoded(url?.split("?")[0]?.split("/")[2] ?? ""));

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    setDown: (value) => {
      down = value;
    },
    jobs: () => [...jobs.values()].map((j) => j.view()),
    job: (id) => jobs.get(id)?.view(),
    close: async () => {
      for (const job of jobs.values()) job.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function answer(job: FakeJob, op: "submit" | "poll" | "cancel", res: ServerResponse, status: number, body: Json): void {
  job.logCall(op)(status);
  send(res, status, body);
}

function send(res: ServerResponse, status: number, body: Json): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBodyBytes) throw new HttpProblem(413, "TOO_LARGE", `the body exceeds ${maxBodyBytes} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  try {
    return text === "" ? {} : (JSON.parse(text) as unknown);
  } catch {
    throw new HttpProblem(400, "INVALID_JSON", "the body is not JSON");
  }
}

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function field(body: unknown, name: string): Json | undefined {
  return typeof body === "object" && body !== null && !Array.isArray(body) ? (body as Record<string, Json>)[name] : undefined;
}
