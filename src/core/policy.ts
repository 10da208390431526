/**
 * Who may do what (DESIGN §6): the one table of actions → the least role each needs, and
 * the one decision over it. Routes, MCP tools (through the routes) and the library's
 * `belay.as(principal)` all ask `authorize`; nothing else compares roles for an action.
 *
 * A deployer changes the table with a policy (`--policy FILE`, `openBelay({policy})`):
 * `{rules: {"job.cancel.own": "operator"}}` is seed 000's "cancelling needs operator".
 * Managing tokens and webhooks stays `admin` and is not in the table: lowering it would let
 * a caller mint itself any role, so no policy could mean anything after that.
 */
import { BelayError, invalid } from "./errors.ts";
import type { Job, JobSpec, TaskSpec } from "./model.ts";

export type Role = "viewer" | "user" | "operator" | "admin";
export const roles: readonly Role[] = ["viewer", "user", "operator", "admin"];
const rank: Readonly<Record<Role, number>> = { viewer: 0, user: 1, operator: 2, admin: 3 };

export function roleAtLeast(role: Role, needed: Role): boolean {
  return rank[role] >= rank[needed];
}


export const policyActions = [
  /** Read jobs, their events and cancellation records. */
  "job.read",
  /** Read task output (`GET /jobs/{id}/logs`). */
  "job.logs",
  /** Submit a `process` task with a free command line: arbitrary code on the worker. */
  "job.submit.process",
  /** Submit a task of a server-defined template (`--templates`). */
  "job.submit.template",
  /** Submit a handler task. */
  "job.submit.handler",
  /** Submit a remote task. */
  "job.submit.remote",
  /** Cancel (a job or a task of it) one's own job / any job. */
  "job.cancel.own",
  "job.cancel.any",
  /** Cancel every job matching a filter. */
  "job.cancel.bulk",
  /** Resume one's own job / any job. */
  "job.resume.own",
  "job.resume.any",
  /** See the plain `env` values of another principal's job (the owner always sees its own). */
  "job.env.any",
  /** Read schedules (DESIGN §7). */
  "schedule.read",
  /** Create a schedule; its job spec is also checked as a submit (job.submit.*), once at creation. */
  "schedule.create",
  /** Pause, resume or delete one's own schedule / any schedule. */
  "schedule.manage.own",
  "schedule.manage.any",
  /** Read the queues and whether each is paused. */
  "queue.read",
  /** Pause or resume a queue: it stops (or restarts) dispatch for every user of it. */
  "queue.pause",
] as const;
export type PolicyAction = (typeof policyActions)[number];

export type Policy = Readonly<Record<PolicyAction, Role>>;

export const defaultPolicy: Policy = Object.freeze({
  "job.read": "viewer",
  "job.logs": "viewer",
  "job.submit.process": "operator",
  "job.submit.template": "user",
  "job.submit.handler": "user",
  "job.submit.remote": "user",
  "job.cancel.own": "user",
  "job.cancel.any": "operator",
  "job.cancel.bulk": "operator",
  "job.resume.own": "user",
  "job.resume.any": "operator",
  "job.env.any": "operator",
  "schedule.read": "viewer",
  "schedule.create": "user",
  "schedule.manage.own": "user",
  "schedule.manage.any": "operator",
  "queue.read": "viewer",
  "queue.pause": "operator",
});

/**
 * The least role any of `actions` needs, and the rule that says so: what a route that does
 * one of them needs before it knows which one applies.
 */
export function floorOf(policy: Policy, actions: readonly PolicyAction[]): { role: Role; rule: PolicyAction } {
  let best: { role: Role; rule: PolicyAction } | null = null;
  for (const rule of actions) if (best === null || rank[policy[rule]] < rank[best.role]) best = { role: policy[rule], rule };
  if (best === null) throw new Error("floorOf needs at least one action");
  return best;
}

/** Who acts: a token's principal and role, or what a library caller says it acts for. */
export interface Principal {
  name: string;
  role: Role;
}

/**
 * A policy from its file or object form: `{rules: {action: role, …}}` (or the rules map
 * itself). Actions not named keep their default; an unknown action or role is an error, so
 * a typo cannot silently leave the default in place.
 */
export function parsePolicy(input: unknown): Policy {
  if (input === undefined || input === null) return defaultPolicy;
  if (typeof input !== "object" || Array.isArray(input)) throw invalid("policy: must be an object {rules: {action: role}}", { field: "policy" });
  const object = input as Record<string, unknown>;
  const keys = Object.keys(object);
  const rules = keys.length === 1 && keys[0] === "rules" ? object["rules"] : object;
  if (typeof rules !== "object" || rules === null || Array.isArray(rules)) throw invalid("policy.rules: must be an object {action: role}", { field: "policy.rules" });
  const policy: Record<PolicyAction, Role> = { ...defaultPolicy };
  for (const [action, role] of Object.entries(rules as Record<string, unknown>)) {
    if (!(policyActions as readonly string[]).includes(action)) {
      throw invalid(`policy.rules: unknown action "${action}"; actions are ${policyActions.join(", ")}`, { field: `policy.rules.${action}` });
    }
    if (typeof role !== "string" || !(roles as readonly string[]).includes(role)) {
      throw invalid(`policy.rules.${action}: must be one of ${roles.join(", ")}`, { field: `policy.rules.${action}` });
    }
    policy[action as PolicyAction] = role as Role;
  }
  return Object.freeze(policy);
}

