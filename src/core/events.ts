import type { BelayEvent, NewEvent } from "./model.ts";

/** A stored event as CloudEvents 1.0 JSON; `seq` is its global number, also its id. */
export function toBelayEvent(seq: number, e: NewEvent): BelayEvent {
  return {
    specversion: "1.0",
    id: String(seq),
    seq,
    source: "belay",
    type: e.type,
    subject: e.jobId,
    time: e.time,
    datacontenttype: "application/json",
    data: e.taskKey === null ? { ...e.data, jobId: e.jobId } : { ...e.data, jobId: e.jobId, taskKey: e.taskKey },
  };
}
