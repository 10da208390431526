/** When a schedule fires (DESIGN §7): time zones across a DST change, and the catch-up rule. */
import { describe, expect, it } from "vitest";
import { nextRunAfter, parseScheduleRequest, planFiring } from "../../src/core/schedule-rules.ts";
import { missedAfterMs } from "../../src/core/schedules.ts";

const at = (iso: string): number => Date.parse(iso);

describe("schedule rules", () => {
  it("reads the cron expression in its time zone, on both sides of a DST change", () => {
    // 02:00 in Oslo: 01:00 UTC in winter (CET), 00:00 UTC in summer (CEST).
    expect(new Date(nextRunAfter("0 2 * * *", "Europe/Oslo", at("2026-03-27T12:00:00Z")) ?? 0).toISOString()).toBe("2026-03-28T01:00:00.000Z");
    expect(new Date(nextRunAfter("0 2 * * *", "Europe/Oslo", at("2026-03-29T12:00:00Z")) ?? 0).toISOString()).toBe("2026-03-30T00:00:00.000Z");
    expect(new Date(nextRunAfter("*/15 * * * *", "UTC", at("2026-01-01T00:14:59Z")) ?? 0).toISOString()).toBe("2026-01-01T00:15:00.000Z");
  });

  it("a firing on time runs; a late one runs only with catchUp latest, once, and the next firing is after now", () => {
    const due = at("2026-01-01T02:00:00Z");
    const onTime = planFiring({ cron: "0 * * * *", timeZone: "UTC", catchUp: "none" }, due, due + 500);
    expect(onTime).toEqual({ fire: true, missed: false, nextRunMs: at("2026-01-01T03:00:00Z") });
    const now = due + 5 * 3600_000 + 60_000; // down for five hours: five firings missed
    expect(planFiring({ cron: "0 * * * *", timeZone: "UTC", catchUp: "none" }, due, now)).toEqual({ fire: false, missed: true, nextRunMs: at("2026-01-01T08:00:00Z") });
    expect(planFiring({ cron: "0 * * * *", timeZone: "UTC", catchUp: "latest" }, due, now)).toEqual({ fire: true, missed: true, nextRunMs: at("2026-01-01T08:00:00Z") });
    expect(planFiring({ cron: "0 * * * *", timeZone: "UTC", catchUp: "none" }, due, due + missedAfterMs).fire).toBe(true);
  });

  it("refuses a bad expression, zone or policy naming the field", () => {
    const job = { command: ["true"] };
    expect(() => parseScheduleRequest({ name: "a", cron: "* * *", job })).toThrow(/^cron: /);
    expect(() => parseScheduleRequest({ name: "a", cron: "0 2 * * *", timeZone: "Mars/Base", job })).toThrow(/^timeZone: "Mars\/Base" is not a known IANA time zone/);
    expect(() => parseScheduleRequest({ name: "a", cron: "0 2 * * *", overlap: "queue", job })).toThrow(/overlap/);
    expect(parseScheduleRequest({ name: "a", cron: " 0 2 * * * ", job })).toMatchObject({ cron: "0 2 * * *", timeZone: "UTC", overlap: "skip", catchUp: "none", paused: false });
  });
});
