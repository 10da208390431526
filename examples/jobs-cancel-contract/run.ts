/**
 * The `jobs.cancel` contract (seed 003) against a Belay server whose `exporter` pool has one
 * slot, so a second export waits its turn: a pending job.
 *
 * 1. export A starts (it holds the slot); export B is pending behind it;
 * 2. jobs.cancel(A) → 409 JOB_NOT_PENDING, and A goes on untouched;
 * 3. jobs.cancel(B) → cancelled, and the consumer receives `job.cancelled` for B;
 * 4. jobs.cancel(unknown id) → 404 JOB_NOT_FOUND;
 * 5. once A has completed, jobs.cancel(A) → 409 JOB_NOT_PENDING again.
 *
 * Run it: `node_modules/.bin/node examples/jobs-cancel-contract/run.ts` (see README.md).
 */
import { randomBytes } from "node:crypto";
import { BelayClient, isTerminalStatus } from "../../src/client/index.ts";
import type { Job } from "../../src/client/index.ts";
import { belayConnection } from "../shared/connection.ts";
import { ContractError, cancelJob } from "./contract.ts";
import type { CancelJobOutput, JobCancelledPayload } from "./contract.ts";
import { startReceiver } from "./receiver.ts";

export interface ContractDemoOptions {
  url: string;
  /** An admin token: to register the webhook and create the caller's `user` token. */
  adminToken: string;
  log?: (line: string) => void;
  /** How long export A runs, in seconds. Default 4. */
  exportSeconds?: number;
}

export interface ContractDemoResult {
  started: { jobId: string; error: ContractError; after: Job };
  pending: { jobId: string; statusBefore: string; output: CancelJobOutput; event: JobCancelledPayload; after: Job };
  unknown: { error: ContractError };
  completed: { jobId: string; status: string; error: ContractError };
  /** Every `job.cancelled` the consumer received during the demo. */
  received: JobCancelledPayload[];
}

async function refusal(call: Promise<unknown>): Promise<ContractError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ContractError) return error;
    throw error;
  }
  throw new Error("jobs.cancel was expected to refuse, and it succeeded");
}

async function until(client: BelayClient, jobId: string, done: (job: Job) => boolean, timeoutMs = 30_000): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { job } = await client.getJob(jobId);
    if (done(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} is still ${job.status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Register a webhook for `belay.job.cancelled` (an admin's job); returns a function that removes it. */
async function registerWebhook(url: string, adminToken: string, target: string, secret: string): Promise<() => Promise<void>> {
  const headers = { authorization: `Bearer ${adminToken}`, "content-type": "application/json" };
  const response = await fetch(`${url}/api/v1/webhooks`, { method: "POST", headers, body: JSON.stringify({ url: target, eventTypes: ["belay.job.cancelled"], secret }) });
  if (response.status !== 201) throw new Error(`registering the webhook answered ${response.status}: ${await response.text()}`);
  const { webhook } = (await response.json()) as { webhook: { id: string } };
  return async () => {
    await fetch(`${url}/api/v1/webhooks/${webhook.id}`, { method: "DELETE", headers: { authorization: `Bearer ${adminToken}` } });
  };
}

export async function runContractDemo(options: ContractDemoOptions): Promise<ContractDemoResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const exportSeconds = options.exportSeconds ?? 4;

  // Setup: the consumer of job.cancelled, its webhook, and the caller's token (policy.auth: user).
  const secret = `whsec_${randomBytes(24).toString("base64url")}`;
  const receiver = await startReceiver(secret, (event) => log(`   [consumer] job.cancelled v1.0.0 ${JSON.stringify(event)}`));
  const unregister = await registerWebhook(options.url, options.adminToken, receiver.url, secret);
  try {
    const admin = new BelayClient({ url: options.url, token: options.adminToken });
    const { token } = await admin.createToken({ name: "billing-service", role: "user" });
    const client = new BelayClient({ url: options.url, token });
    log(`setup: webhook → ${receiver.url} for belay.job.cancelled; caller billing-service (role user)`);

    const exportJob = (month: string) => ({
      name: `export invoices ${month}`,
      labels: { month },
      // The server's export-invoices template (templates.yaml): a user token runs it, not a command line.
      tasks: [{ key: "export", template: "export-invoices", params: { seconds: exportSeconds } }],
    });

    // 1. A holds the only exporter slot; B waits for it.
    const a = (await client.submitJob(exportJob("2025-10"))).job;
    await until(client, a.id, (job) => job.status === "running");
    const b = (await client.submitJob(exportJob("2025-11"))).job;
    log(`\n1. export A ${a.id} is running; export B ${b.id} is ${b.status} (pending)`);

    // 2. A has started: refused, and nothing about A changes.
    const startedError = await refusal(cancelJob(client, { jobId: a.id, reason: "not needed" }));
    const aAfter = (await client.getJob(a.id)).job;
    log(`\n2. jobs.cancel(A) → ${startedError.http} ${startedError.message}`);
    log(`   A is still ${aAfter.status}, cancellation: ${aAfter.cancellation === null ? "none" : aAfter.cancellation.id}`);

    // 3. B is pending: cancelled, and job.cancelled reaches the consumer.
    log(`\n3. jobs.cancel(B):`);
    const output = await cancelJob(client, { jobId: b.id, reason: "November export no longer needed" });
    log(`   → ${JSON.stringify(output)}`);
    const event = await receiver.waitFor(b.id);
    const bAfter = (await client.getJob(b.id)).job;

    // 4. No such job.
    const unknownError = await refusal(cancelJob(client, { jobId: "00000000-0000-7000-8000-000000000000" }));
    log(`\n4. jobs.cancel(unknown) → ${unknownError.http} ${unknownError.message}`);

    // 5. A completes on its own; a completed job is not pending either.
    const aDone = await until(client, a.id, (job) => isTerminalStatus(job.status));
    const completedError = await refusal(cancelJob(client, { jobId: a.id }));
    log(`\n5. A ended ${aDone.status}; jobs.cancel(A) → ${completedError.http} ${completedError.message}`);
    log(`\nthe consumer received ${receiver.received.length} job.cancelled event(s): ${receiver.received.map((e) => e.jobId).join(", ")}`);

    return {
      started: { jobId: a.id, error: startedError, after: aAfter },
      pending: { jobId: b.id, statusBefore: b.status, output, event, after: bAfter },
      unknown: { error: unknownError },
      completed: { jobId: a.id, status: aDone.status, error: completedError },
      received: [...receiver.received],
    };
  } finally {
    await unregister();
    await receiver.close();
  }
}

if (import.meta.main) {
  const { url, token } = belayConnection();
  await runContractDemo({ url, adminToken: token });
}
