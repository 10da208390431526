/**
 * Colour for people at a terminal, none for pipes and files: on when stdout is a TTY, off
 * when `NO_COLOR` is set to anything non-empty (no-color.org) or `TERM=dumb`; `FORCE_COLOR`
 * (not "0") turns it on anywhere. Node's own `util.styleText` writes the escape codes, so
 * no dependency is needed. Colour only repeats what the words say: output stays readable,
 * and greppable, without it.
 */
import { styleText } from "node:util";
import type { JobStatus, TaskStatus } from "../core/states.ts";

type Style = "red" | "green" | "yellow" | "cyan" | "gray" | "bold";

function colourOn(): boolean {
  const env = process.env;
  const force = env["FORCE_COLOR"];
  if (force !== undefined && force !== "" && force !== "0") return true;
  if (env["NO_COLOR"] !== undefined && env["NO_COLOR"] !== "") return false;
  if (env["TERM"] === "dumb") return false;
  return process.stdout.isTTY === true;
}

let enabled: boolean | null = null;

/** `text` in `style` when colour is on, else `text` unchanged. */
export function paint(text: string, style: Style | null): string {
  enabled ??= colourOn();
  if (!enabled || style === null || text === "") return text;
  return styleText(style, text, { validateStream: false });
}

/** Job, task, step and record statuses: green went well, red did not, yellow is under way or partial. */
export function statusStyle(status: JobStatus | TaskStatus | string): Style | null {
  switch (status) {
    case "succeeded":
    case "completed":
      return "green";
    case "failed":
      return "red";
    case "cancelled":
    case "partial":
    case "too_late":
    case "cancelling":
    case "in_progress":
    case "running":
      return "yellow";
    case "skipped":
    case "pending":
    case "queued":
      return "gray";
    default:
      return null;
  }
}

/** How a runner stopped: a forced kill or a remote job that may run on deserve a look. */
export function modeStyle(mode: string): Style | null {
  if (mode === "forced") return "yellow";
  if (mode === "remote_refused") return "red";
  return null;
}

/** A status word coloured by what it means. */
export function status(word: string): string {
  return paint(word, statusStyle(word));
}
