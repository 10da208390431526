/**
 * Webhooks cannot be aimed inside the server's network (DESIGN §6): loopback, link-local,
 * private, multicast and unspecified targets are refused at registration (IP literals,
 * localhost) and at delivery (the address the socket connects to, so a name that resolves
 * to 127.0.0.1 is refused too), unless `--webhook-allow-private`. A refused delivery says
 * "target address not allowed" whether or not anything listens there.
 */
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { LookupAddress } from "node:dns";
import { afterEach, describe, expect, it } from "vitest";
import { createWebhooks } from "../../src/server/webhooks.ts";
import type { BelayWebhooks, WebhookDispatcherOptions } from "../../src/server/webhooks.ts";
import { guardedLookup, isPublicAddress, targetNotAllowed } from "../../src/server/webhook-targets.ts";
import type { Resolver } from "../../src/server/webhook-targets.ts";
import { newId } from "../../src/engine/ids.ts";
import { testServer } from "./helpers.ts";
import type { TestServer } from "./helpers.ts";
import { until } from "../helpers.ts";

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

/** A real receiver on a loopback address; counts what reaches it. */
async function receiver(host = "127.0.0.1"): Promise<{ port: number; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits += 1;
    req.resume();
    res.end("ok");
  });
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, resolve);
  });
  return { port: (server.address() as AddressInfo).port, hits: () => hits };
}

/** Names the test controls: `rebind.test` resolves to 127.0.0.1, as a rebinding attacker's name would. */
const testResolver: Resolver = async (hostname) => {
  if (hostname === "rebind.test") return [{ address: "127.0.0.1", family: 4 }];
  if (hostname === "metadata.test") return [{ address: "169.254.169.254", family: 4 }];
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
};

async function serverWith(options: WebhookDispatcherOptions): Promise<TestServer & { webhooks: BelayWebhooks }> {
  let webhooks!: BelayWebhooks;
  const s = await testServer({}, {}, (engine) => {
    webhooks = createWebhooks(engine, { intervalMs: 10, baseDelayMs: 20, maxDelayMs: 100, timeoutMs: 2000, maxAttempts: 2, resolver: testResolver, ...options });
    return { extensions: [webhooks.extension], stop: webhooks.stop };
  });
  return Object.assign(s, { webhooks });
}

const internalTargets = [
  "http://127.0.0.1:9/hook",
  "http://127.1.2.3/hook",
  "http://[::1]:9/hook",
  "http://169.254.169.254/latest/meta-data/",
  "http://10.0.0.1/hook",
  "http://172.16.0.1/hook",
  "http://192.168.1.1/hook",
  "http://100.64.0.1/hook",
  "http://0.0.0.0:9/hook",
  "http://[::]:9/hook",
  "http://224.0.0.1/hook",
  "http://255.255.255.255/hook",
  "http://[::ffff:127.0.0.1]:9/hook",
  "http://[::ffff:a9fe:a9fe]/hook",
  "http://[fe80::1]/hook",
  "http://[fc00::1]/hook",
  "http://[64:ff9b::7f00:1]/hook",
  "http://localhost:9/hook",
  "http://api.localhost/hook",
  // WHATWG URL parsing turns these spellings into 127.0.0.1 before anything is checked.
  "http://2130706433/hook",
  "http://0x7f.0.0.1/hook",
];

