/**
 * Webhooks: admin routes, signed CloudEvents deliveries to a real local receiver, retries with
 * backoff. The dispatcher runs with `allowPrivateTargets` (--webhook-allow-private): the receivers are on loopback.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import type { IncomingHttpHeaders, Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebhookDispatcher, createWebhooks, signPayload, verifySignature } from "../../src/server/webhooks.ts";
import type { BelayWebhooks, WebhookDispatcherOptions } from "../../src/server/webhooks.ts";
import { testServer } from "./helpers.ts";
import type { TestServer } from "./helpers.ts";
import { until, untilJobStatus } from "../helpers.ts";

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

interface Receiver {
  url: string;
  received: Received[];
}

const servers: Server[] = [];
const dispatchers: WebhookDispatcher[] = [];
afterEach(async () => {
  await Promise.all(dispatchers.splice(0).map((d) => d.stop()));
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

/** A real HTTP receiver on 127.0.0.1; `answer(n)` gives the status of the n-th request (1-based), or null to never answer. */
async function receiver(answer: (n: number) => number | null = () => 200, extraHeaders: (n: number) => Record<string, string> = () => ({})): Promise<Receiver> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), at: Date.now() });
      const status = answer(received.length);
      if (status === null) return;
      res.writeHead(status, { "content-type": "text/plain", ...extraHeaders(received.length) });
      res.end("ok");
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

// The receivers listen on 127.0.0.1, which webhooks may reach only with --webhook-allow-private
// (webhook-targets.test.ts checks the refusals).
const fast: WebhookDispatcherOptions = { intervalMs: 10, baseDelayMs: 20, maxDelayMs: 200, timeoutMs: 2000, allowPrivateTargets: true };

async function serverWithWebhooks(options: WebhookDispatcherOptions = fast, engineOptions: Parameters<typeof testServer>[0] = {}): Promise<TestServer & { webhooks: BelayWebhooks }> {
  let webhooks!: BelayWebhooks;
  const s = await testServer(engineOptions, {}, (engine) => {
    webhooks = createWebhooks(engine, options);
    return { extensions: [webhooks.extension], stop: webhooks.stop };
  });
  return Object.assign(s, { webhooks });
}

function hmacHex(secret: string, payload: string): string {
  return createHmac("sha256", secret).update(payload).digest("hex");
}

