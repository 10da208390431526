/** Errors and confirmations in words: errors as role=alert, confirmations in a polite live region. */
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { message } from "../api.ts";

export function ErrorNote(props: { error: unknown; onRetry?: () => void }): JSX.Element | null {
  if (props.error === null || props.error === undefined) return null;
  const text = message(props.error);
  if (text === "") return null;
  return (
    <div class="note note-error" role="alert">
      <span aria-hidden="true" class="note-icon">
        ⚠
      </span>
      <span class="note-text">{text}</span>
      {props.onRetry === undefined ? null : (
        <button type="button" class="link-button" onClick={props.onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export interface Toast {
  id: number;
  text: string;
  tone: "ok" | "error";
  /** A toast about jobs still in motion ("the cancellation is in progress"): it goes when the last of them ends. */
  jobIds?: string[];
}

let nextId = 1;
const listeners = new Set<(toasts: Toast[]) => void>();
let toasts: Toast[] = [];

function dismiss(id: number): void {
  toasts = toasts.filter((t) => t.id !== id);
  listeners.forEach((l) => l(toasts));
}

export function toast(text: string, tone: Toast["tone"] = "ok", options: { jobIds?: string[] } = {}): void {
  const item: Toast = { id: nextId++, text, tone, ...(options.jobIds === undefined || options.jobIds.length === 0 ? {} : { jobIds: options.jobIds }) };
  toasts = [...toasts, item].slice(-3);
  listeners.forEach((l) => l(toasts));
  setTimeout(() => dismiss(item.id), tone === "error" ? 12_000 : 6_000);
}

/**
 * The job has ended: a toast that said it was still being stopped is no longer true, so it
 * goes (the page's own banner and badge now say how it ended).
 */
export function settleJobToasts(jobId: string): void {
  if (!toasts.some((t) => t.jobIds?.includes(jobId) === true)) return;
  toasts = toasts
    .map((t) => (t.jobIds?.includes(jobId) === true ? { ...t, jobIds: t.jobIds.filter((id) => id !== jobId) } : t))
    .filter((t) => t.jobIds === undefined || t.jobIds.length > 0);
  listeners.forEach((l) => l(toasts));
}

export function Toasts(): JSX.Element {
  const [items, setItems] = useState<Toast[]>(toasts);
  useEffect(() => {
    listeners.add(setItems);
    return () => void listeners.delete(setItems);
  }, []);
  return (
    <div class="toasts" role="status" aria-live="polite">
      {items.map((t) => (
        <div key={t.id} class={`toast toast-${t.tone}`} data-jobs={t.jobIds?.join(" ")}>
          <span>{t.text}</span>
          <button type="button" class="toast-close" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