/** Actions that come as a pair: on one's own job, and on any job. */
export type OwnedAction = "job.cancel" | "job.resume" | "job.env" | "schedule.manage";

export type Decision = { allowed: true } | { allowed: false; needed: Role; rule: PolicyAction };

/** May `principal` do `action`? For an owned action, `owner` is the job's owner. */
export function decide(policy: Policy, principal: Principal, action: PolicyAction | OwnedAction, owner?: string): Decision {
  if (action === "job.cancel" || action === "job.resume" || action === "job.env" || action === "schedule.manage") {
    const own = `${action}.own` as PolicyAction;
    const any = `${action}.any` as PolicyAction;
    if (owner === principal.name && (action === "job.env" || roleAtLeast(principal.role, policy[own]))) return { allowed: true };
    if (roleAtLeast(principal.role, policy[any])) return { allowed: true };
    // Name the rule the caller is closest to: its own job's, else the any-job rule.
    const rule = owner === principal.name ? own : any;
    return { allowed: false, needed: policy[rule], rule };
  }
  return roleAtLeast(principal.role, policy[action]) ? { allowed: true } : { allowed: false, needed: policy[action], rule: action };
}

const describe: Readonly<Record<PolicyAction, string>> = {
  "job.read": "reading jobs",
  "job.logs": "reading task logs",
  "job.submit.process": "submitting a process task with a free command line (use a task template, or an operator token)",
  "job.submit.template": "submitting a template task",
  "job.submit.handler": "submitting a handler task",
  "job.submit.remote": "submitting a remote task",
  "job.cancel.own": "cancelling one's own job",
  "job.cancel.any": "cancelling another principal's job",
  "job.cancel.bulk": "bulk cancelling",
  "job.resume.own": "resuming one's own job",
  "job.resume.any": "resuming another principal's job",
  "job.env.any": "reading the env values of another principal's job",
  "schedule.read": "reading schedules",
  "schedule.create": "creating a schedule",
  "schedule.manage.own": "pausing, resuming or deleting one's own schedule",
  "schedule.manage.any": "pausing, resuming or deleting another principal's schedule",
  "queue.read": "reading queues",
  "queue.pause": "pausing or resuming a queue",
};

/** `decide`, throwing FORBIDDEN naming the role needed and the policy rule. */
export function authorize(policy: Policy, principal: Principal, action: PolicyAction | OwnedAction, owner?: string): void {
  const decision = decide(policy, principal, action, owner);
  if (decision.allowed) return;
  throw new BelayError("FORBIDDEN", `${describe[decision.rule]} needs the ${decision.needed} role (policy rule ${decision.rule}); this caller has ${principal.role}`, {
    details: { needed: decision.needed, role: principal.role, rule: decision.rule },
  });
}

/** The action submitting a task is: a template task is not a free-command process task. */
export function submitAction(task: TaskSpec): PolicyAction {
  if (task.template !== undefined) return "job.submit.template";
  // A `job` task is as allowed as a handler (it runs nothing itself); its child's tasks are checked one by one (`authorizeSubmit`).
  if (task.kind === "job") return "job.submit.handler";
  // A slurm task runs a script of the caller's on the cluster: free code, as a free command is.
  if (task.kind === "process" || task.kind === "slurm") return "job.submit.process";
  return task.kind === "handler" ? "job.submit.handler" : "job.submit.remote";
}

/** Every task of a spec must be allowed; the first refused one is named. */
export function authorizeSubmit(policy: Policy, principal: Principal, spec: JobSpec): void {
  for (const task of spec.tasks) {
    try {
      authorize(policy, principal, submitAction(task));
      // The child job of a `job` task runs as the same principal: each of its tasks must be allowed too (DESIGN §6, §7).
      if (task.job !== undefined) authorizeSubmit(policy, principal, task.job);
    } catch (error) {
      if (error instanceof BelayError) {
        throw new BelayError("FORBIDDEN", `task "${task.key}": ${error.message}`, { details: { ...error.details, taskKey: task.key } });
      }
      throw error;
    }
  }
}

/** What replaces an env value its reader may not see. */
export const hiddenValue = "***";

/**
 * The job as `principal` may see it: a reader who is neither the owner nor allowed
 * `job.env.any` sees the names of the env variables, not their values (secret references
 * included: which secret a job uses is the deployer's business).
 */
export function visibleJob(policy: Policy, principal: Principal, job: Job): Job {
  if (decide(policy, principal, "job.env", job.owner).allowed) return job;
  if (!job.tasks.some((t) => t.spec.process?.env !== undefined || t.spec.slurm?.env !== undefined)) return job;
  const hide = (env: Record<string, unknown>): Record<string, string> => Object.fromEntries(Object.keys(env).map((key) => [key, hiddenValue]));
  return {
    ...job,
    tasks: job.tasks.map((task) => {
      let spec = task.spec;
      if (spec.process?.env !== undefined) spec = { ...spec, process: { ...spec.process, env: hide(spec.process.env) } };
      if (spec.slurm?.env !== undefined) spec = { ...spec, slurm: { ...spec.slurm, env: hide(spec.slurm.env) } };
      return spec === task.spec ? task : { ...task, spec };
    }),
  };
}
