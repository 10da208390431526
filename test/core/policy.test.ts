/** core/policy: the action table, its decisions, and what a reader may see of a job's env. */
import { describe, expect, it } from "vitest";
import { BelayError } from "../../src/core/errors.ts";
import type { Job } from "../../src/core/model.ts";
import { authorize, decide, defaultPolicy, floorOf, parsePolicy, visibleJob } from "../../src/core/policy.ts";
import { parseJobSpec } from "../../src/core/spec.ts";
import { parseTemplates } from "../../src/core/templates.ts";
import { authorizeSubmit } from "../../src/core/policy.ts";

const uma = { name: "uma", role: "user" as const };
const otto = { name: "otto", role: "user" as const };
const oscar = { name: "oscar", role: "operator" as const };
const vera = { name: "vera", role: "viewer" as const };

describe("policy", () => {
  it("defaults: free commands need operator; own jobs are the user's, any job the operator's", () => {
    expect(defaultPolicy["job.submit.process"]).toBe("operator");
    expect(decide(defaultPolicy, uma, "job.cancel", "uma")).toEqual({ allowed: true });
    expect(decide(defaultPolicy, otto, "job.cancel", "uma")).toEqual({ allowed: false, needed: "operator", rule: "job.cancel.any" });
    expect(decide(defaultPolicy, oscar, "job.resume", "uma")).toEqual({ allowed: true });
    expect(decide(defaultPolicy, vera, "job.env", "uma")).toMatchObject({ allowed: false, rule: "job.env.any" });
    expect(decide(defaultPolicy, uma, "job.env", "uma")).toEqual({ allowed: true });
  });

  it("a policy changes only what it names; unknown actions and roles are refused", () => {
    const policy = parsePolicy({ rules: { "job.cancel.own": "operator" } });
    expect(decide(policy, uma, "job.cancel", "uma")).toEqual({ allowed: false, needed: "operator", rule: "job.cancel.own" });
    expect(policy["job.submit.template"]).toBe("user");
    expect(parsePolicy({ "job.logs": "user" })["job.logs"]).toBe("user");
    expect(() => parsePolicy({ rules: { "job.cancel.mine": "user" } })).toThrow(/unknown action/);
    expect(() => parsePolicy({ rules: { "job.logs": "root" } })).toThrow(/must be one of/);
    expect(() => parsePolicy([])).toThrow(BelayError);
    expect(floorOf(policy, ["job.cancel.own", "job.cancel.any"])).toEqual({ role: "operator", rule: "job.cancel.own" });
    expect(floorOf(defaultPolicy, ["job.submit.process", "job.submit.template"])).toEqual({ role: "user", rule: "job.submit.template" });
  });

  it("FORBIDDEN names the role needed and the rule", () => {
    try {
      authorize(defaultPolicy, vera, "job.cancel.bulk");
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ code: "FORBIDDEN", details: { needed: "operator", rule: "job.cancel.bulk", role: "viewer" } });
    }
  });

  it("submission: a template task is not a free command; a free one anywhere in the spec is refused for a user", () => {
    const templates = parseTemplates({ templates: [{ name: "t", argv: ["true"] }] });
    const templated = parseJobSpec({ tasks: [{ key: "a", template: "t" }] }, { templates });
    expect(() => authorizeSubmit(defaultPolicy, uma, templated)).not.toThrow();
    const mixed = parseJobSpec({ tasks: [{ key: "a", template: "t" }, { key: "b", handler: "h" }, { key: "c", command: "id" }] }, { templates });
    expect(() => authorizeSubmit(defaultPolicy, uma, mixed)).toThrow(/task "c"/);
    expect(() => authorizeSubmit(defaultPolicy, oscar, mixed)).not.toThrow();
  });

  it("a reader who is neither owner nor operator sees env keys, not values", () => {
    const spec = parseJobSpec({ command: ["true"], env: { A: "1", S: { secret: "X" } } });
    const job = { owner: "uma", tasks: [{ key: "main", spec: spec.tasks[0] }] } as unknown as Job;
    expect(visibleJob(defaultPolicy, vera, job).tasks[0]?.spec.process?.env).toEqual({ A: "***", S: "***" });
    expect(visibleJob(defaultPolicy, otto, job).tasks[0]?.spec.process?.env).toEqual({ A: "***", S: "***" });
    expect(visibleJob(defaultPolicy, uma, job)).toBe(job);
    expect(visibleJob(defaultPolicy, oscar, job)).toBe(job);
    // The stored job is not changed by what a reader was shown.
    expect(job.tasks[0]?.spec.process?.env).toEqual({ A: "1", S: { secret: "X" } });
  });

  it("a slurm task is free code on the cluster: a user is refused, an operator may; viewers see its env keys only", () => {
    const spec = parseJobSpec({ tasks: [{ key: "sim", script: "#!/bin/sh\ncat /etc/passwd\n", env: { TOKEN: "t0p" } }] });
    expect(() => authorizeSubmit(defaultPolicy, uma, spec)).toThrow(BelayError);
    expect(() => authorizeSubmit(defaultPolicy, oscar, spec)).not.toThrow();
    const job = { owner: "uma", tasks: spec.tasks.map((t) => ({ key: t.key, spec: t })) } as unknown as Job;
    expect(visibleJob(defaultPolicy, vera, job).tasks[0]?.spec.slurm?.env).toEqual({ TOKEN: "***" });
    expect(visibleJob(defaultPolicy, uma, job).tasks[0]?.spec.slurm?.env).toEqual({ TOKEN: "t0p" });
  });
});

describe("schedule and queue actions (DESIGN §7)", () => {
  it("a user manages its own schedules only; an operator any; pausing a queue needs operator", () => {
    const uma = { name: "uma", role: "user" as const };
    const oscar = { name: "oscar", role: "operator" as const };
    expect(decide(defaultPolicy, uma, "schedule.manage", "uma")).toEqual({ allowed: true });
    expect(decide(defaultPolicy, uma, "schedule.manage", "otto")).toMatchObject({ allowed: false, rule: "schedule.manage.any", needed: "operator" });
    expect(decide(defaultPolicy, oscar, "schedule.manage", "otto")).toEqual({ allowed: true });
    expect(decide(defaultPolicy, uma, "queue.pause")).toMatchObject({ allowed: false, needed: "operator" });
    expect(decide(defaultPolicy, { name: "vera", role: "viewer" }, "schedule.create")).toMatchObject({ allowed: false, needed: "user" });
  });
});
