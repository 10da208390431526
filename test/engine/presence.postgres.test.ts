/**
 * A node's lease is renewed on time even while recovery's periodic pass runs long (found by
 * the fencing test in CI: node B's pass recovering a frozen node took 2.3 s, its heartbeats
 * waited for it, its 1.5 s lease ran out, and another node declared B dead and killed B's
 * running attempt as an orphan). Real PostgreSQL store, real timers.
 */
import { hostname } from "node:os";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { Presence } from "../../src/engine/cluster/presence.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { noPostgres, skippedIf } from "../optional.ts";
import { pgUrl, testSchema } from "../store/pg-schema.ts";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("presence", skippedIf(noPostgres), () => {
  it("renews the lease while a recovery pass is still running, and starts no second pass meanwhile", async () => {
    const store = new PostgresStore({ url: pgUrl as string, schema: testSchema() });
    await store.migrate();
    cleanups.push(async () => {
      await store.dropSchema();
      await store.close();
    });
    const leaseMs = 600;
    let renewals = 0;
    const heartbeat = store.heartbeat.bind(store);
    store.heartbeat = async (nodeId, nowMs) => {
      renewals += 1;
      return heartbeat(nodeId, nowMs);
    };
    let passes = 0;
    let endPass!: () => void;
    const presence = new Presence({
      store,
      logger: pino({ level: "silent" }),
      node: { id: "node-p", hostname: hostname(), pid: process.pid, pidStartTime: null, role: "worker", startedAt: new Date().toISOString(), heartbeatMs: Date.now(), leaseMs, stoppedAt: null, deadAt: null },
      intervalMs: 50,
      leaseMs,
      // The first pass lasts three leases; the ones after it return at once.
      onTick: () => {
        passes += 1;
        return passes === 1 ? new Promise<void>((resolve) => (endPass = resolve)) : Promise.resolve();
      },
      onDeclaredDead: async () => undefined,
    });
    await presence.register();
    presence.start();
    cleanups.push(() => presence.stop(new Date().toISOString()));

    await new Promise((resolve) => setTimeout(resolve, leaseMs * 3));
    // Before the fix: no renewal at all once the first pass had started, and the lease lost.
    expect(renewals).toBeGreaterThanOrEqual(10);
    expect(presence.leaseHeld()).toBe(true);
    const [row] = (await store.listNodes()).filter((n) => n.id === "node-p");
    expect(Date.now() - (row?.heartbeatMs ?? 0)).toBeLessThan(leaseMs);
    expect(passes).toBe(1);

    endPass();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(passes).toBeGreaterThan(1);
  });

  it("stop() waits for the recovery pass in flight, and no pass starts after it", async () => {
    const store = new PostgresStore({ url: pgUrl as string, schema: testSchema() });
    await store.migrate();
    cleanups.push(async () => {
      await store.dropSchema();
      await store.close();
    });
    let passes = 0;
    let endPass!: () => void;
    const presence = new Presence({
      store,
      logger: pino({ level: "silent" }),
      node: { id: "node-s", hostname: hostname(), pid: process.pid, pidStartTime: null, role: "worker", startedAt: new Date().toISOString(), heartbeatMs: Date.now(), leaseMs: 600, stoppedAt: null, deadAt: null },
      intervalMs: 50,
      leaseMs: 600,
      onTick: () => {
        passes += 1;
        return new Promise<void>((resolve) => (endPass = resolve));
      },
      onDeclaredDead: async () => undefined,
    });
    await presence.register();
    presence.start();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(passes).toBe(1);

    let stopped = false;
    const stopping = presence.stop(new Date().toISOString()).then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(stopped).toBe(false);
    endPass();
    await stopping;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(passes).toBe(1);
    const [row] = (await store.listNodes()).filter((n) => n.id === "node-s");
    expect(row?.stoppedAt).not.toBeNull();
  });
});
