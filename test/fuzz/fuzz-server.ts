/**
 * A real app (engine on a SQLite file, the API with metrics, webhooks, the web UI and every
 * other extension `belay serve` mounts) with fixtures in every job state, tokens of every
 * kind, and two probes of its state: `dataVersion()` (changes whenever anything commits to
 * the database) and `fingerprint()` (what a request could change: jobs, events, cancellation
 * records, tokens, webhooks — not node heartbeats, which run on their own).
 *
 * The fixtures are made by an engine that runs tasks; the app is then served by an engine
 * on the same file that runs nothing (concurrency 0, no recovery, so the job left running
 * stays running). A job the fuzzer submits or resumes is therefore never run, and the store
 * only changes when a request changes it — which keeps "did a refused request change
 * anything" answerable. The webhook dispatcher is stopped for the same reason (its routes stay).
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { FastifyInstance } from "fastify";
import { afterAll } from "vitest";
import type { Belay } from "../../src/engine/engine.ts";
import { newId } from "../../src/engine/ids.ts";
import { buildApp } from "../../src/server/app.ts";
import { createToken, ensureAdminToken, hashToken } from "../../src/server/auth.ts";
import type { ServerExtensions } from "../../src/server/extensions.ts";
import { createMetrics } from "../../src/server/metrics.ts";
import { createWebUi } from "../../src/server/web.ts";
import { createWebhooks } from "../../src/server/webhooks.ts";
import { openTestEngine, tempHome, until } from "../helpers.ts";
import { deadUrl, parkedQueue } from "./requests.ts";
import { routeRoleProbe } from "./routes.ts";

export type CallerKind = "admin" | "operator" | "user" | "otherUser" | "viewer" | "expired" | "revoked";

export interface Fixtures {
  jobIds: string[];
  cancellationIds: string[];
  webhookIds: string[];
  tokenIds: string[];
  taskKeys: string[];
}

export interface FuzzServer {
  app: FastifyInstance;
  engine: Belay;
  secrets: Record<CallerKind, string>;
  fixtures: Fixtures;
  dataVersion(): number;
  fingerprint(): Promise<string>;
  close(): Promise<void>;
}

/** Jobs in every state, owned by "uma" (the `user` token) but one owned by "otto" (`otherUser`). */
async function makeJobs(home: string): Promise<{ jobIds: string[]; cancellationIds: string[] }> {
  const engine = await openTestEngine({ home, concurrency: 2, queues: ["default"], pollIntervalMs: 20 });
  const submit = async (spec: unknown, owner = "uma"): Promise<string> => (await engine.submitJob(spec, { owner })).id;
  const queued = await submit({ name: "parked", queue: parkedQueue, command: ["true"] });
  const graph = await submit({ queue: parkedQueue, tasks: [{ key: "a", command: ["true"] }, { key: "b", command: ["true"], dependsOn: ["a"] }] });
  const compensated = await submit({ queue: parkedQueue, tasks: [{ key: "main", command: ["true"] }, { key: "undo", command: ["true"], runOn: "cancel" }] });
  const others = await submit({ queue: parkedQueue, command: ["true"] }, "otto");
  const running = await submit({ handler: "sleepy", input: { ms: 600_000 } });
  const succeeded = await submit({ command: ["true"] });
  const failed = await submit({ handler: "fail" });
  const cancelled = await submit({ queue: parkedQueue, command: ["true"] });
  const cancel = await engine.cancelJob(cancelled, { reason: "fixture", requestedBy: "uma" });
  await until(() => engine.getJob(running), (j) => j.status === "running");
  await until(() => engine.getJob(succeeded), (j) => j.status === "succeeded");
  await until(() => engine.getJob(failed), (j) => j.status === "failed");
  // Closing interrupts the running task: it goes back to pending, its job stays running.
  await engine.close({ graceMs: 100 });
  return { jobIds: [queued, graph, compensated, others, running, succeeded, failed, cancelled], cancellationIds: [cancel.cancellation.id] };
}

interface Template {
  home: string;
  secrets: Record<CallerKind, string>;
  fixtures: Fixtures;
}

let template: Promise<Template> | undefined;
afterAll(async () => {
  if (template !== undefined) rmSync((await template).home, { recursive: true, force: true });
});

