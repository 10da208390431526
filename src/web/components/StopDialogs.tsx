/** The confirmation dialogs of the Stop buttons: one job, one task, several jobs. */
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, belay, maxReasonChars } from "../api.ts";
import type { BulkResult, CancelResult, Job } from "../api.ts";
import type { CancelPreview } from "../../client/index.ts";
import { duration, plural } from "../format.ts";
import { Dialog } from "./Dialog.tsx";
import { ErrorNote, toast } from "./Notice.tsx";

function ReasonField(props: { value: string; onInput: (value: string) => void; id: string }): JSX.Element {
  return (
    <div class="field">
      <label for={props.id}>Reason (optional, kept in the cancellation record)</label>
      <textarea id={props.id} name="reason" rows={2} maxLength={maxReasonChars} value={props.value} onInput={(e) => props.onInput(e.currentTarget.value)} placeholder="e.g. wrong parameters, superseded by a newer run" />
    </div>
  );
}

function ForceField(props: { checked: boolean; onChange: (checked: boolean) => void; graceMs: number }): JSX.Element {
  return (
    <div class="field check">
      <input id="stop-force" type="checkbox" name="force" checked={props.checked} onChange={(e) => props.onChange(e.currentTarget.checked)} />
      <label for="stop-force">
        Force (skip grace period)
        <span class="hint">Kill at once instead of giving running tasks up to {duration(props.graceMs)} to stop cleanly.</span>
      </label>
    </div>
  );
}

/**
 * What the stop would do, asked of the server before confirming (a dry run of the same
 * cancel, planned by the server's own rule: DESIGN §7 "Preview"). Shown only once it has
 * answered; a failed preview shows nothing (the confirmation still works).
 */
function usePreview(load: (signal: AbortSignal) => Promise<CancelPreview>, deps: unknown[]): CancelPreview | null {
  const [preview, setPreview] = useState<CancelPreview | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    load(controller.signal).then(setPreview, () => setPreview(null));
    return () => controller.abort();
  }, deps);
  return preview;
}

function PreviewList(props: { preview: CancelPreview | null }): JSX.Element | null {
  const { preview } = props;
  if (preview === null) return null;
  const lines: string[] = [];
  for (const r of preview.runners) {
    lines.push(`Stop ${r.key} (${r.kind}${r.nodeId === null ? "" : ` on ${r.nodeId}`}): ${r.stop === "kill" ? "killed at once" : `signalled, killed after ${duration(r.graceMs)} if still running`}`);
  }
  for (const t of preview.tasks.filter((t) => t.from === "pending")) lines.push(`Cancel ${t.key} (not started)`);
  for (const c of preview.compensations) lines.push(`Run compensation task ${c.key}`);
  if (lines.length === 0) lines.push(preview.outcome === "repeat" ? "Nothing new: a stop is already under way." : "Nothing to stop.");
  return (
    <div class="field" data-testid="stop-preview">
      <span class="hint">This stop would:</span>
      <ul class="stop-preview">
        {lines.map((l) => (
          <li key={l}>{l}</li>
        ))}
      </ul>
    </div>
  );
}

/** After these answers there is nothing left to confirm: the dialog only offers Close. */
function settled(error: unknown): boolean {
  return error instanceof ApiError && ["JOB_ALREADY_FINISHED", "TASK_ALREADY_FINISHED", "JOB_NOT_FOUND", "TASK_NOT_FOUND"].includes(error.code);
}

function describeOutcome(result: CancelResult, what: string): string {
  const What = what.charAt(0).toUpperCase() + what.slice(1);
  if (result.alreadyCancelled === true) return `${What} was already cancelled.`;
  switch (result.cancellation.status) {
    case "in_progress":
      return `Stopping ${what}: the cancellation is in progress.`;
    case "too_late":
      return `${What} finished before the stop took effect; its results are kept.`;
    default:
      return `${What} is stopped.`;
  }
}

export function StopJobDialog(props: { job: Job; initialForce?: boolean; onClose: () => void; onDone: (result: CancelResult) => void; onError?: () => void }): JSX.Element {
  const { job } = props;
  const [reason, setReason] = useState("");
  const [force, setForce] = useState(props.initialForce ?? false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const running = job.tasks.filter((t) => t.status === "running" || t.status === "cancelling").length;
  const escalate = job.status === "cancelling";
  const preview = usePreview((signal) => belay.previewJobCancel(job.id, { force }, signal), [job.id, force]);
  const closeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (settled(error)) closeRef.current?.focus();
  }, [error]);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { body } = await belay.cancelJob(job.id, { reason, force });
      toast(describeOutcome(body, `“${job.name}”`), "ok", body.cancellation.status === "in_progress" ? { jobIds: [job.id] } : {});
      props.onDone(body);
      props.onClose();
    } catch (e) {
      setError(e);
      setBusy(false);
      props.onError?.();
    }
  };

  return (
    <Dialog title={escalate ? `Force-stop “${job.name}”?` : `Stop “${job.name}”?`} onClose={props.onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <p class="dialog-text">
          {job.status === "queued"
            ? "The job has not started: it is cancelled at once and none of its tasks will run."
            : escalate
              ? "A stop is already in progress. Forcing it kills the tasks that are still running now."
              : `${plural(running, "running task")} will be signalled and given up to ${duration(job.graceMs)} to stop cleanly, then killed. Tasks that have not started will not start. Outputs, logs and artifacts produced so far are kept.`}
        </p>
        <PreviewList preview={preview} />
        <ReasonField id="stop-reason" value={reason} onInput={setReason} />
        {job.status === "queued" ? null : <ForceField checked={force} onChange={setForce} graceMs={job.graceMs} />}
        <ErrorNote error={error} />
        <div class="dialog-actions">
          <button type="button" class="button" ref={closeRef} onClick={props.onClose}>
            {error === null ? "Keep it running" : "Close"}
          </button>
          {settled(error) ? null : (
            <button type="submit" class="button danger" disabled={busy}>
              {busy ? "Stopping…" : escalate ? "Force stop" : "Stop job"}
            </button>
          )}
        </div>
      </form>
    </Dialog>
  );
}

