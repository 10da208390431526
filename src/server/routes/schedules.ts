/**
 * /api/v1/schedules and /api/v1/queues (DESIGN §7): create, list, read, pause, resume and
 * delete schedules; list, pause and resume queues. Each route's least role comes from the
 * policy; the handler asks the policy about the action itself through `engine.as(caller)`
 * (a schedule's spec goes through the submit rules too).
 */
import type { FastifyInstance } from "fastify";
import { floorOf } from "../../core/policy.ts";
import { noOptionsBody, pauseQueueBody, queueParams } from "../../core/requests.ts";
import { queuePageResponse, queueResponse, schedulePageResponse, scheduleResponse } from "../../core/responses.ts";
import { createScheduleBody, scheduleIdParams } from "../../core/schedules.ts";
import { acting } from "../auth.ts";
import type { AppDeps } from "../deps.ts";
import { errorResponses } from "../schemas.ts";

export function registerScheduleRoutes(api: FastifyInstance, deps: AppDeps): void {
  const { engine } = deps;
  const floor = (...actions: Parameters<typeof floorOf>[1]) => ({ ...floorOf(engine.policy, actions) });
  const manage = floor("schedule.manage.own", "schedule.manage.any");

  api.post<{ Body: unknown }>(
    "/schedules",
    {
      config: floor("schedule.create"),
      schema: {
        summary: "Create a schedule: a job spec submitted at each time of a cron expression",
        description:
          '`{name, cron, timeZone, job, overlap, catchUp}`. `cron` has five fields (or six, seconds first), read in `timeZone` (IANA, default "UTC"). ' +
          "`overlap` (while an earlier run has not ended): `skip` (default), `allow`, `cancel_previous` (cancels it, with a record requestedBy `system:schedule`). " +
          "`catchUp` (a firing found more than a minute late, e.g. after downtime): `none` (default) skips it, `latest` makes one run for all the missed ones. " +
          "The job spec is checked now as `POST /jobs` checks it, for the caller (a free-command process task needs job.submit.process); each firing submits it as the caller. " +
          "A bad cron expression or time zone is a 400 naming the field; a name the caller already uses is a 409 SCHEDULE_NAME_TAKEN.",
        body: createScheduleBody,
        response: { 201: scheduleResponse, ...errorResponses },
      },
    },
    async (request, reply) => reply.code(201).send({ schedule: await acting(engine, request.caller).createSchedule(request.body) }),
  );

  api.get(
    "/schedules",
    {
      config: floor("schedule.read"),
      schema: { summary: "List schedules with their next run times (nextRunAt; null while paused)", response: { 200: schedulePageResponse, ...errorResponses } },
    },
    async (request) => ({ items: await acting(engine, request.caller).listSchedules() }),
  );

  api.get<{ Params: { id: string } }>(
    "/schedules/:id",
    {
      config: floor("schedule.read"),
      schema: { summary: "One schedule, by id or by the caller's schedule name", params: scheduleIdParams, response: { 200: scheduleResponse, ...errorResponses } },
    },
    async (request) => ({ schedule: await acting(engine, request.caller).getSchedule(request.params.id) }),
  );

  api.post<{ Params: { id: string } }>(
    "/schedules/:id/pause",
    {
      config: manage,
      schema: {
        summary: "Pause a schedule: it fires no more until resumed (idempotent)",
        params: scheduleIdParams,
        body: noOptionsBody,
        response: { 200: scheduleResponse, ...errorResponses },
      },
    },
    async (request) => ({ schedule: await acting(engine, request.caller).pauseSchedule(request.params.id) }),
  );

  api.post<{ Params: { id: string } }>(
    "/schedules/:id/resume",
    {
      config: manage,
      schema: {
        summary: "Resume a schedule from its next time after now (the paused time is not caught up)",
        params: scheduleIdParams,
        body: noOptionsBody,
        response: { 200: scheduleResponse, ...errorResponses },
      },
    },
    async (request) => ({ schedule: await acting(engine, request.caller).resumeSchedule(request.params.id) }),
  );

  api.delete<{ Params: { id: string } }>(
    "/schedules/:id",
    {
      config: manage,
      schema: { summary: "Delete a schedule (the jobs it made keep its id)", params: scheduleIdParams, response: { 200: scheduleResponse, ...errorResponses } },
    },
    async (request) => ({ schedule: await acting(engine, request.caller).deleteSchedule(request.params.id) }),
  );

  api.get(
    "/queues",
    {
      config: floor("queue.read"),
      schema: { summary: "List queues (those with tasks, or paused) and whether each is paused", response: { 200: queuePageResponse, ...errorResponses } },
    },
    async (request) => ({ items: await acting(engine, request.caller).listQueues() }),
  );

  api.post<{ Params: { name: string }; Body: { reason?: string | null } | null }>(
    "/queues/:name/pause",
    {
      config: floor("queue.pause"),
      schema: {
        summary: "Pause a queue: no node claims its tasks until it is resumed; they can still be cancelled",
        params: queueParams,
        body: pauseQueueBody,
        response: { 200: queueResponse, ...errorResponses },
      },
    },
    async (request) => ({ queue: await acting(engine, request.caller).pauseQueue(request.params.name, { reason: request.body?.reason ?? null }) }),
  );

  api.post<{ Params: { name: string } }>(
    "/queues/:name/resume",
    {
      config: floor("queue.pause"),
      schema: { summary: "Resume a queue: its waiting tasks are claimed again", params: queueParams, body: noOptionsBody, response: { 200: queueResponse, ...errorResponses } },
    },
    async (request) => ({ queue: await acting(engine, request.caller).resumeQueue(request.params.name) }),
  );
}
