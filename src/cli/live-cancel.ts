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
import { modeStyle, paint, statusStyle } from "./style.ts";

const ended: ReadonlySet<StepStatus> = new Set(["completed", "skipped", "failed"]);

/**
 * Prints each step once when it ends, with the record's own times (its start as an offset
 * from the request, and its duration), so the live view and `cancel-status` always agree.
 * A step is shown as started only when the record says so (a step written as `running`), or,
 * for the grace period, as "waiting" with no time of its own: the record has no start for it
 * until it ends. On a terminal, the grace period counts down in place.
 */
class StepPrinter {
  private readonly started = new Set<StepName>();
  private readonly finished = new Set<StepName>();
  private readonly print: boolean;
  private readonly countdown: Countdown | null;

  constructor(print: boolean, tty: boolean) {
    this.print = print;
    this.countdown = print && tty ? new Countdown() : null;
  }

  update(record: CancellationRecord): void {
    for (const step of record.steps) {
      if (ended.has(step.status)) {
        if (!this.finished.has(step.name)) this.end(record, step);
        continue;
      }
      if (record.status === "in_progress" && !this.started.has(step.name)) {
        if (step.status === "running") this.start(record, step);
        else if (step.name === "await_runners" && !record.force && findEnded(record, "signal_runners")) this.waiting(record);
      }
      break;
    }
    if (record.status !== "in_progress" || findEnded(record, "await_runners")) this.countdown?.stop();
  }

  private start(record: CancellationRecord, step: CancellationStep): void {
    this.started.add(step.name);
    this.write(`  ${offset(record.requestedAt, step.startedAt).padStart(9)}  ${step.name.padEnd(20)}  started`);
  }

  /** The grace period under way: how long it may last, counted down on a terminal. */
  private waiting(record: CancellationRecord): void {
    this.started.add("await_runners");
    const waiting = record.tasks.filter((t) => t.outcome === "mid_run" && t.stoppedAt === null);
    const graceMs = Math.max(0, ...waiting.map((t) => t.graceMs ?? record.graceMs));
    this.write(`  ${"".padStart(9)}  ${"await_runners".padEnd(20)}  started    waiting up to ${duration(graceMs)} for runners to exit`);
    const signalled = record.steps.find((s) => s.name === "signal_runners")?.finishedAt;
    if (signalled !== null && signalled !== undefined) this.countdown?.start(Date.parse(signalled) + graceMs);
  }

  private end(record: CancellationRecord, step: CancellationStep): void {
    this.started.add(step.name);
    this.finished.add(step.name);
    if (step.name === "await_runners") this.countdown?.stop();
    const status = paint(step.status, statusStyle(step.status));
    const pad = " ".repeat(Math.max(0, 9 - step.status.length));
    this.write(`  ${offset(record.requestedAt, step.startedAt).padStart(9)}  ${step.name.padEnd(20)}  ${status}${pad}  ${stepDuration(step).padStart(8)}  ${detail(step.detail)}`.trimEnd());
  }

  runner(record: CancellationRecord, event: BelayEvent): void {
    const d = event.data;
    if (event.type !== "belay.task.cancelled" || d.from === "pending") return;
    const exit = d["exitCode"] === null || d["exitCode"] === undefined ? "" : `, exit code ${String(d["exitCode"])}`;
    const mode = typeof d["stopMode"] === "string" ? d["stopMode"] : "stopped";
    this.write(`  ${offset(record.requestedAt, event.time).padStart(9)}  runner of task ${d.taskKey ?? "?"} stopped: ${paint(mode, modeStyle(mode))}${exit}`);
  }

  close(): void {
    this.countdown?.stop();
  }

  private write(text: string): void {
    if (!this.print) return;
    this.countdown?.clear();
    line(text);
    this.countdown?.render();
  }
}

function findEnded(record: CancellationRecord, name: StepName): boolean {
  const step = record.steps.find((s) => s.name === name);
  return step !== undefined && ended.has(step.status);
}

/** A line rewritten in place every 100 ms: the time left of the grace period (terminals only). */
class Countdown {
  private deadlineMs: number | null = null;
  private timer: NodeJS.Timeout | null = null;

  start(deadlineMs: number): void {
    this.deadlineMs = deadlineMs;
    this.render();
    this.timer = setInterval(() => this.render(), 100);
    this.timer.unref();
  }

  render(): void {
    if (this.deadlineMs === null) return;
    const leftMs = Math.max(0, this.deadlineMs - Date.now());
    const text = leftMs > 0 ? `grace period: ${(leftMs / 1000).toFixed(1)} s left, then the runners still alive are force-killed` : "grace period over: force-killing the runners still alive";
    process.stdout.write(`\r\x1b[2K  ${"".padStart(9)}  ${paint(text, "yellow")}`);
  }

  clear(): void {
    if (this.deadlineMs !== null) process.stdout.write("\r\x1b[2K");
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.clear();
    this.deadlineMs = null;
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
  const printer = new StepPrinter(print, process.stdout.isTTY === true);
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
    printer.close();
    stream?.close();
    await events?.return?.();
  }
  const jobId = record.jobId ?? response.job.id;
  const [{ job }, { cancellation }] = await Promise.all([client.getJob(jobId), client.getCancellation(record.id)]);
  printer.update(cancellation);
  return { job, cancellation, ...(response.alreadyCancelled === undefined ? {} : { alreadyCancelled: response.alreadyCancelled }) };
}
