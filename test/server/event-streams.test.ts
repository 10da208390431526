/**
 * GET /api/v1/events is bounded (DESIGN §6), over real HTTP: a token holds at most N streams
 * (429 RATE_LIMITED beyond, its own count per token, freed when one closes), and an open
 * stream ends soon after its token is revoked or expires.
 */
import { request as httpRequest } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { createToken } from "../../src/server/auth.ts";
import { until } from "../helpers.ts";
import { testServer } from "./helpers.ts";
import type { TestServer } from "./helpers.ts";

interface OpenedStream {
  status: number;
  body: () => string;
  /** Resolves when the server ends the response. */
  ended: Promise<void>;
  close(): void;
}

function openStream(base: string, token: string): Promise<OpenedStream> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}/api/v1/events`, { headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" } }, (res: IncomingMessage) => {
      let text = "";
      res.setEncoding("utf8");
      const ended = new Promise<void>((done) => {
        res.on("end", done);
        res.on("close", done);
      });
      res.on("data", (chunk: string) => (text += chunk));
      resolve({ status: res.statusCode ?? 0, body: () => text, ended, close: () => req.destroy() });
    });
    req.on("error", reject);
    req.end();
  });
}

async function listening(limits: { maxStreamsPerToken?: number; authCheckMs?: number } = {}): Promise<{ s: TestServer; base: string }> {
  const s = await testServer({ concurrency: 0 }, { eventStreams: limits });
  const base = await s.app.listen({ host: "127.0.0.1", port: 0 });
  return { s, base };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))]);
}

describe("event streams are bounded", () => {
  it("a token holds at most N streams: the next is 429 RATE_LIMITED, another token is not affected, a closed one frees its place", async () => {
    const { s, base } = await listening({ maxStreamsPerToken: 2 });
    const first = await openStream(base, s.tokens.viewer);
    const second = await openStream(base, s.tokens.viewer);
    expect([first.status, second.status]).toEqual([200, 200]);
    const third = await openStream(base, s.tokens.viewer);
    expect(third.status).toBe(429);
    await third.ended;
    expect(JSON.parse(third.body()).error).toMatchObject({ code: "RATE_LIMITED", details: { limit: 2 } });
    expect((await openStream(base, s.tokens.user)).status).toBe(200);

    first.close();
    let again: OpenedStream | null = null;
    for (let i = 0; i < 100 && again?.status !== 200; i += 1) {
      await new Promise((r) => setTimeout(r, 50));
      again = await openStream(base, s.tokens.viewer);
    }
    expect(again?.status).toBe(200);
    for (const st of [second, again]) st?.close();
  });

  it("revoking the token ends its open stream within seconds (default check), and it stays refused", async () => {
    const { s, base } = await listening();
    const { secret, token } = await createToken(s.engine.store, { name: "watcher", role: "viewer" });
    const stream = await openStream(base, secret);
    expect(stream.status).toBe(200);
    const other = await openStream(base, s.tokens.viewer);
    expect((await s.call("admin", "DELETE", `/api/v1/tokens/${token.id}`)).statusCode).toBe(204);
    const revokedAt = Date.now();
    await within(stream.ended, 6000, "the revoked token's stream ending");
    expect(Date.now() - revokedAt).toBeLessThan(6000);
    expect(stream.body()).toContain(": stream closed: unknown or revoked token");
    expect((await openStream(base, secret)).status).toBe(401);
    // The other token's stream is still open.
    const late = await Promise.race([other.ended.then(() => "ended"), new Promise((r) => setTimeout(() => r("open"), 300))]);
    expect(late).toBe("open");
    other.close();
  });

  it("a stream ends when its token expires", async () => {
    const { s, base } = await listening({ authCheckMs: 200 });
    const { secret } = await createToken(s.engine.store, { name: "short", role: "viewer", expiresInSeconds: 1 });
    const stream = await openStream(base, secret);
    expect(stream.status).toBe(200);
    await within(stream.ended, 5000, "the expired token's stream ending");
    expect(stream.body()).toMatch(/: stream closed: token expired at /);
  });

  it("a reader that stops reading costs bounded memory, and once it reads again it gets every event, in order, without a gap", { timeout: 180_000 }, async () => {
    const responses: ServerResponse[] = [];
    const s = await testServer({ concurrency: 1 }, { eventStreams: { maxQueuedEvents: 20 } }, () => ({
      extensions: [
        {
          registerApiRoutes: (api) =>
            api.addHook("onRequest", async (request, reply) => {
              if (request.url.startsWith("/api/v1/events")) responses.push(reply.raw);
            }),
        },
      ],
    }));
    const base = new URL(await s.app.listen({ host: "127.0.0.1", port: 0 }));
    // A raw socket that sends its request and then reads nothing.
    const socket = connect(Number(base.port), "127.0.0.1");
    socket.pause();
    socket.write(`GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${s.tokens.viewer}\r\nAccept: text/event-stream\r\n\r\n`);
    while (responses.length === 0) await new Promise((r) => setTimeout(r, 20));
    const response = responses[0] as ServerResponse;

    // About 24 MB of events (400 progress updates of 60 kB), far beyond what the kernel's socket buffers hold.
    const script = 'big=$(head -c 60000 /dev/zero | tr "\\0" x); i=0; while [ $i -lt 400 ]; do echo "BELAY_PROGRESS {\\"message\\": \\"$i $big\\"}"; i=$((i+1)); done';
    const job = (await s.call("operator", "POST", "/api/v1/jobs", { command: ["sh", "-c", script] })).json.job.id as string;
    let peakBytes = 0;
    const sampler = setInterval(() => (peakBytes = Math.max(peakBytes, response.writableLength)), 5);
    // Writing 24 MB of progress takes a while on a busy machine: wait on the status alone (not the whole job in a failure message).
    await until(async () => (await s.engine.getJob(job)).status, (status) => status === "succeeded", 150_000);
    await new Promise((r) => setTimeout(r, 300));
    clearInterval(sampler);
    const stored = await s.engine.getJobEvents(job);
    const progress = stored.filter((e) => e.type === "belay.task.progress").length;
    expect(progress).toBeGreaterThan(300);
    // What waits in the server for this reader: about one frame, never the backlog.
    expect(peakBytes).toBeLessThan(1024 * 1024);

    // Reading again: everything arrives, each event once, in order.
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (text += chunk));
    socket.resume();
    const lastId = stored.at(-1)?.id ?? "";
    const deadline = Date.now() + 60_000;
    while (!text.includes(`id: ${lastId}\n`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    const received = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    const jobIds = new Set(stored.map((e) => Number(e.id)));
    const ofJob = received.filter((id) => jobIds.has(id));
    expect(ofJob).toEqual(stored.map((e) => Number(e.id)));
    expect([...received].sort((a, b) => a - b)).toEqual(received);
    expect(new Set(received).size).toBe(received.length);
  });
});
