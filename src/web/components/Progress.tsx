import type { JSX } from "preact";
import { percent } from "../format.ts";

/** A progress bar with its number; `label` names what progresses for screen readers. */
export function ProgressBar(props: { ratio: number | null | undefined; label: string; message?: string | null; active?: boolean }): JSX.Element {
  const ratio = props.ratio ?? 0;
  const pct = Math.round(Math.max(0, Math.min(1, ratio)) * 100);
  return (
    <div class={`progress${props.active === false ? " inactive" : ""}`}>
      <div class="progress-track" role="progressbar" aria-label={props.label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct} aria-valuetext={`${pct}%${props.message ? `, ${props.message}` : ""}`}>
        <div class="progress-fill" style={{ width: `${pct}%` }} />
      </div>
      <span class="progress-text">
        {percent(ratio)}
        {props.message ? <span class="progress-message"> {props.message}</span> : null}
      </span>
    </div>
  );
}
