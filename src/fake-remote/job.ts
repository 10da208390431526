/**
 * One job of the fake remote service: its behaviour is chosen by its input (the knobs of
 * docs/remote-adapter.md) and it runs on timers — queued, then running with progress
 * reports, then succeeded or failed, unless a cancel stops it first.
 */
import type { Json } from "../core/model.ts";

export type FakeJobState = "queued" | "running" | "succeeded" | "failed" | "cancelled";
export type CancelBehaviour = "ok" | "fail" | "timeout";

export interface FakeJobKnobs {
  /** Time spent `queued` before `running`. Default 0. */
  queueDelayMs: number;
  /** Time spent `running` before the job ends. Default 1000. */
  durationMs: number;
  /** Progress reports, evenly spread over `durationMs`. Default 10. */
  steps: number;
  /** Output of a successful job. Default `{iterations, energy}` of the last step. */
  result: Json | undefined;
  /** The job fails with this message at the end instead of succeeding. */
  fail: string | undefined;
  /** How a cancel request is answered: accepted, refused with a 500, or never answered. Default `ok`. */
  cancel: CancelBehaviour;
  /** After an accepted cancel, how long the job goes on running before it is `cancelled`. Default 0. */
  cancelDelayMs: number;
}

export interface FakeProgress {
  ratio: number;
  message: string;
  data: { iteration: number; energy: number };
}

export interface FakeCall {
  op: "submit" | "poll" | "cancel";
  at: string;
  /** The HTTP status answered; null while unanswered (a cancel that times out stays null). */
  status: number | null;
}

/** A snapshot of one job, for tests and `GET /jobs`. */
export interface FakeJobView {
  id: string;
  state: FakeJobState;
  input: Json;
  belay: Json;
  knobs: FakeJobKnobs;
  progress: FakeProgress | null;
  /** Every progress point reported so far (the partial results). */
  points: Array<{ iteration: number; energy: number }>;
  output: Json | null;
  error: string | null;
  /** Whether an accepted cancel is in progress or done. */
  cancelRequested: boolean;
  calls: FakeCall[];
  createdAt: string;
  finishedAt: string | null;
}

const maxDelayMs = 24 * 60 * 60 * 1000;
const maxSteps = 10_000;

/** Read the knobs from a job's input; a message names the first bad one. */
export function parseKnobs(input: Json): FakeJobKnobs | string {
  const o = typeof input === "object" && input !== null && !Array.isArray(input) ? input : {};
  const knobs: FakeJobKnobs = { queueDelayMs: 0, durationMs: 1000, steps: 10, result: undefined, fail: undefined, cancel: "ok", cancelDelayMs: 0 };
  for (const name of ["queueDelayMs", "durationMs", "steps", "cancelDelayMs"] as const) {
    const value = o[name];
    if (value === undefined) continue;
    const max = name === "steps" ? maxSteps : maxDelayMs;
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) return `input.${name} must be an integer from 0 to ${max}`;
    knobs[name] = value;
  }
  if (o["result"] !== undefined) knobs.result = o["result"];
  if (o["fail"] !== undefined) {
    if (typeof o["fail"] !== "string") return "input.fail must be a string (the failure message)";
    knobs.fail = o["fail"];
  }
  if (o["cancel"] !== undefined) {
    if (o["cancel"] !== "ok" && o["cancel"] !== "fail" && o["cancel"] !== "timeout") return 'input.cancel must be "ok", "fail" or "timeout"';
    knobs.cancel = o["cancel"];
  }
  return knobs;
}

/** A made-up energy that converges as iterations go on, like a variational solver's. */
function energyAt(iteration: number): number {
  return Number((-1.137 + 0.5 ** iteration).toFixed(6));
}

export class FakeJob {
  readonly id: string;
  readonly knobs: FakeJobKnobs;
  readonly #view: FakeJobView;
  #timer: NodeJS.Timeout | undefined;

  constructor(id: string, input: Json, belay: Json, knobs: FakeJobKnobs) {
    this.id = id;
    this.knobs = knobs;
    this.#view = {
      id,
      state: "queued",
      input,
      belay,
      knobs,
      progress: null,
      points: [],
      output: null,
      error: null,
      cancelRequested: false,
      calls: [],
      createdAt: new Date().toISOString(),
      finishedAt: null,
    };
    this.#after(knobs.queueDelayMs, () => this.#run());
  }

  get state(): FakeJobState {
    return this.#view.state;
  }

  get finished(): boolean {
    return this.#view.state !== "queued" && this.#view.state !== "running";
  }

  get cancelRequested(): boolean {
    return this.#view.cancelRequested;
  }

  /** Log a call; the returned function records the status it was answered with. */
  logCall(op: FakeCall["op"]): (status: number) => void {
    const call: FakeCall = { op, at: new Date().toISOString(), status: null };
    this.#view.calls.push(call);
    return (status) => {
      call.status = status;
    };
  }

  /** What `GET /jobs/{id}` answers. */
  wire(): Record<string, Json> {
    const v = this.#view;
    return {
      id: v.id,
      state: v.state,
      ...(v.progress === null ? {} : { progress: { ...v.progress, data: { ...v.progress.data } } }),
      ...(v.state === "succeeded" ? { output: v.output } : {}),
      ...(v.error === null ? {} : { error: v.error }),
    };
  }

  view(): FakeJobView {
    return structuredClone(this.#view);
  }

  /** An accepted cancel: the job ends `cancelled` after `cancelDelayMs`. */
  acceptCancel(): void {
    if (this.finished || this.#view.cancelRequested) return;
    this.#view.cancelRequested = true;
    clearTimeout(this.#timer);
    // With no delay the job is cancelled before the answer goes out, as a real service that
    // answers "cancelled" would: a poll right after the cancel must not see it running.
    if (this.knobs.cancelDelayMs === 0) this.#end("cancelled", null, "cancelled at Belay's request");
    else this.#after(this.knobs.cancelDelayMs, () => this.#end("cancelled", null, "cancelled at Belay's request"));
  }

  stop(): void {
    clearTimeout(this.#timer);
  }

  #run(): void {
    this.#view.state = "running";
    this.#view.progress = { ratio: 0, message: "started", data: { iteration: 0, energy: energyAt(0) } };
    this.#step(1);
  }

  #step(iteration: number): void {
    const { steps, durationMs } = this.knobs;
    if (iteration > steps) {
      this.#after(steps === 0 ? durationMs : 0, () => this.#complete());
      return;
    }
    this.#after(Math.round(durationMs / steps), () => {
      const point = { iteration, energy: energyAt(iteration) };
      this.#view.points.push(point);
      this.#view.progress = { ratio: iteration / steps, message: `iteration ${iteration}/${steps}`, data: point };
      this.#step(iteration + 1);
    });
  }

  #complete(): void {
    if (this.knobs.fail !== undefined) {
      this.#end("failed", null, this.knobs.fail);
      return;
    }
    const last = this.#view.points.at(-1) ?? { iteration: 0, energy: energyAt(0) };
    this.#end("succeeded", this.knobs.result ?? { iterations: last.iteration, energy: last.energy }, null);
  }

  #end(state: FakeJobState, output: Json, error: string | null): void {
    this.#view.state = state;
    this.#view.output = output;
    this.#view.error = error;
    this.#view.finishedAt = new Date().toISOString();
  }

  #after(delayMs: number, then: () => void): void {
    this.#timer = setTimeout(then, delayMs);
  }
}
