/**
 * examples/jobs-cancel-contract (seed 003): the example's `jobs.cancel` and its webhook
 * consumer, run by its own demo against a real server with a one-slot `exporter` pool.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CancelJobContract, cancelJob } from "../../examples/jobs-cancel-contract/contract.ts";
import { startReceiver } from "../../examples/jobs-cancel-contract/receiver.ts";
import { runContractDemo } from "../../examples/jobs-cancel-contract/run.ts";
import type { ContractDemoResult } from "../../examples/jobs-cancel-contract/run.ts";
import { signPayload } from "../../src/server/webhooks.ts";
import { startCliServer } from "../cli/helpers.ts";
import { readTemplatesFile } from "../../src/cli/commands/node-options.ts";
import type { CliServer } from "../cli/helpers.ts";

describe("example: the pending-only jobs.cancel contract", () => {
  let server: CliServer;
  let result: ContractDemoResult;

  beforeAll(async () => {
    // As the README's `belay serve --pool exporter=1 --templates … --webhook-allow-private` (its webhook consumer listens on 127.0.0.1).
    server = await startCliServer({
      pools: { exporter: 1 },
      webhookAllowPrivate: true,
      templates: await readTemplatesFile(new URL("../../examples/jobs-cancel-contract/templates.yaml", import.meta.url).pathname),
    });
    result = await runContractDemo({ url: server.url, adminToken: server.token, log: () => undefined, exportSeconds: 5 });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("refuses a started job with 409 JOB_NOT_PENDING and changes nothing about it", async () => {
    const { started } = result;
    expect(started.error).toMatchObject({ code: "JOB_NOT_PENDING", http: 409 });
    expect(started.after.status).toBe("running");
    expect(started.after.cancellation).toBeNull();
    expect((await server.client.listCancellations({ jobId: started.jobId })).total).toBe(0);
    const events = (await server.client.getJobEvents(started.jobId)).items.map((e) => e.type);
    expect(events).not.toContain("belay.job.cancel_requested");
    expect(events).not.toContain("belay.job.cancelled");
    // Untouched, it ran to its end.
    expect(result.completed.status).toBe("succeeded");
  });

  it("cancels a pending job before it starts, and the consumer receives job.cancelled for it, signed", async () => {
    const { pending } = result;
    expect(pending.statusBefore).toBe("queued");
    expect(pending.output).toMatchObject({ jobId: pending.jobId, status: "cancelled" });
    expect(pending.after.status).toBe("cancelled");
    expect(pending.after.startedAt).toBeNull();
    expect(pending.after.tasks.map((t) => t.status)).toEqual(["cancelled"]);
    expect(pending.after.cancellation).toMatchObject({ reason: "November export no longer needed", requestedBy: "billing-service" });

    expect(pending.event).toMatchObject({ jobId: pending.jobId, cancelledAt: pending.output.cancelledAt });
    // Exactly one job.cancelled was emitted during the demo: the pending job's.
    expect(result.received.map((e) => e.jobId)).toEqual([pending.jobId]);
  });

  it("answers a repeated jobs.cancel of the cancelled job with the same outcome, and no second record", async () => {
    const { pending } = result;
    expect(await cancelJob(server.client, { jobId: pending.jobId })).toEqual(pending.output);
    expect((await server.client.listCancellations({ jobId: pending.jobId })).total).toBe(1);
  });

  it("answers the contract's other errors: 404 JOB_NOT_FOUND, and 409 JOB_NOT_PENDING for a completed job", () => {
    expect(result.unknown.error).toMatchObject({ code: "JOB_NOT_FOUND", http: CancelJobContract.io.errors.JOB_NOT_FOUND.http });
    expect(result.completed.error).toMatchObject({ code: "JOB_NOT_PENDING", http: 409 });
  });

  it("has a consumer that refuses a forged delivery and counts a redelivered event once", async () => {
    const receiver = await startReceiver("the-right-secret-0123456789");
    try {
      const event = { specversion: "1.0", id: "77", seq: 77, source: "belay", type: "belay.job.cancelled", subject: "j", time: new Date().toISOString(), datacontenttype: "application/json", data: { jobId: "j" } };
      const body = JSON.stringify(event);
      const post = (secret: string): Promise<Response> =>
        fetch(receiver.url, { method: "POST", headers: { "content-type": "application/cloudevents+json", "belay-signature": signPayload(secret, body, Math.floor(Date.now() / 1000)) }, body });
      expect((await post("a-wrong-secret-0123456789")).status).toBe(401);
      expect(receiver.received).toEqual([]);
      expect((await post("the-right-secret-0123456789")).status).toBe(204);
      expect((await post("the-right-secret-0123456789")).status).toBe(204);
      expect(receiver.received).toEqual([{ jobId: "j", cancelledAt: event.time, eventId: "77" }]);
      expect(receiver.rejected).toBe(1);
    } finally {
      await receiver.close();
    }
  });
});