/** The fixtures, tokens and webhooks, made once in a home that every server starts from a copy of. */
async function makeTemplate(): Promise<Template> {
  const home = mkdtempSync(join(tmpdir(), "belay-fuzz-template-"));
  const jobs = await makeJobs(home);
  const engine = await openTestEngine({ home, concurrency: 0, recover: false });
  const store = engine.store;
  const adminPath = await ensureAdminToken(store, home);
  const make = async (name: string, role: "viewer" | "user" | "operator"): Promise<string> => (await createToken(store, { name, role })).secret;
  const expired = `belay_expired_${newId()}`;
  const expiredId = newId();
  await store.insertToken(
    { id: expiredId, name: "expired", principal: "ada", role: "admin", createdAt: "2001-01-01T00:00:00.000Z", lastUsedAt: null, revokedAt: null, expiresAt: "2001-01-02T00:00:00.000Z" },
    hashToken(expired),
  );
  const revoked = await createToken(store, { name: "revoked", role: "admin" });
  await store.revokeToken(revoked.token.id, new Date().toISOString());
  const secrets: Record<CallerKind, string> = {
    admin: readFileSync(adminPath ?? join(home, "admin.token"), "utf8").trim(),
    viewer: await make("vera", "viewer"),
    user: await make("uma", "user"),
    otherUser: await make("otto", "user"),
    operator: await make("oscar", "operator"),
    expired,
    revoked: revoked.secret,
  };
  // Tokens nobody calls with, for DELETE /tokens/{id} to revoke (revoking the callers' would end the run's coverage).
  const victims = await Promise.all(["victim-1", "victim-2", "victim-3"].map((name) => createToken(store, { name, role: "viewer" })));
  const webhookIds = [newId(), newId(), newId()];
  for (const id of webhookIds) await store.insertWebhook({ id, url: deadUrl, eventTypes: [], secret: "fixture-secret-0123456789", createdBy: "admin", createdAt: new Date().toISOString() });
  await engine.close();
  const webDir = join(home, "web");
  mkdirSync(webDir);
  writeFileSync(join(webDir, "index.html"), "<!doctype html><title>Belay</title>");
  return {
    home,
    secrets,
    fixtures: { ...jobs, webhookIds, tokenIds: [...victims.map((v) => v.token.id), revoked.token.id, expiredId], taskKeys: ["main", "a", "b", "undo"] },
  };
}

/** A server on a fresh copy of the template's home. */
export async function fuzzServer(): Promise<FuzzServer> {
  template ??= makeTemplate();
  const { home: templateHome, secrets, fixtures } = await template;
  const home = tempHome();
  cpSync(templateHome, home, { recursive: true });
  const engine = await openTestEngine({ home, concurrency: 0, recover: false, pollIntervalMs: 1000 });
  const store = engine.store;

  const webDir = join(home, "web");
  const metrics = createMetrics(engine, { defaultMetrics: false });
  const webhooks = createWebhooks(engine);
  await webhooks.stop();
  const extensions: ServerExtensions[] = [metrics.extension, webhooks.extension, createWebUi({ dir: webDir }), routeRoleProbe()];
  const app = await buildApp({
    engine,
    rateLimitPerMinute: 1e9,
    // The auth test sends thousands of refused credentials from one address (the 401 limit has its own test).
    authFailuresPerMinute: 1e9,
    extensions: {
      registerApiRoutes: (api) => extensions.forEach((e) => e.registerApiRoutes?.(api)),
      registerRootRoutes: (root) => extensions.forEach((e) => e.registerRootRoutes?.(root)),
    },
  });

  // A second connection: PRAGMA data_version changes when another connection commits.
  const reader = new DatabaseSync(join(home, "belay.db"), { readOnly: true });
  const version = reader.prepare("PRAGMA data_version");
  return {
    app,
    engine,
    secrets,
    fixtures,
    dataVersion: () => Number((version.get() as { data_version: number }).data_version),
    async fingerprint() {
      const [events, jobCounts, records, tokens, hooks, fixtureJobs] = await Promise.all([
        store.maxEventSeq(),
        store.countJobs(),
        store.listCancellations({}, { limit: 1000, offset: 0 }),
        store.listTokens(),
        store.listWebhooks(),
        Promise.all(fixtures.jobIds.map((id) => store.getJob(id))),
      ]);
      return JSON.stringify({
        events,
        jobCounts,
        records: [records.total, records.items.map((c) => [c.id, c.status, c.force, c.steps.map((step) => step.status)])],
        tokens: tokens.map((t) => [t.id, t.revokedAt, t.expiresAt]),
        hooks: hooks.map((w) => w.id),
        fixtureJobs,
      });
    },
    async close() {
      reader.close();
      await app.close();
      metrics.stop();
      await engine.close();
    },
  };
}
