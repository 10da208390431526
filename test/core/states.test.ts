import { describe, expect, it } from "vitest";
import { allJobTransitions, allTaskTransitions, assertJobTransition, assertTaskTransition, jobStatuses, taskStatuses, terminalJobStatuses, terminalTaskStatuses } from "../../src/core/states.ts";

describe("state machines", () => {
  it("has exactly the job transitions of DESIGN §2", () => {
    expect(allJobTransitions()).toEqual([
      ["queued", "running"],
      ["queued", "cancelled"],
      ["queued", "cancelling"],
      ["running", "succeeded"],
      ["running", "failed"],
      ["running", "partial"],
      ["running", "cancelling"],
      ["cancelling", "cancelled"],
      ["cancelling", "succeeded"],
      ["cancelling", "failed"],
      ["cancelling", "partial"],
    ]);
  });

  it("has exactly the task transitions of DESIGN §2", () => {
    expect(allTaskTransitions()).toEqual([
      ["pending", "running"],
      ["pending", "cancelled"],
      ["pending", "skipped"],
      ["running", "succeeded"],
      ["running", "failed"],
      ["running", "cancelling"],
      ["running", "pending"],
      ["cancelling", "cancelled"],
      ["cancelling", "succeeded"],
      ["cancelling", "failed"],
    ]);
  });

  it("never leaves a terminal status", () => {
    for (const from of terminalJobStatuses) for (const to of jobStatuses) expect(() => assertJobTransition(from, to, "j")).toThrow();
    for (const from of terminalTaskStatuses) for (const to of taskStatuses) expect(() => assertTaskTransition(from, to, "j", "k")).toThrow();
  });

  it("throws ILLEGAL_TRANSITION for anything not listed", () => {
    expect(() => assertJobTransition("queued", "succeeded", "j")).toThrow(expect.objectContaining({ code: "ILLEGAL_TRANSITION" }));
    expect(() => assertTaskTransition("pending", "succeeded", "j", "k")).toThrow(expect.objectContaining({ code: "ILLEGAL_TRANSITION" }));
  });
});
