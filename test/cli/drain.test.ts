/**
 * SIGTERM to a real `belay serve` (DESIGN §7 "Drain"): /readyz fails from the first SIGTERM
 * while /healthz stays ok; a task that ends within the drain timeout finishes normally and
 * the server then exits on its own; a second SIGTERM stops at once, handing the task back.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BelayClient } from "../../src/client/client.ts";
import { openBelay } from "../../src/engine/open.ts";
import { until } from "../helpers.ts";
import { startNode, stopNode } from "../multinode/cluster.ts";
import type { NodeProcess } from "../multinode/cluster.ts";
import { tempDir } from "./helpers.ts";

async function serve(drainTimeout: string): Promise<{ node: NodeProcess; client: BelayClient; url: string; home: string }> {
  const home = tempDir();
  const node = await startNode(["serve", "--port", "0", "--home", home, "--concurrency", "2", "--drain-timeout", drainTimeout]);
  const url = node.info["url"] as string;
  const token = readFileSync(join(home, "admin.token"), "utf8").trim();
  return { node, client: new BelayClient({ url, token }), url, home };
}

const status = async (url: string): Promise<number> => (await fetch(url)).status;

function exitOf(node: NodeProcess): Promise<number | null> {
  if (node.child.exitCode !== null) return Promise.resolve(node.child.exitCode);
  return new Promise((resolve) => node.child.once("exit", (code) => resolve(code)));
}

describe("belay serve on SIGTERM", () => {
  it("fails /readyz from the first SIGTERM, lets a task that ends within the drain timeout finish, then exits", { timeout: 60_000 }, async () => {
    const { node, client, url, home } = await serve("5m");
    try {
      // The task ends on a file the test creates: it ends within the drain timeout whatever the load.
      const flag = join(home, "go");
      const { job } = await client.submitJob({ name: "finish", command: ["sh", "-c", `echo up; while [ ! -f ${flag} ]; do sleep 0.1; done; echo done`] });
      await until(async () => (await client.getLogs(job.id)).items, (lines) => lines.some((l) => l.line === "up"));
      expect(await status(`${url}/readyz`)).toBe(200);

      const exited = exitOf(node);
      node.child.kill("SIGTERM");
      await until(() => status(`${url}/readyz`), (code) => code === 503);
      expect(await status(`${url}/healthz`)).toBe(200);
      // Still draining: the API answers, the task still runs.
      expect((await client.getJob(job.id)).job.status).toBe("running");

      writeFileSync(flag, "");
      expect(await exited).toBe(0);
    } finally {
      await stopNode(node, "SIGKILL");
    }
    const engine = await openBelay({ home });
    try {
      const [job] = (await engine.listJobs()).items;
      expect(job?.status).toBe("succeeded");
      expect(job?.tasks[0]).toMatchObject({ attempt: 1 });
      expect((await engine.listCancellations({})).total).toBe(0);
    } finally {
      await engine.close();
    }
  });

  it("stops at once on a second SIGTERM, handing the running task back with a system:drain record", { timeout: 60_000 }, async () => {
    const { node, client, url, home } = await serve("10m");
    try {
      const { job } = await client.submitJob({ name: "long", command: ["sh", "-c", "echo up; sleep 600"] });
      await until(async () => (await client.getLogs(job.id)).items, (lines) => lines.some((l) => l.line === "up"));
      const exited = exitOf(node);
      node.child.kill("SIGTERM");
      await until(() => status(`${url}/readyz`), (code) => code === 503);
      node.child.kill("SIGTERM");
      // Far sooner than the 10 minutes the drain would have waited (until() gives up after 15 s).
      await until(async () => node.child.exitCode !== null || node.child.signalCode !== null, (done) => done);
      expect(await exited).not.toBeNull();
      expect(node.stderr()).toContain("again: stopping at once");
    } finally {
      await stopNode(node, "SIGKILL");
    }
    const engine = await openBelay({ home, recover: false, concurrency: 0 });
    try {
      const [job] = (await engine.listJobs()).items;
      expect(job?.status).toBe("running");
      expect(job?.tasks[0]).toMatchObject({ status: "pending", attempt: 1, retriesUsed: 0 });
      const records = (await engine.listCancellations({})).items;
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ requestedBy: "system:drain", status: "completed", affectedTasks: [{ key: "main", from: "running", to: "pending" }] });
      // Signalled and killed at once: whichever ended it first (sh dies of the SIGTERM) is its mode.
      expect(records[0]?.tasks[0]).toMatchObject({ outcome: "mid_run" });
      expect(["graceful", "forced"]).toContain(records[0]?.tasks[0]?.mode);
    } finally {
      await engine.close();
    }
  });
});
