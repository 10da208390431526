/**
 * The `jobs.cancel` contract of seed 003, implemented on Belay: "Cancel a pending job. Only
 * pending jobs can be cancelled." Belay's `onlyIfPending` is that rule, applied in the same
 * transaction as the cancel, so a job cannot start between the check and the cancel.
 *
 * The contract's description is kept as data (as the seed's `defineCommand` does) so the
 * implementation below can be checked against it; the `job.cancelled` event it emits is
 * Belay's `belay.job.cancelled`, delivered by a webhook (receiver.ts).
 */
import { isBelayApiError } from "../../src/client/index.ts";
import type { BelayClient, BelayEvent } from "../../src/client/index.ts";

export const CancelJobContract = {
  meta: {
    key: "jobs.cancel",
    version: "1.0.0",
    stability: "stable",
    owners: ["platform.jobs"],
    tags: ["jobs", "cancel"],
    description: "Cancel a pending job.",
    goal: "Allow cancellation of jobs that are no longer needed.",
    context: "Only pending jobs can be cancelled.",
  },
  io: {
    errors: {
      JOB_NOT_FOUND: { description: "Job does not exist", http: 404, when: "Job ID is invalid" },
      JOB_NOT_PENDING: { description: "Job is not in pending state", http: 409, when: "Job has already started or completed" },
    },
  },
  policy: { auth: "user" },
  sideEffects: { emits: [{ key: "job.cancelled", version: "1.0.0", when: "Job is cancelled" }] },
} as const;

export interface CancelJobInput {
  jobId: string;
  reason?: string;
}

export interface CancelJobOutput {
  jobId: string;
  status: "cancelled";
  cancelledAt: string;
}

export type ContractErrorCode = keyof typeof CancelJobContract.io.errors;

/** One of the contract's declared errors, with its HTTP status. */
export class ContractError extends Error {
  readonly code: ContractErrorCode;
  readonly http: number;
  readonly details: Record<string, unknown>;
  constructor(code: ContractErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(`${code}: ${message}`);
    this.code = code;
    this.http = CancelJobContract.io.errors[code].http;
    this.details = details;
  }
}

/** The payload of `job.cancelled` v1.0.0. */
export interface JobCancelledPayload {
  jobId: string;
  cancelledAt: string;
  /** Belay's event id: deliveries are at-least-once, so consumers de-duplicate on it. */
  eventId: string;
}

/**
 * `jobs.cancel`. A pending (queued) job is cancelled at once and Belay emits
 * `belay.job.cancelled`. A job that has started is refused with JOB_NOT_PENDING and left
 * exactly as it was. The client's token must have at least the `user` role (`policy.auth`);
 * a user may cancel only its own jobs.
 */
export async function cancelJob(client: BelayClient, input: CancelJobInput): Promise<CancelJobOutput> {
  try {
    const { job, cancellation } = await client.cancelJob(input.jobId, { onlyIfPending: true, ...(input.reason === undefined ? {} : { reason: input.reason }) });
    // Always `cancelled` for a job that had not started. The exception is a job with
    // compensation tasks, which waits for them (docs/cancellation.md); this contract's jobs have none.
    if (job.status !== "cancelled") throw new Error(`job ${job.id} is ${job.status} after a pending-only cancel`);
    return { jobId: job.id, status: "cancelled", cancelledAt: cancellation.completedAt ?? job.finishedAt ?? cancellation.requestedAt };
  } catch (error) {
    if (!isBelayApiError(error)) throw error;
    switch (error.code) {
      case "JOB_NOT_FOUND":
        throw new ContractError("JOB_NOT_FOUND", error.message, { jobId: input.jobId });
      // The contract counts a finished job as "not pending" too ("already started or completed").
      case "JOB_NOT_PENDING":
      case "JOB_ALREADY_FINISHED":
        throw new ContractError("JOB_NOT_PENDING", error.message, { jobId: input.jobId, ...error.details });
      default:
        throw error;
    }
  }
}

/** `job.cancelled` v1.0.0 from Belay's CloudEvent, or null for another event type. */
export function jobCancelledFrom(event: BelayEvent): JobCancelledPayload | null {
  if (event.type !== "belay.job.cancelled") return null;
  return { jobId: event.data.jobId, cancelledAt: event.time, eventId: event.id };
}
