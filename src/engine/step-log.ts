/** The one log line per cancellation step (DESIGN §5 "Logs"): jobId, cancellationId, step, status, durationMs. */
import type { Logger } from "pino";
import type { CancellationRecord, CancellationStep } from "../core/model.ts";

export function logStep(logger: Logger, record: Pick<CancellationRecord, "id" | "jobId">, step: Pick<CancellationStep, "name" | "status" | "startedAt" | "finishedAt">): void {
  const durationMs = step.startedAt === null || step.finishedAt === null ? null : Date.parse(step.finishedAt) - Date.parse(step.startedAt);
  logger.info({ jobId: record.jobId, cancellationId: record.id, step: step.name, status: step.status, durationMs }, "cancellation step");
}