describe("webhook deliveries", () => {
  it("POSTs each subscribed event as a CloudEvent with a valid HMAC signature, and nothing else", async () => {
    const s = await serverWithWebhooks();
    const r = await receiver();
    const secret = "a-secret-of-some-length";
    const created = await s.call("admin", "POST", "/api/v1/webhooks", { url: r.url, eventTypes: ["belay.job.created", "belay.job.succeeded"], secret });
    expect(created.statusCode).toBe(201);
    expect(created.json.webhook).toEqual({ id: expect.any(String), url: r.url, eventTypes: ["belay.job.created", "belay.job.succeeded"], createdBy: "admin", createdAt: expect.any(String) });
    expect(created.json.secret).toBeUndefined();
    expect(created.body).not.toContain(secret);
    const hookId = created.json.webhook.id as string;

    const job = (await s.call("operator", "POST", "/api/v1/jobs", { command: ["true"] })).json.job.id as string;
    await untilJobStatus(s.engine, job, "succeeded");
    await until(async () => r.received.length, (n) => n >= 2);
    await s.webhooks.dispatcher.flush();

    // Deliveries run concurrently, so their order is not the events' order.
    expect(r.received.map((x) => JSON.parse(x.body).type).sort()).toEqual(["belay.job.created", "belay.job.succeeded"]);
    for (const { headers, body } of r.received) {
      const event = JSON.parse(body);
      expect(event.subject).toBe(job);
      expect(event.specversion).toBe("1.0");
      expect(headers["content-type"]).toBe("application/cloudevents+json");
      expect(headers["ce-id"]).toBe(event.id);
      expect(headers["ce-type"]).toBe(event.type);
      expect(headers["ce-source"]).toBe("belay");
      expect(headers["ce-specversion"]).toBe("1.0");
      expect(headers["belay-webhook-id"]).toBe(hookId);
      // The signature, checked independently of the server's helper: t=<unix s>,v1=<hex HMAC-SHA256("<t>.<body>")>.
      const signature = String(headers["belay-signature"]);
      const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature);
      expect(match).not.toBeNull();
      const t = Number(match?.[1]);
      expect(Math.abs(t - Date.now() / 1000)).toBeLessThan(60);
      const expected = Buffer.from(hmacHex(secret, `${t}.${body}`), "hex");
      expect(timingSafeEqual(Buffer.from(match?.[2] ?? "", "hex"), expected)).toBe(true);
      expect(verifySignature(secret, body, signature)).toBe(true);
      expect(verifySignature("another-secret-entirely", body, signature)).toBe(false);
      expect(verifySignature(secret, body.replace(job, "0190a7a4-0000-7000-8000-000000000000"), signature)).toBe(false);
      expect(verifySignature(secret, body, signature, { nowSeconds: t + 3600 })).toBe(false);
    }

    const deliveries = await s.call("admin", "GET", `/api/v1/webhooks/${hookId}/deliveries`);
    expect(deliveries.statusCode).toBe(200);
    expect(deliveries.json.items).toHaveLength(2);
    for (const d of deliveries.json.items) {
      expect(d).toMatchObject({ status: "delivered", attempts: 1, lastStatusCode: 200, lastError: null, nextAttemptAt: null, jobId: job });
      expect(d.deliveredAt).toEqual(expect.any(String));
    }
    const list = await s.call("admin", "GET", "/api/v1/webhooks");
    expect(list.json.items).toEqual([created.json.webhook]);
    expect(list.body).not.toContain(secret);
  });

  it("an empty eventTypes list subscribes to every type; a generated secret is returned once and signs", async () => {
    const s = await serverWithWebhooks();
    const r = await receiver();
    const created = await s.call("admin", "POST", "/api/v1/webhooks", { url: r.url });
    expect(created.statusCode).toBe(201);
    const secret = created.json.secret as string;
    expect(secret).toMatch(/^whsec_/);
    expect(created.json.webhook.eventTypes).toEqual([]);
    expect((await s.call("admin", "GET", "/api/v1/webhooks")).body).not.toContain(secret);

    const job = (await s.call("operator", "POST", "/api/v1/jobs", { command: ["true"] })).json.job.id as string;
    await untilJobStatus(s.engine, job, "succeeded");
    const events = await s.engine.getJobEvents(job);
    await until(async () => r.received.length, (n) => n >= events.length);
    await s.webhooks.dispatcher.flush();
    expect(r.received.map((x) => JSON.parse(x.body).id).sort()).toEqual(events.map((e) => e.id).sort());
    expect(r.received.map((x) => JSON.parse(x.body).type)).toEqual(expect.arrayContaining(["belay.job.created", "belay.task.started", "belay.job.succeeded"]));
    for (const x of r.received) expect(verifySignature(secret, x.body, String(x.headers["belay-signature"]))).toBe(true);
  });

  it("retries with exponential backoff: 500, 500, then 200 delivers on the 3rd attempt", async () => {
    const s = await serverWithWebhooks({ ...fast, baseDelayMs: 50 });
    const r = await receiver((n) => (n <= 2 ? 500 : 200));
    const hookId = (await s.call("admin", "POST", "/api/v1/webhooks", { url: r.url, eventTypes: ["belay.job.created"], secret: "0123456789abcdef" })).json.webhook.id as string;
    await s.call("operator", "POST", "/api/v1/jobs", { command: ["true"] });

    const deliveries = await until(
      async () => (await s.call("admin", "GET", `/api/v1/webhooks/${hookId}/deliveries`)).json.items,
      (items: Array<{ status: string }>) => items[0]?.status === "delivered",
    );
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]).toMatchObject({ status: "delivered", attempts: 3, lastStatusCode: 200, lastError: null, eventType: "belay.job.created" });
    expect(r.received).toHaveLength(3);
    // The same event each time (receivers de-duplicate on ce-id), attempts numbered, signed each time.
    expect(new Set(r.received.map((x) => x.headers["ce-id"])).size).toBe(1);
    expect(r.received.map((x) => x.headers["belay-delivery-attempt"])).toEqual(["1", "2", "3"]);
    for (const x of r.received) expect(verifySignature("0123456789abcdef", x.body, String(x.headers["belay-signature"]))).toBe(true);
    // Backoff: about 50 ms, then about 100 ms.
    const [a, b, c] = r.received.map((x) => x.at) as [number, number, number];
    expect(b - a).toBeGreaterThanOrEqual(45);
    expect(c - b).toBeGreaterThanOrEqual(95);
  });

  it("gives up after maxAttempts: the delivery is failed, with the last status and error", async () => {
    const s = await serverWithWebhooks({ ...fast, maxAttempts: 3 });
    const r = await receiver(() => 503);
    const hookId = (await s.call("admin", "POST", "/api/v1/webhooks", { url: r.url, eventTypes: ["belay.job.created"], secret: "0123456789abcdef" })).json.webhook.id as string;
    await s.call("operator", "POST", "/api/v1/jobs", { command: ["true"] });
    const [d] = await until(
      async () => (await s.call("admin", "GET", `/api/v1/webhooks/${hookId}/deliveries`)).json.items,
      (items: Array<{ status: string }>) => items[0]?.status === "failed",
    );
    expect(d).toMatchObject({ status: "failed", attempts: 3, lastStatusCode: 503, lastError: "HTTP 503", deliveredAt: null, nextAttemptAt: null });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(r.received).toHaveLength(3);
  });

  it("times out a receiver that never answers, and does not follow redirects", async () => {
    // Long enough that the redirect's answer arrives in time on a busy machine.
    const s = await serverWithWebhooks({ ...fast, timeoutMs: 1500, maxAttempts: 1 });
    const silent = await receiver(() => null);
    const elsewhere = await receiver();
    const redirecting = await receiver(
      () => 307,
      () => ({ location: elsewhere.url }),
    );
    const slowId = (await s.call("admin", "POST", "/api/v1/webhooks", { url: silent.url, eventTypes: ["belay.job.created"], secret: "0123456789abcdef" })).json.webhook.id as string;
    const redirectId = (await s.call("admin", "POST", "/api/v1/webhooks", { url: redirecting.url, eventTypes: ["belay.job.created"], secret: "0123456789abcdef" })).json.webhook.id as string;
    await s.call("operator", "POST", "/api/v1/jobs", { command: ["true"] });
    const read = async (id: string): Promise<Array<Record<string, unknown>>> => (await s.call("admin", "GET", `/api/v1/webhooks/${id}/deliveries`)).json.items;
    const [slow] = await until(() => read(slowId), (items) => items[0]?.["status"] === "failed");
    expect(slow).toMatchObject({ attempts: 1, lastStatusCode: null, lastError: "timed out after 1500 ms" });
    const [redirect] = await until(() => read(redirectId), (items) => items[0]?.["status"] === "failed");
    expect(redirect).toMatchObject({ attempts: 1, lastStatusCode: 307, lastError: "HTTP 307" });
    expect(redirecting.received).toHaveLength(1);
    expect(elsewhere.received).toHaveLength(0);
  });

  it("a deleted webhook gets nothing more; its pending deliveries are dropped", async () => {
    const s = await serverWithWebhooks({ ...fast, baseDelayMs: 100 });
    const r = await receiver(() => 500);
    const hookId = (await s.call("admin", "POST", "/api/v1/webhooks", { url: r.url, eventTypes: ["belay.job.created"], secret: "0123456789abcdef" })).json.webhook.id as string;
    await s.call("operator", "POST", "/api/v1/jobs", { command: ["true"] });
    await until(async () => r.received.length, (n) => n >= 1);
    expect((await s.call("admin", "DELETE", `/api/v1/webhooks/${hookId}`)).statusCode).toBe(204);
    const [d] = await until(
      () => s.engine.store.listDeliveries(hookId, 10),
      (items) => items[0]?.status === "failed",
    );
    expect(d?.lastError).toBe("webhook deleted");
    const count = r.received.length;
    await s.call("operator", "POST", "/api/v1/jobs", { command: ["true"] });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(r.received).toHaveLength(count);
    expect((await s.call("admin", "DELETE", `/api/v1/webhooks/${hookId}`)).json.error.code).toBe("NOT_FOUND");
    expect((await s.call("admin", "GET", `/api/v1/webhooks/${hookId}/deliveries`)).json.error.code).toBe("NOT_FOUND");
    expect((await s.call("admin", "GET", "/api/v1/webhooks")).json.items).toEqual([]);
  });

  it("at least once across a stop: pending deliveries and events published while stopped are sent after a restart", async () => {
    const s = await serverWithWebhooks({ ...fast, baseDelayMs: 60_000 });
    let up = false;
    const r = await receiver(() => (up ? 200 : 500));
    const hookId = (await s.call("admin", "POST", "/api/v1/webhooks", { url: r.url, eventTypes: ["belay.job.created"], secret: "0123456789abcdef" })).json.webhook.id as string;
    const first = (await s.call("operator", "POST", "/api/v1/jobs", { command: ["true"] })).json.job.id as string;
    await until(async () => r.received.length, (n) => n === 1);
    await s.webhooks.dispatcher.flush();
    await s.webhooks.stop();
    // Published while no dispatcher listens.
    const second = (await s.call("operator", "POST", "/api/v1/jobs", { command: ["true"] })).json.job.id as string;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(r.received).toHaveLength(1);

    up = true;
    // A new dispatcher on the same store (a restart), with the first delivery made due again.
    const [pending] = await s.engine.store.listDeliveries(hookId, 1);
    expect(pending?.status).toBe("pending");
    if (pending !== undefined) await s.engine.store.updateDelivery({ ...pending, nextAttemptMs: Date.now() });
    const restarted = new WebhookDispatcher(s.engine.store, s.engine, fast).start();
    dispatchers.push(restarted);
    await until(async () => r.received.filter((x) => x.headers["belay-delivery-attempt"] === "1").length, (n) => n >= 2, 5000);
    await restarted.flush();
    const subjects = r.received.map((x) => JSON.parse(x.body).subject as string);
    expect(subjects).toEqual(expect.arrayContaining([first, second]));
    const items = await s.engine.store.listDeliveries(hookId, 10);
    expect(items.map((d) => d.status)).toEqual(["delivered", "delivered"]);
  });

  it("signPayload and verifySignature agree, and reject malformed headers", () => {
    const header = signPayload("0123456789abcdef", '{"a":1}', 1_700_000_000);
    expect(header).toBe(`t=1700000000,v1=${hmacHex("0123456789abcdef", '1700000000.{"a":1}')}`);
    expect(verifySignature("0123456789abcdef", '{"a":1}', header, { nowSeconds: 1_700_000_100 })).toBe(true);
    expect(verifySignature("0123456789abcdef", '{"a":1}', "v1=abc", { nowSeconds: 1_700_000_100 })).toBe(false);
    expect(verifySignature("0123456789abcdef", '{"a":1}', "t=1700000000,v1=zz", { nowSeconds: 1_700_000_100 })).toBe(false);
    expect(verifySignature("0123456789abcdef", '{"a":1}', `t=1700000000,v1=${"0".repeat(64)},${header.split(",")[1]}`, { nowSeconds: 1_700_000_000 })).toBe(true);
  });
});

