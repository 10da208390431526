/**
 * The invariants of DESIGN §2, checked after a crash and a restart, against what the client
 * saw before the crash (workload.ts). Each check returns the violations it found, as
 * sentences, so a failing scenario says everything that is wrong at once.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { BelayClient } from "../../src/client/client.ts";
import type { BelayEvent, CancellationRecord, Job } from "../../src/core/model.ts";
import type { Store } from "../../src/store/store.ts";
import { survivors } from "./processes.ts";
import type { Observed } from "./workload.ts";

const terminalJob = new Set(["succeeded", "failed", "partial", "cancelled"]);
const terminalTask = new Set(["succeeded", "failed", "cancelled", "skipped"]);
const jobEnds = new Set(["belay.job.succeeded", "belay.job.failed", "belay.job.partial", "belay.job.cancelled"]);
const taskEnds = new Set(["belay.task.succeeded", "belay.task.failed", "belay.task.cancelled", "belay.task.skipped"]);

export async function allJobs(client: BelayClient): Promise<Job[]> {
  const jobs: Job[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listJobs({ limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
    jobs.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return jobs;
}

/** Invariant 7 (progress): every job reaches a terminal status. Returns the jobs as they ended (or not). */
export async function untilAllTerminal(client: BelayClient, timeoutMs: number): Promise<{ jobs: Job[]; violations: string[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const jobs = await allJobs(client);
    const open = jobs.filter((j) => !terminalJob.has(j.status));
    if (open.length === 0) return { jobs, violations: [] };
    if (Date.now() > deadline) {
      return { jobs, violations: open.map((j) => `job ${j.name} (${j.id}) is still ${j.status} ${timeoutMs} ms after the restart: ${j.tasks.map((t) => `${t.key}=${t.status}`).join(", ")}`) };
    }
    await sleep(100);
  }
}

async function jobEvents(client: BelayClient, id: string): Promise<BelayEvent[]> {
  const events: BelayEvent[] = [];
  let after = 0;
  for (;;) {
    const page = await client.getJobEvents(id, { after, limit: 10_000 });
    events.push(...page.items);
    if (page.nextCursor === null) return events;
    after = Number(page.nextCursor);
  }
}

async function jobRecords(client: BelayClient, jobId: string): Promise<CancellationRecord[]> {
  return (await client.listCancellations({ jobId, limit: 1000 })).items;
}

