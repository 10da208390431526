/** A status as a word, an icon and a colour — never the colour alone. */
import type { JSX } from "preact";

type Tone = "neutral" | "info" | "warn" | "ok" | "bad" | "muted" | "stop";

const looks: Record<string, { icon: string; tone: Tone; label?: string }> = {
  queued: { icon: "○", tone: "neutral" },
  pending: { icon: "○", tone: "neutral" },
  running: { icon: "▶", tone: "info" },
  cancelling: { icon: "◼", tone: "warn" },
  succeeded: { icon: "✓", tone: "ok" },
  completed: { icon: "✓", tone: "ok" },
  failed: { icon: "✕", tone: "bad" },
  partial: { icon: "◑", tone: "warn" },
  cancelled: { icon: "⊘", tone: "stop" },
  skipped: { icon: "↷", tone: "muted" },
  in_progress: { icon: "◼", tone: "warn", label: "in progress" },
  too_late: { icon: "⌛", tone: "muted", label: "too late" },
};

export function Badge(props: { status: string; small?: boolean; label?: string }): JSX.Element {
  const look = looks[props.status] ?? { icon: "•", tone: "neutral" as Tone };
  const label = props.label ?? look.label ?? props.status.replaceAll("_", " ");
  return (
    <span class={`badge tone-${look.tone}${props.small === true ? " small" : ""}`} data-status={props.status}>
      <span class="badge-icon" aria-hidden="true">
        {look.icon}
      </span>
      {label}
    </span>
  );
}

/** Colours of states in the task graph (fill, stroke, text), matching the badges. */
export const stateColours: Record<string, { fill: string; stroke: string; text: string }> = {
  pending: { fill: "#f1f3f5", stroke: "#868e96", text: "#212529" },
  running: { fill: "#e7f1ff", stroke: "#1c64d6", text: "#0b3d91" },
  cancelling: { fill: "#fff4e0", stroke: "#c26a00", text: "#6b3b00" },
  succeeded: { fill: "#e6f6ec", stroke: "#2b8a3e", text: "#1b5e2a" },
  failed: { fill: "#fde8e8", stroke: "#c92a2a", text: "#8a1c1c" },
  cancelled: { fill: "#ece8f5", stroke: "#5f3dc4", text: "#3b2580" },
  skipped: { fill: "#f8f9fa", stroke: "#adb5bd", text: "#495057" },
};

export const stateIcons: Record<string, string> = Object.fromEntries(Object.entries(looks).map(([k, v]) => [k, v.icon]));
