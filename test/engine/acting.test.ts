/** The library's `belay.as(principal)`: the same policy as the HTTP API, for a program's own users. */
import { describe, expect, it } from "vitest";
import { openTestEngine, untilJobStatus } from "../helpers.ts";

describe("belay.as(principal)", () => {
  it("applies the policy given in the options: submission by kind, cancel of own and others' jobs, env visibility", async () => {
    const belay = await openTestEngine({
      concurrency: 0,
      templates: { templates: [{ name: "nap", argv: ["sleep", "{{s:int}}"] }] },
      policy: { rules: { "job.resume.own": "operator" } },
    });
    const uma = belay.as({ name: "uma", role: "user" });
    const otto = belay.as({ name: "otto", role: "user" });
    await expect(uma.submitJob({ command: ["id"] })).rejects.toMatchObject({ code: "FORBIDDEN", details: { rule: "job.submit.process" } });
    const job = await uma.submitJob({ tasks: [{ key: "main", template: "nap", params: { s: 30 } }] });
    expect(job.owner).toBe("uma");
    await expect(otto.cancelJob(job.id)).rejects.toMatchObject({ code: "FORBIDDEN", details: { rule: "job.cancel.any" } });
    const cancelled = await uma.cancelJob(job.id, { reason: "mine" });
    expect(cancelled.cancellation.requestedBy).toBe("uma");
    await untilJobStatus(belay, job.id, "cancelled");
    await expect(uma.resumeJob(job.id)).rejects.toMatchObject({ code: "FORBIDDEN", details: { rule: "job.resume.own", needed: "operator" } });
    // The library without a principal is the deployer's own code: no policy applies.
    const free = await belay.submitJob({ command: ["true"], env: { TOKEN: "plain-value" } });
    expect(free.owner).toBe("library");
    expect((await otto.getJob(free.id)).tasks[0]?.spec.process?.env).toEqual({ TOKEN: "***" });
    expect((await belay.as({ name: "oscar", role: "operator" }).getJob(free.id)).tasks[0]?.spec.process?.env).toEqual({ TOKEN: "plain-value" });
    await expect(belay.as({ name: "vera", role: "viewer" }).cancelJobs({ filter: { ids: [free.id] } })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });
});
