/**
 * Follows a cancellation live (`belay job cancel`): each step as it starts and as it ends,
 * with timings, and each runner as it stops, until the record is no longer `in_progress`.
 *
 * The source is the job's event stream (`belay.cancellation.step` events of this record),
 * opened before the cancel request so no step is missed; the record is re-read every
 * second all the same (every 250 ms when there is no stream), so a lost connection only
 * makes the output coarser, never stuck.
 */
import type { BelayClient } from "../client/client.ts";
import type { EventStream } from "../client/events.ts";
import type { CancelResponse } from "../client/types.ts";
import { wake } from "../client/wake.ts";
import type { BelayEvent, CancellationRecord, CancellationStep, Json, StepName, StepStatus } from "../core/model.ts";
import { detail, duration, offset } from "./format.ts";
import { line } from "./output.ts";
import { stepDuration } from "./render-cancellation.ts";

const ended: ReadonlySet<StepStatus> = new Set(["completed", "skipped", "failed"]);

/** Prints each step once when it starts and once when it ends, whatever order the updates come in. */
class StepPrinter {
  private readonly started = new Set<StepName>();
  private readonly finished = new Set<StepName>();
  private readonly print: boolean;

  constructor(print: boolean) {
    this.print = print;
  }

  update(record: CancellationRecord): void {
    let previousEnd: string | null = record.requestedAt;
    for (const step of record.steps) {
      if (ended.has(step.status)) {
        if (!this.finished.has(step.name)) this.end(record, step);
        previousEnd = step.finishedAt;
        continue;
      }
      // The first step not yet ended is the one under way (its start is the previous step's end).
      if (record.status === "in_progress" && !this.started.has(step.name)) this.start(record, step, step.startedAt ?? previousEnd);
      break;
    }
  }

  private start(record: CancellationRecord, step: CancellationStep, at: string | null): void {
    this.started.add(step.name);
    const hint = step.name === "await_runners" && !record.force ? `waiting up to ${duration(record.graceMs)} for runners to exit` : "";
    this.write(`  ${offset(record.requestedAt, at).padStart(9)}  ${step.name.padEnd(20)}  started    ${hint}`.trimEnd());
  }

  private end(record: CancellationRecord, step: CancellationStep): void {
    this.started.add(step.name);
    this.finished.add(step.name);
    this.write(`  ${offset(record.requestedAt, step.finishedAt).padStart(9)}  ${step.name.padEnd(20)}  ${step.status.padEnd(9)}  ${stepDuration(step).padStart(8)}  ${detail(step.detail)}`.trimEnd());
  }

  runner(record: CancellationRecord, event: BelayEvent): void {
    const d = event.data;
    if (event.type !== "belay.task.cancelled" || d.from === "pending") return;
    const exit = d["exitCode"] === null || d["exitCode"] === undefined ? "" : `, exit code ${String(d["exitCode"])}`;
    const mode = typeof d["stopMode"] === "string" ? d["stopMode"] : "stopped";
    this.write(`  ${offset(record.requestedAt, event.time).padStart(9)}  runner of task ${d.taskKey ?? "?"} stopped: ${mode}${exit}`);
  }

  private write(text: string): void {
    if (this.print) line(text);
  }
}

/** Apply a `belay.cancellation.step` event to the local copy of the record. */
function applyStep(record: CancellationRecord, data: Record<string, Json>): void {
  const step = record.steps.find((s) => s.name === data["step"]);
  if (step === undefined) return;
  step.status = data["status"] as StepStatus;
  step.startedAt = (data["startedAt"] as string | null) ?? step.startedAt;
  step.finishedAt = (data["finishedAt"] as string | null) ?? step.finishedAt;
  step.detail = (data["detail"] as Record<string, Json> | null) ?? null;
  if (typeof data["recordStatus"] === "string") record.status = data["recordStatus"] as CancellationRecord["status"];
}

/**
 * Print the steps of `response`'s record as they happen; resolve with the job and record
 * once the record has ended. `stream` is the job's event stream, connected before the
 * cancel (or null: polling only). It is closed before this returns.
 */
export async function followCancellation(client: BelayClient, stream: EventStream | null, response: CancelResponse, print: boolean): Promise<CancelResponse> {
  let record: CancellationRecord = structuredClone(response.cancellation);
  const printer = new StepPrinter(print);
  printer.update(record);
  let events: AsyncIterator<BelayEvent> | null = stream === null ? null : stream[Symbol.asyncIterator]();
  let next: Promise<IteratorResult<BelayEvent>> | null = null;
  try {
    while (record.status === "in_progress") {
      const woken = await wake(events === null ? null : (next ??= events.next()), events === null ? 250 : 1000);
      if (woken === "timer") {
        record = (await client.getCancellation(record.id)).cancellation;
      } else if (woken === "ended") {
        events = null;
        next = null;
      } else {
        next = null;
        if (woken.type === "belay.cancellation.step" && woken.data["cancellationId"] === record.id) applyStep(record, woken.data);
        else printer.runner(record, woken);
      }
      printer.update(record);
    }
  } finally {
    stream?.close();
    await events?.return?.();
  }
  const jobId = record.jobId ?? response.job.id;
  const [{ job }, { cancellation }] = await Promise.all([client.getJob(jobId), client.getCancellation(record.id)]);
  printer.update(cancellation);
  return { job, cancellation, ...(response.alreadyCancelled === undefined ? {} : { alreadyCancelled: response.alreadyCancelled }) };
}
