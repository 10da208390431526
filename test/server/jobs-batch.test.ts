/** POST /api/v1/jobs/batch: bulk submit, all or none, with the roles and errors of POST /jobs. */
import { describe, expect, it } from "vitest";
import { testServer } from "./helpers.ts";

describe("HTTP bulk submit", () => {
  it("stores every spec, in order, owned by the caller, and honours idempotency keys within and across batches", async () => {
    const s = await testServer({ concurrency: 0 });
    const specs = Array.from({ length: 50 }, (_, i) => ({ name: `b${i}`, command: ["true"] }));
    const first = await s.call("user", "POST", "/api/v1/jobs/batch", { jobs: [...specs, { name: "keyed", command: ["true"], idempotencyKey: "k" }, { name: "keyed again", command: ["true"], idempotencyKey: "k" }] });
    expect(first.statusCode).toBe(200);
    const results = first.json.jobs as Array<{ job: { id: string; name: string; owner: string; status: string }; created: boolean }>;
    expect(results.map((r) => r.job.name)).toEqual([...specs.map((sp) => sp.name), "keyed", "keyed"]);
    expect(results.map((r) => r.created)).toEqual([...specs.map(() => true), true, false]);
    expect(results.every((r) => r.job.owner === "uma" && r.job.status === "queued")).toBe(true);
    const again = await s.call("user", "POST", "/api/v1/jobs/batch", { jobs: [{ name: "other", command: ["true"], idempotencyKey: "k" }] });
    expect(again.json.jobs[0].created).toBe(false);
    expect(again.json.jobs[0].job.id).toBe(results.at(-1)?.job.id);
    // Another user's key "k" is its own.
    const otto = await s.call("otherUser", "POST", "/api/v1/jobs/batch", { jobs: [{ name: "otto's", command: ["true"], idempotencyKey: "k" }] });
    expect(otto.json.jobs[0].created).toBe(true);
    expect(otto.json.jobs[0].job.owner).toBe("otto");
    const listed = await s.call("viewer", "GET", "/api/v1/jobs?limit=1000");
    expect(listed.json.items).toHaveLength(52);
  });

  it("one bad spec refuses the whole batch with 400 naming its index, and nothing is stored", async () => {
    const s = await testServer({ concurrency: 0 });
    const bad = await s.call("user", "POST", "/api/v1/jobs/batch", {
      jobs: [{ name: "fine", command: ["true"] }, { name: "fine too", command: ["true"] }, { name: "broken", tasks: [] }],
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json.error.code).toBe("INVALID_REQUEST");
    expect(bad.json.error.details.index).toBe(2);
    expect(bad.json.error.message).toMatch(/^jobs\[2\]: /);
    expect(bad.body).not.toMatch(/ at .*\.ts:\d+/);
    expect((await s.call("viewer", "GET", "/api/v1/jobs")).json.items).toEqual([]);
  });

  it("refuses what is not a batch: no array, an empty one, more than 10,000 specs, unknown fields", async () => {
    const s = await testServer({ concurrency: 0 });
    for (const body of [{}, { jobs: {} }, { jobs: [] }, { jobs: [{ command: ["true"] }], extra: 1 }, [{ command: ["true"] }]]) {
      const answer = await s.call("user", "POST", "/api/v1/jobs/batch", body);
      expect(answer.statusCode, JSON.stringify(body)).toBe(400);
      expect(answer.json.error.code).toBe("INVALID_REQUEST");
    }
    const tooMany = await s.call("user", "POST", "/api/v1/jobs/batch", { jobs: Array.from({ length: 10_001 }, () => ({ command: ["true"] })) });
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json.error.message).toMatch(/10000/);
    expect((await s.call("viewer", "GET", "/api/v1/jobs")).json.items).toEqual([]);
  });

  it("needs the user role, as a single submit does, and cannot submit as another owner", async () => {
    const s = await testServer({ concurrency: 0 });
    expect((await s.call(null, "POST", "/api/v1/jobs/batch", { jobs: [{ command: ["true"] }] })).statusCode).toBe(401);
    expect((await s.call("viewer", "POST", "/api/v1/jobs/batch", { jobs: [{ command: ["true"] }] })).statusCode).toBe(403);
    // An `owner` in a spec is not a field of a job spec: it is refused, never obeyed.
    const spoof = await s.call("user", "POST", "/api/v1/jobs/batch", { jobs: [{ command: ["true"], owner: "admin" }] });
    expect(spoof.statusCode).toBe(400);
    expect(spoof.json.error.details.index).toBe(0);
    expect((await s.call("viewer", "GET", "/api/v1/jobs")).json.items).toEqual([]);
  });

  it("takes 10,000 specs in one request", async () => {
    const s = await testServer({ concurrency: 0 });
    const answer = await s.call("user", "POST", "/api/v1/jobs/batch", { jobs: Array.from({ length: 10_000 }, (_, i) => ({ name: `n${i}`, command: ["true"] })) });
    expect(answer.statusCode).toBe(200);
    expect(answer.json.jobs).toHaveLength(10_000);
    expect((await s.engine.store.countJobs()).queued).toBe(10_000);
  }, 120_000);
});