describe("webhook routes", () => {
  it("validate the request: http(s) URL, known event types, a secret of 16+ characters, no unknown field", async () => {
    const s = await serverWithWebhooks();
    const cases: Array<[unknown, string]> = [
      [{ url: "ftp://example.com/hook" }, "url"],
      [{ url: "javascript:alert(1)" }, "url"],
      [{ url: "file:///etc/passwd" }, "url"],
      [{ url: "/relative" }, "url"],
      [{ url: "http://user:pw@example.com/hook" }, "url"],
      [{ url: "https://example.com/hook", secret: "short" }, "secret"],
      [{ url: "https://example.com/hook", eventTypes: ["belay.job.exploded"] }, "eventTypes.0"],
      [{ url: "https://example.com/hook", eventTypes: "belay.job.created" }, "eventTypes"],
      [{ url: "https://example.com/hook", extra: true }, "extra"],
      [{}, "url"],
    ];
    for (const [body, field] of cases) {
      const res = await s.call("admin", "POST", "/api/v1/webhooks", body);
      expect({ body, status: res.statusCode, code: res.json?.error?.code, field: res.json?.error?.details?.field }).toEqual({ body, status: 400, code: "INVALID_REQUEST", field });
    }
    expect((await s.call("admin", "GET", "/api/v1/webhooks")).json.items).toEqual([]);
    const ok = await s.call("admin", "POST", "/api/v1/webhooks", { url: "https://example.com/hook", eventTypes: ["belay.cancellation.step"], secret: "x".repeat(16) });
    expect(ok.statusCode).toBe(201);
    expect((await s.call("admin", "DELETE", "/api/v1/webhooks/not-a-uuid")).statusCode).toBe(400);
    expect((await s.call("admin", "DELETE", "/api/v1/webhooks/0190a7a4-0000-7000-8000-000000000000")).json.error.code).toBe("NOT_FOUND");
    expect((await s.call("admin", "GET", "/api/v1/webhooks/0190a7a4-0000-7000-8000-000000000000/deliveries")).statusCode).toBe(404);
  });

  it("are admin-only: 403 FORBIDDEN for every other role, 401 without a token", async () => {
    const s = await serverWithWebhooks();
    const hookId = (await s.call("admin", "POST", "/api/v1/webhooks", { url: "https://example.com/hook", secret: "0123456789abcdef" })).json.webhook.id as string;
    const routes: Array<[string, string, unknown]> = [
      ["POST", "/api/v1/webhooks", { url: "https://example.com/other" }],
      ["GET", "/api/v1/webhooks", undefined],
      ["GET", `/api/v1/webhooks/${hookId}/deliveries`, undefined],
      ["DELETE", `/api/v1/webhooks/${hookId}`, undefined],
    ];
    for (const [method, url, body] of routes) {
      for (const role of ["viewer", "user", "operator"] as const) {
        const res = await s.call(role, method, url, body);
        expect({ method, url, role, status: res.statusCode, code: res.json?.error?.code }).toEqual({ method, url, role, status: 403, code: "FORBIDDEN" });
      }
      const anonymous = await s.call(null, method, url, body);
      expect({ method, url, status: anonymous.statusCode, code: anonymous.json?.error?.code }).toEqual({ method, url, status: 401, code: "UNAUTHENTICATED" });
    }
    // Nothing changed.
    expect((await s.call("admin", "GET", "/api/v1/webhooks")).json.items.map((h: { id: string }) => h.id)).toEqual([hookId]);
  });
});