describe("webhook targets", () => {
  it("refuses loopback, link-local, private, multicast and unspecified targets at registration (400, nothing stored)", async () => {
    const s = await serverWith({});
    for (const url of internalTargets) {
      const res = await s.call("admin", "POST", "/api/v1/webhooks", { url });
      expect({ url, status: res.statusCode, code: res.json?.error?.code, reason: res.json?.error?.details?.reason }).toEqual({ url, status: 400, code: "INVALID_REQUEST", reason: "target_not_allowed" });
      expect(res.json.error.message).toMatch(/target address not allowed/);
      expect(res.json.error.message).toContain("--webhook-allow-private");
    }
    expect((await s.call("admin", "GET", "/api/v1/webhooks")).json.items).toEqual([]);
    // A public address or name is accepted (names are checked when a delivery connects).
    expect((await s.call("admin", "POST", "/api/v1/webhooks", { url: "https://93.184.215.14/hook" })).statusCode).toBe(201);
    expect((await s.call("admin", "POST", "/api/v1/webhooks", { url: "https://hooks.example.com/x" })).statusCode).toBe(201);
  });

  it("refuses at delivery a name resolving to 127.0.0.1 or 169.254.169.254, and a stored loopback URL: the receiver gets nothing, and the error reveals nothing", async () => {
    const s = await serverWith({});
    const listening = await receiver();
    // A port nothing listens on: its refusal must read exactly like the one of a live port.
    const closed = await receiver();
    servers.pop()?.close();
    const hooks = [
      (await s.call("admin", "POST", "/api/v1/webhooks", { url: `http://rebind.test:${listening.port}/hook`, eventTypes: ["belay.job.created"] })).json.webhook.id as string,
      (await s.call("admin", "POST", "/api/v1/webhooks", { url: `http://rebind.test:${closed.port}/hook`, eventTypes: ["belay.job.created"] })).json.webhook.id as string,
      (await s.call("admin", "POST", "/api/v1/webhooks", { url: `http://metadata.test/latest/meta-data/`, eventTypes: ["belay.job.created"] })).json.webhook.id as string,
    ];
    // A webhook stored before the registration check existed (or by another path) is still refused when sent.
    const legacy = newId();
    await s.engine.store.insertWebhook({ id: legacy, url: `http://127.0.0.1:${listening.port}/hook`, eventTypes: ["belay.job.created"], secret: "0123456789abcdef", createdBy: "admin", createdAt: new Date().toISOString() });
    s.webhooks.dispatcher.invalidate();
    hooks.push(legacy);

    await s.call("user", "POST", "/api/v1/jobs", { command: ["true"] });
    for (const id of hooks) {
      const [d] = await until(
        async () => (await s.call("admin", "GET", `/api/v1/webhooks/${id}/deliveries`)).json.items as Array<Record<string, unknown>>,
        (items) => items[0]?.["status"] === "failed",
      );
      expect(d).toMatchObject({ status: "failed", attempts: 2, lastStatusCode: null, lastError: targetNotAllowed });
    }
    expect(listening.hits()).toBe(0);
  });

  it("with --webhook-allow-private the same targets are accepted and delivered to", async () => {
    const s = await serverWith({ allowPrivateTargets: true });
    for (const url of ["http://127.0.0.1:9/hook", "http://[::1]:9/hook", "http://169.254.169.254/hook", "http://10.0.0.1/hook", "http://localhost:9/hook"]) {
      const res = await s.call("admin", "POST", "/api/v1/webhooks", { url });
      expect({ url, status: res.statusCode }).toEqual({ url, status: 201 });
      await s.call("admin", "DELETE", `/api/v1/webhooks/${res.json.webhook.id as string}`);
    }
    const v4 = await receiver();
    // The test's own name reaches the receiver only through the delivery's lookup: proof that the socket connects where the lookup said.
    const byName = (await s.call("admin", "POST", "/api/v1/webhooks", { url: `http://rebind.test:${v4.port}/hook`, eventTypes: ["belay.job.created"] })).json.webhook.id as string;
    const byLiteral = (await s.call("admin", "POST", "/api/v1/webhooks", { url: `http://127.0.0.1:${v4.port}/hook`, eventTypes: ["belay.job.created"] })).json.webhook.id as string;
    let v6: { port: number; hits: () => number } | null = null;
    try {
      v6 = await receiver("::1");
    } catch {
      console.warn("webhook-targets.test: no IPv6 loopback here; the [::1] delivery is not exercised");
    }
    const byV6 = v6 === null ? null : ((await s.call("admin", "POST", "/api/v1/webhooks", { url: `http://[::1]:${v6.port}/hook`, eventTypes: ["belay.job.created"] })).json.webhook.id as string);
    await s.call("user", "POST", "/api/v1/jobs", { command: ["true"] });
    for (const id of [byName, byLiteral, ...(byV6 === null ? [] : [byV6])]) {
      const [d] = await until(
        async () => (await s.call("admin", "GET", `/api/v1/webhooks/${id}/deliveries`)).json.items as Array<Record<string, unknown>>,
        (items) => items[0]?.["status"] === "delivered",
      );
      expect(d).toMatchObject({ status: "delivered", lastStatusCode: 200, lastError: null });
    }
    expect(v4.hits()).toBe(2);
    if (v6 !== null) expect(v6.hits()).toBe(1);
  });

  it("the lookup keeps only public addresses, in the form the socket asks for", async () => {
    const mixed: Resolver = async () => [
      { address: "127.0.0.1", family: 4 },
      { address: "93.184.215.14", family: 4 },
      { address: "::1", family: 6 },
      { address: "2606:2800:21f:cb07:6820:80da:af6b:8b2c", family: 6 },
    ];
    const lookup = guardedLookup(mixed);
    const all = await new Promise<LookupAddress[]>((resolve, reject) => lookup("x.test", { all: true }, (e, a) => (e === null ? resolve(a as LookupAddress[]) : reject(e))));
    expect(all.map((a) => a.address)).toEqual(["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]);
    const one = await new Promise<string>((resolve, reject) => lookup("x.test", { family: 6 }, (e, a) => (e === null ? resolve(a as string) : reject(e))));
    expect(one).toBe("2606:2800:21f:cb07:6820:80da:af6b:8b2c");
    const refused = await new Promise<Error | null>((resolve) => guardedLookup(async () => [{ address: "10.1.2.3", family: 4 }])("x.test", { all: true }, (e) => resolve(e)));
    expect(refused?.message).toBe(targetNotAllowed);

    for (const address of ["127.0.0.1", "::1", "169.254.169.254", "10.0.0.1", "192.168.0.1", "0.0.0.0", "::", "::ffff:10.0.0.1", "ff02::1", "fd00::1", "not-an-address"]) {
      expect({ address, public: isPublicAddress(address) }).toEqual({ address, public: false });
    }
    for (const address of ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"]) expect({ address, public: isPublicAddress(address) }).toEqual({ address, public: true });
  });
});
