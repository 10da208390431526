/**
 * `belay schedule create|list|show|pause|resume|delete` (DESIGN §7): a job spec submitted at each
 * time of a cron expression. A schedule is named by its id or by the caller's schedule name.
 */
import type { Command } from "commander";
import type { CatchUpPolicy, CreateScheduleRequest, OverlapPolicy, Schedule } from "../../client/types.ts";
import { context } from "../config.ts";
import { UsageError } from "../errors.ts";
import { fields, table, time } from "../format.ts";
import { line, printJson } from "../output.ts";
import { paint } from "../style.ts";
import { loadFile } from "./job-submit.ts";

const overlaps: readonly OverlapPolicy[] = ["skip", "allow", "cancel_previous"];
const catchUps: readonly CatchUpPolicy[] = ["none", "latest"];

function oneOf<T extends string>(allowed: readonly T[], flag: string): (value: string) => T {
  return (value) => {
    if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag} must be one of ${allowed.join(", ")} (got "${value}")`);
    return value as T;
  };
}

function describe(s: Schedule): string {
  return fields([
    ["id", s.id],
    ["name", s.name],
    ["owner", s.owner],
    ["cron", `${s.cron} (${s.timeZone})`],
    ["overlap", s.overlap],
    ["catch-up", s.catchUp],
    ["state", s.paused ? paint(`paused by ${s.pausedBy ?? "?"} at ${time(s.pausedAt)}`, "yellow") : "active"],
    ["next run", s.nextRunAt === null ? "-" : time(s.nextRunAt)],
    ["last run", s.lastRunAt === null ? "-" : `${time(s.lastRunAt)} ${s.lastOutcome ?? ""}${s.lastJobId === null ? "" : ` (job ${s.lastJobId})`}${s.lastError === null ? "" : `: ${s.lastError}`}`],
  ]);
}

export function registerSchedule(program: Command): void {
  const schedule = program.command("schedule").description("schedules: a job spec submitted at each time of a cron expression");

  schedule
    .command("create")
    .description("create a schedule from a job spec file (JSON or YAML; - for stdin)")
    .argument("<name>", "the schedule's name (unique among yours)")
    .argument("<job-file>", "the job spec each firing submits")
    .requiredOption("--cron <expression>", 'cron expression: "minute hour day-of-month month day-of-week", e.g. "0 2 * * *"')
    .option("--tz <zone>", "IANA time zone the expression is read in (default UTC)")
    .option("--overlap <policy>", `while an earlier run has not ended: ${overlaps.join(", ")} (default skip)`, oneOf(overlaps, "--overlap"))
    .option("--catch-up <policy>", `a firing missed during downtime: ${catchUps.join(", ")} (default none)`, oneOf(catchUps, "--catch-up"))
    .option("--paused", "create it paused")
    .action(async (name: string, file: string, options: { cron: string; tz?: string; overlap?: OverlapPolicy; catchUp?: CatchUpPolicy; paused?: boolean }, command: Command) => {
      const ctx = context(command);
      const job = (await loadFile(file)) as Record<string, unknown>;
      const request: CreateScheduleRequest = {
        name,
        cron: options.cron,
        job,
        ...(options.tz === undefined ? {} : { timeZone: options.tz }),
        ...(options.overlap === undefined ? {} : { overlap: options.overlap }),
        ...(options.catchUp === undefined ? {} : { catchUp: options.catchUp }),
        ...(options.paused === true ? { paused: true } : {}),
      };
      const { schedule: created } = await ctx.client.createSchedule(request);
      if (ctx.json) return printJson({ schedule: created });
      line(`created schedule ${created.id} (${created.name}); next run ${created.nextRunAt === null ? "- (paused)" : time(created.nextRunAt)}`);
    });

  schedule
    .command("list")
    .description("list schedules with their next run times")
    .action(async (_options: unknown, command: Command) => {
      const ctx = context(command);
      const body = await ctx.client.listSchedules();
      if (ctx.json) return printJson(body);
      if (body.items.length === 0) return line("no schedules (belay schedule create NAME JOB-FILE --cron EXPR)");
      line(
        table(
          ["ID", "NAME", "OWNER", "CRON", "TZ", "OVERLAP", "STATE", "NEXT RUN", "LAST"],
          body.items.map((s) => [
            s.id,
            s.name,
            s.owner,
            s.cron,
            s.timeZone,
            s.overlap,
            s.paused ? paint("paused", "yellow") : "active",
            s.nextRunAt === null ? "-" : time(s.nextRunAt),
            s.lastOutcome ?? "-",
          ]),
        ),
      );
    });

  schedule
    .command("show")
    .description("one schedule, by id or name")
    .argument("<schedule>", "id or name")
    .action(async (id: string, _options: unknown, command: Command) => {
      const ctx = context(command);
      const body = await ctx.client.getSchedule(id);
      if (ctx.json) return printJson(body);
      line(describe(body.schedule));
    });

  for (const [verb, what] of [
    ["pause", "stop firing until resumed"],
    ["resume", "fire again from the next time after now (the paused time is not caught up)"],
    ["delete", "delete it (the jobs it made keep its id)"],
  ] as const) {
    schedule
      .command(verb)
      .description(what)
      .argument("<schedule>", "id or name")
      .action(async (id: string, _options: unknown, command: Command) => {
        const ctx = context(command);
        const body = verb === "pause" ? await ctx.client.pauseSchedule(id) : verb === "resume" ? await ctx.client.resumeSchedule(id) : await ctx.client.deleteSchedule(id);
        if (ctx.json) return printJson(body);
        const s = body.schedule;
        line(verb === "delete" ? `deleted schedule ${s.id} (${s.name})` : `schedule ${s.name} ${s.paused ? "paused" : `active; next run ${time(s.nextRunAt)}`}`);
      });
  }
}
