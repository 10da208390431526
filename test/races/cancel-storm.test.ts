/**
 * 1 000 cancel requests for one job at once, over real sockets to a listening server
 * (DESIGN invariant 5: every accepted cancel has exactly one record; repeats return it).
 * Every answer must be consistent — 200 or 202 with the one record's id, never a 5xx — the
 * job ends `cancelled`, and the store holds exactly one cancellation record for it.
 */
import type { FastifyInstance } from "fastify";
import { describe, expect, it } from "vitest";
import { until } from "../helpers.ts";
import { templateJob, testServer } from "../server/helpers.ts";

const requests = 1000;
/** Requests in flight at once: far more than the server handles at a time, so they truly overlap. */
const inFlight = 250;

interface CancelAnswer {
  status: number;
  body: {
    job?: { status?: string };
    cancellation?: { id?: string; status?: string };
    alreadyCancelled?: boolean;
    error?: { code?: string };
  };
}

async function storm(url: string, token: string, jobId: string): Promise<CancelAnswer[]> {
  const answers: CancelAnswer[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < requests) {
      next += 1;
      const res = await fetch(`${url}/api/v1/jobs/${jobId}/cancel`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ reason: "storm" }),
      });
      answers.push({ status: res.status, body: (await res.json()) as CancelAnswer["body"] });
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return answers;
}

/**
 * Listen on a free port, counting the client connections open at once (the most is `peak()`).
 * Each request is handled synchronously once parsed, so overlap shows on the wire: many
 * connections open, each with a request sent and waiting.
 */
async function listen(app: FastifyInstance): Promise<{ url: string; peak: () => number }> {
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  let open = 0;
  let peak = 0;
  app.server.on("connection", (socket) => {
    open += 1;
    peak = Math.max(peak, open);
    socket.on("close", () => (open -= 1));
  });
  return { url, peak: () => peak };
}

describe("a storm of cancels for one job", () => {
  it(`${requests} concurrent cancels of a running job: one record, every answer 200/202 with its id, the job cancelled`, { timeout: 120_000 }, async () => {
    const s = await testServer({ concurrency: 2 });
    const { url, peak } = await listen(s.app);
    const job = (await s.call("user", "POST", "/api/v1/jobs", { handler: "sleepy", input: { ms: 600_000 }, graceMs: 5000 })).json.job as { id: string };
    await until(() => s.engine.getJob(job.id), (j) => j.status === "running");

    const answers = await storm(url, s.tokens.user, job.id);
    expect(answers).toHaveLength(requests);
    // They overlapped: many connections were open at once.
    expect(peak()).toBeGreaterThan(10);
    const statuses = new Map<number, number>();
    for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    expect([...statuses.keys()].every((status) => status === 200 || status === 202), JSON.stringify([...statuses])).toBe(true);

    const ids = new Set(answers.map((a) => a.body.cancellation?.id));
    expect(ids.size).toBe(1);
    const recordId = [...ids][0];
    expect(recordId).toEqual(expect.any(String));
    for (const a of answers) {
      if (a.status === 202) {
        // Still stopping: the record is in progress, and it is not yet "already cancelled".
        expect(a.body.cancellation?.status).toBe("in_progress");
        expect(a.body.job?.status).toBe("cancelling");
        expect(a.body.alreadyCancelled).toBe(false);
      } else {
        // Stopped: the same record, finished, and the job cancelled.
        expect(a.body.cancellation?.status).toBe("completed");
        expect(a.body.job?.status).toBe("cancelled");
        expect(a.body.alreadyCancelled).toBe(true);
      }
    }
    // The first answer to land was a 202: the job was running.
    expect(statuses.get(202) ?? 0).toBeGreaterThan(0);

    const finished = await s.engine.waitForJob(job.id, { timeoutMs: 30_000 });
    expect(finished.status).toBe("cancelled");
    const records = await s.engine.listCancellations({ jobId: job.id });
    expect(records.total).toBe(1);
    expect(records.items[0]?.id).toBe(recordId);
    const record = await until(() => s.engine.getCancellation(recordId ?? ""), (r) => r.status !== "in_progress");
    expect(record.status).toBe("completed");
    expect(record.tasks.filter((t) => t.key === "main")).toHaveLength(1);
    // One job-cancel request event, one cancelled event: the storm changed the job once.
    const events = await s.engine.getJobEvents(job.id, { limit: 10_000 });
    expect(events.filter((e) => e.type === "belay.job.cancel_requested")).toHaveLength(1);
    expect(events.filter((e) => e.type === "belay.job.cancelled")).toHaveLength(1);
    // A repeat now answers 200 with the same record.
    const repeat = await s.call("user", "POST", `/api/v1/jobs/${job.id}/cancel`, {});
    expect(repeat.statusCode).toBe(200);
    expect(repeat.json.cancellation.id).toBe(recordId);
    expect(repeat.json.alreadyCancelled).toBe(true);
  });

  it(`${requests} concurrent cancels of a queued job: exactly one answer cancels it, every other is "already cancelled" with the same record`, { timeout: 120_000 }, async () => {
    // Nothing claims: the job stays queued until the storm cancels it.
    const s = await testServer({ concurrency: 0 });
    const { url, peak } = await listen(s.app);
    const job = (await s.call("user", "POST", "/api/v1/jobs", templateJob("true"))).json.job as { id: string };

    const answers = await storm(url, s.tokens.operator, job.id);
    expect(answers).toHaveLength(requests);
    expect(peak()).toBeGreaterThan(10);
    expect(answers.every((a) => a.status === 200), JSON.stringify(answers.find((a) => a.status !== 200))).toBe(true);
    const ids = new Set(answers.map((a) => a.body.cancellation?.id));
    expect(ids.size).toBe(1);
    expect(answers.filter((a) => a.body.alreadyCancelled === false)).toHaveLength(1);
    expect(answers.filter((a) => a.body.alreadyCancelled === true)).toHaveLength(requests - 1);
    expect(answers.every((a) => a.body.job?.status === "cancelled" && a.body.cancellation?.status === "completed")).toBe(true);

    expect((await s.engine.getJob(job.id)).status).toBe("cancelled");
    const records = await s.engine.listCancellations({ jobId: job.id });
    expect(records.total).toBe(1);
    expect(records.items[0]?.id).toBe([...ids][0]);
  });
});
