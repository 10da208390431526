/** POST /api/v1/jobs/batch: bulk submit, all or none, with the roles and errors of POST /jobs. */
import { describe, expect, it } from "vitest";
import { testServer } from "./helpers.ts";

describe("HTTP bulk submit", () => {
  it("stores every spec, in order, owned by the caller, and honours idempotency keys within and across batches", async () => {
    const s = await testServer({ concurrency: 0 });
    const specs = Array.from({ length: 50 }, (_, i) => ({ name: `b${i}`, tasks: [{ key: "main", template: "true", params: {} }] }));
    const first = await s.call("user", "POST", "/api/v1/jobs/batch", { jobs: [...specs, { name: "keyed", tasks: [{ key: "main", template: "true", params: {} }], idempotencyKey: "k" }, { name: "keyed again", tasks: [{ key: "main", template: "true", params: {} }], idempotencyKey: "k" }] });
    expect(first.statusCode).toBe(200);
    const results = first.json.jobs as Array<{ job: { id: string; name: string; owner: string; status: string }; created: boolean }>;
    expect(results.map((r) => r.job.name)).toEqual([...specs.map((sp) => sp.name), "keyed", "keyed"]);
    expect(results.map((r) => r.created)).toEqual([...specs.map(() => true), true, false]);
    expect(results.every((r) => r.job.owner === "uma" && r.job.status === "queued")).toBe(true);
    const again = await s.call("user", "POST", "/api/v1/jobs/batch", { jobs: [{ name: "other", tasks: [{ key: "main", template: "true", params: {} }], idempotencyKey: "k" }] });
    expect(again.json.jobs[0].created).toBe(false);
    expect(again.json.jobs[0].job.id).toBe(results.at(-1)?.job.id);
    // Another user's key "k" is its own.
    const otto = await s.call("otherUser", "POST", "/api/v1/jobs/batch", { jobs: [{ name: "otto's", tasks: [{ key: "main", template: "true", params: {} }], idempotencyKey: "k" }] });
    expect(otto.json.jobs[0].created).toBe(true);
    expect(otto.json.jobs[0].job.owner).toBe("otto");
    const listed = await s.call("viewer", "GET", "/api/v1/jobs?limit=1000");
    expect(listed.json.items).toHaveLength(52);
  });

  it("one bad spec refuses the whole batch with 400 naming its index, and nothing is stored", async () => {
    const s = await testServer({ concurrency: 0 });
    const bad = await s.call("user", "POST", "/api/v1/jobs/batch", {
      jobs: [{ name: "fine", tasks: [{ key: "main", template: "true", params: {} }] }, { name: "fine too", tasks: [{ key: "main", template: "true", params: {} }] }, { name: "broken", tasks: [] }],
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
    for (const body of [{}, { jobs: {} }, { jobs: [] }, { jobs: [{ tasks: [{ key: "main", template: "true", params: {} }] }], extra: 1 }, [{ tasks: [{ key: "main", template: "true", params: {} }] }]]) {
      const answer = await s.call("user", "POST", "/api/v1/jobs/batch", body);
      expect(answer.statusCode, JSON.stringify(body)).toBe(400);
      expect(answer.json.error.code).toBe("INVALID_REQUEST");
    }
    const tooMany = await s.call("user", "POST", "/api/v1/jobs/batch", { jobs: Array.from({ length: 10_001 }, () => ({ tasks: [{ key: "main", template: "true", params: {} }] })) });
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json.error.message).toMatch(/10000/);
    expect((await s.call("viewer", "GET", "/api/v1/jobs")).json.items).toEqual([]);
  });

  it("needs the user role, as a single submit does, and cannot submit as another owner", async () => {
    const s = await testServer({ concurrency: 0 });
    expect((await s.call(null, "POST", "/api/v1/jobs/batch", { jobs: [{ tasks: [{ key: "main", template: "true", params: {} }] }] })).statusCode).toBe(401);
    expect((await s.call("viewer", "POST", "/api/v1/jobs/batch", { jobs: [{ tasks: [{ key: "main", template: "true", params: {} }] }] })).statusCode).toBe(403);
    // An `owner` in a spec is not a field of a job spec: it is refused, never obeyed.
    const spoof = await s.call("user", "POST", "/api/v1/jobs/batch", { jobs: [{ tasks: [{ key: "main", template: "true", params: {} }], owner: "admin" }] });
    expect(spoof.statusCode).toBe(400);
    expect(spoof.json.error.details.index).toBe(0);
    expect((await s.call("viewer", "GET", "/api/v1/jobs")).json.items).toEqual([]);
  });

  it("checks every spec against the task policy: a user's free command in any spec refuses the batch, nothing stored", async () => {
    const s = await testServer({ concurrency: 0 });
    const template = { tasks: [{ key: "main", template: "true", params: {} }] };
    const attack = await s.call("user", "POST", "/api/v1/jobs/batch", { jobs: [template, { name: "sneaky", command: ["sh", "-c", "cat $BELAY_HOME/admin.token"] }] });
    expect(attack.statusCode).toBe(403);
    expect(attack.json.error.code).toBe("FORBIDDEN");
    expect(attack.json.error.details.index).toBe(1);
    expect((await s.engine.store.countJobs()).queued).toBe(0);
    // An operator may submit the same batch.
    const allowed = await s.call("operator", "POST", "/api/v1/jobs/batch", { jobs: [template, { name: "fine", command: ["true"] }] });
    expect(allowed.statusCode).toBe(200);
  });

  it("takes 10,000 specs in one request", async () => {
    const s = await testServer({ concurrency: 0 });
    const answer = await s.call("user", "POST", "/api/v1/jobs/batch", { jobs: Array.from({ length: 10_000 }, (_, i) => ({ name: `n${i}`, tasks: [{ key: "main", template: "true", params: {} }] })) });
    expect(answer.statusCode).toBe(200);
    expect(answer.json.jobs).toHaveLength(10_000);
    expect((await s.engine.store.countJobs()).queued).toBe(10_000);
  }, 120_000);
});