export function StopTaskDialog(props: { job: Job; taskKey: string; onClose: () => void; onDone: (result: CancelResult) => void; onError?: () => void }): JSX.Element {
  const { job, taskKey } = props;
  const [reason, setReason] = useState("");
  const [force, setForce] = useState(false);
  const [cascade, setCascade] = useState(true);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const dependents = transitiveDependents(job, taskKey);
  const task = job.tasks.find((t) => t.key === taskKey);
  const preview = usePreview((signal) => belay.previewTaskCancel(job.id, taskKey, { force, cascade }, signal), [job.id, taskKey, force, cascade]);
  const closeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (settled(error)) closeRef.current?.focus();
  }, [error]);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { body } = await belay.cancelTask(job.id, taskKey, { reason, force, cascade });
      toast(describeOutcome(body, `task “${taskKey}”`), "ok", body.cancellation.status === "in_progress" ? { jobIds: [job.id] } : {});
      props.onDone(body);
      props.onClose();
    } catch (e) {
      setError(e);
      setBusy(false);
      props.onError?.();
    }
  };

  return (
    <Dialog title={`Stop task “${taskKey}”?`} onClose={props.onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <p class="dialog-text">
          {task?.status === "pending" ? "The task has not started: it will not run." : `The task is signalled and given up to ${duration(task?.spec.graceMs ?? job.graceMs)} to stop cleanly, then killed.`} The rest of
          the job goes on.
        </p>
        <div class="field check">
          <input id="stop-cascade" type="checkbox" name="cascade" checked={cascade} onChange={(e) => setCascade(e.currentTarget.checked)} />
          <label for="stop-cascade">
            Also stop the tasks that depend on it (cascade)
            <span class="hint">
              {dependents.length === 0
                ? "No task depends on this one."
                : cascade
                  ? `${dependents.join(", ")} will be cancelled too.`
                  : `${dependents.join(", ")} will still run, as if “${taskKey}” had been skipped.`}
            </span>
          </label>
        </div>
        <PreviewList preview={preview} />
        <ReasonField id="stop-task-reason" value={reason} onInput={setReason} />
        {task?.status === "pending" ? null : <ForceField checked={force} onChange={setForce} graceMs={task?.spec.graceMs ?? job.graceMs} />}
        <ErrorNote error={error} />
        <div class="dialog-actions">
          <button type="button" class="button" ref={closeRef} onClick={props.onClose}>
            {error === null ? "Keep it running" : "Close"}
          </button>
          {settled(error) ? null : (
            <button type="submit" class="button danger" disabled={busy}>
              {busy ? "Stopping…" : "Stop task"}
            </button>
          )}
        </div>
      </form>
    </Dialog>
  );
}

export function transitiveDependents(job: Job, key: string): string[] {
  const out: string[] = [];
  const queue = [key];
  while (queue.length > 0) {
    const k = queue.shift() as string;
    for (const t of job.tasks) {
      if (t.runOn === "normal" && t.dependsOn.some((d) => d.key === k) && !out.includes(t.key)) {
        out.push(t.key);
        queue.push(t.key);
      }
    }
  }
  return out;
}

export function BulkStopDialog(props: { jobs: Job[]; onClose: () => void; onDone: (result: BulkResult) => void }): JSX.Element {
  const ids = props.jobs.map((j) => j.id);
  const [matched, setMatched] = useState<number | null>(null);
  const [checkError, setCheckError] = useState<unknown>(null);
  const [reason, setReason] = useState("");
  const [force, setForce] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    let live = true;
    belay
      .cancelJobs(ids, { dryRun: true })
      .then(({ body }) => live && setMatched(body.matched))
      .catch((e: unknown) => live && setCheckError(e));
    return () => {
      live = false;
    };
  }, []);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { body } = await belay.cancelJobs(ids, { reason, force });
      // The bulk answer does not say which jobs it stopped: the toast goes once every selected job has ended.
      toast(body.cancelled === 0 ? "Nothing to stop: every selected job had already finished." : `Stopping ${plural(body.cancelled, "job")}.`, "ok", body.cancelled === 0 ? {} : { jobIds: ids });
      props.onDone(body);
      props.onClose();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  const grace = Math.max(...props.jobs.map((j) => j.graceMs), 0);

  return (
    <Dialog title={`Stop ${plural(ids.length, "selected job")}?`} onClose={props.onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <p class="dialog-text" aria-live="polite" data-testid="bulk-count">
          {checkError !== null
            ? null
            : matched === null
              ? "Checking which of them can still be stopped…"
              : matched === 0
                ? "None of the selected jobs is still queued or running — nothing to stop."
                : matched === ids.length
                  ? `${plural(matched, "job")} will be stopped.`
                  : `${matched} of the ${ids.length} selected jobs will be stopped; the others have already finished.`}
        </p>
        <ErrorNote error={checkError} />
        <ReasonField id="bulk-reason" value={reason} onInput={setReason} />
        <ForceField checked={force} onChange={setForce} graceMs={grace} />
        <ErrorNote error={error} />
        <div class="dialog-actions">
          <button type="button" class="button" onClick={props.onClose}>
            Keep them running
          </button>
          <button type="submit" class="button danger" disabled={busy || matched === null || matched === 0}>
            {busy ? "Stopping…" : matched === null ? "Stop jobs" : `Stop ${plural(matched, "job")}`}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