/** Invariants 1, 2, 5, 6 and the consistency of each job, through the API of the restarted server. */
export async function checkJobs(client: BelayClient, jobs: Job[], observed: Observed): Promise<string[]> {
  const violations: string[] = [];
  const storedSeqs = new Map<number, BelayEvent>();
  for (const job of jobs) {
    const where = `job ${job.name} (${job.id})`;
    const bad = (message: string): number => violations.push(`${where}: ${message}`);
    const work = job.tasks.filter((t) => t.runOn !== "cancel");

    const events = await jobEvents(client, job.id);
    for (const event of events) storedSeqs.set(event.seq, event);
    // A job that did not end was reported by untilAllTerminal; what follows is about ended jobs.
    if (!terminalJob.has(job.status)) continue;

    // A terminal job has terminal tasks, and its status says what they did.
    for (const task of job.tasks) if (!terminalTask.has(task.status)) bad(`task ${task.key} is ${task.status} in a ${job.status} job`);
    if (job.status === "succeeded" && !work.every((t) => t.status === "succeeded")) bad(`succeeded with tasks ${work.map((t) => `${t.key}=${t.status}`).join(", ")}`);
    if ((job.status === "failed" || job.status === "partial") && work.every((t) => t.status === "succeeded")) bad(`${job.status} although every task succeeded`);
    if (job.status === "cancelled" && job.cancellation === null) bad("cancelled without a cancellation");

    // Invariant 1, from the event log: one end per job, one end per task attempt, nothing after.
    const ends = events.filter((e) => jobEnds.has(e.type));
    if (ends.length !== 1) bad(`${ends.length} job-end events (${ends.map((e) => e.type).join(", ")})`);
    else if (ends[0]!.type !== `belay.job.${job.status}`) bad(`ended with ${ends[0]!.type} but is ${job.status}`);
    const lastJobState = events.filter((e) => e.type.startsWith("belay.job.")).at(-1);
    if (lastJobState !== undefined && !jobEnds.has(lastJobState.type)) bad(`${lastJobState.type} after the job's end`);
    for (const task of job.tasks) {
      const taskEvents = events.filter((e) => e.data.taskKey === task.key && e.type.startsWith("belay.task.") && e.type !== "belay.task.progress");
      const finalEnds = taskEvents.filter((e) => taskEnds.has(e.type) && e.data["retrying"] !== true);
      if (finalEnds.length !== 1) bad(`task ${task.key} has ${finalEnds.length} final end events (${finalEnds.map((e) => e.type).join(", ")})`);
      else {
        if (finalEnds[0]!.type !== `belay.task.${task.status}`) bad(`task ${task.key} ended with ${finalEnds[0]!.type} but is ${task.status}`);
        const after = taskEvents.filter((e) => e.seq > finalEnds[0]!.seq);
        if (after.length > 0) bad(`task ${task.key} has ${after.map((e) => e.type).join(", ")} after its end`);
      }
    }

    // Invariant 2: once the job cancel is accepted, no work task starts.
    const cancelAccepted = events.find((e) => e.type === "belay.job.cancel_requested");
    if (cancelAccepted !== undefined) {
      const compensation = new Set(job.tasks.filter((t) => t.runOn === "cancel").map((t) => t.key));
      const late = events.filter((e) => e.type === "belay.task.started" && e.seq > cancelAccepted.seq && !compensation.has(e.data.taskKey ?? ""));
      if (late.length > 0) bad(`tasks ${late.map((e) => e.data.taskKey).join(", ")} started after the cancel was accepted`);
    }

    // Invariant 5: every record finished; one job-scope record per job; each accepted cancel is one of them.
    const records = await jobRecords(client, job.id);
    for (const record of records) {
      if (record.status === "in_progress") bad(`cancellation ${record.id} is still in_progress`);
      const open = record.steps.filter((s) => s.status === "running" || s.status === "pending");
      if (open.length > 0) bad(`cancellation ${record.id} (${record.status}) has steps ${open.map((s) => `${s.name}=${s.status}`).join(", ")}`);
    }
    const jobScoped = records.filter((r) => r.scope === "job");
    if (jobScoped.length > 1) bad(`${jobScoped.length} job-scope cancellation records`);
    if (job.cancellation !== null && !records.some((r) => r.id === job.cancellation?.id)) bad(`its cancellation summary ${job.cancellation.id} has no record`);
    for (const accepted of observed.cancels.filter((c) => c.jobId === job.id)) {
      if (!records.some((r) => r.id === accepted.recordId)) bad(`the accepted cancel ${accepted.recordId} has no record`);
    }
    const answered = new Set(observed.cancels.filter((c) => c.jobId === job.id && c.taskKey === null).map((c) => c.recordId));
    if (answered.size > 1) bad(`repeated cancels were answered with different records: ${[...answered].join(", ")}`);

    // Invariant 6: log lines read before the crash are still there.
    const seenLogs = observed.logs.get(job.id) ?? [];
    if (seenLogs.length > 0) {
      const stored = new Map((await client.getLogs(job.id)).items.map((l) => [l.seq, l.line]));
      const lost = seenLogs.filter((l) => stored.get(l.seq) !== l.line);
      if (lost.length > 0) bad(`${lost.length} log lines seen before the crash are lost or changed (first: ${lost[0]!.seq} ${lost[0]!.line})`);
    }
  }

  // Invariant 6: every event the client saw before the crash is stored, with the same seq.
  for (const [seq, seen] of observed.events) {
    const stored = storedSeqs.get(seq);
    if (stored === undefined) violations.push(`event ${seq} (${seen.type} of job ${seen.subject}) seen before the crash is lost`);
    else if (stored.type !== seen.type || stored.subject !== seen.subject) violations.push(`event ${seq} was ${seen.type} of ${seen.subject}, is now ${stored.type} of ${stored.subject}`);
  }
  const open = await client.listCancellations({ status: "in_progress", limit: 1000 });
  if (open.items.length > 0) violations.push(`${open.items.length} cancellations still in_progress: ${open.items.map((r) => r.id).join(", ")}`);
  return violations;
}

/** Invariants 3 and 7: no process of the scenario is alive once every job has ended. */
export function checkProcesses(tag: string): string[] {
  return survivors(tag).map((s) => `process ${s.pid} survives: ${s.cmdline}`);
}

/** What only the store shows: no runner left live, no task left active, no record left open. */
export async function checkStore(store: Store): Promise<string[]> {
  const violations: string[] = [];
  const runners = await store.liveRunners();
  if (runners.length > 0) violations.push(`runners still live in the store: ${runners.map((r) => `${r.jobId}/${r.taskKey}#${r.attempt} pid ${r.pid}`).join(", ")}`);
  const active = await store.activeTasks();
  if (active.length > 0) violations.push(`tasks still active in the store: ${active.map((t) => `${t.jobId}/${t.taskKey}=${t.status}`).join(", ")}`);
  const open = await store.openCancellations();
  if (open.length > 0) violations.push(`cancellations still open in the store: ${open.map((r) => r.id).join(", ")}`);
  return violations;
}
