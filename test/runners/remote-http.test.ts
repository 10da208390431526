/** The `http` remote adapter against the fake remote service, over loopback. */
import { afterEach, describe, expect, it } from "vitest";
import { HttpRemoteAdapter, httpAdapters } from "../../src/runners/remote-http.ts";
import type { RemotePollResult, RemoteSubmitContext } from "../../src/runners/remote.ts";
import { startFakeRemote } from "../../src/fake-remote/service.ts";
import type { FakeRemote, FakeRemoteOptions } from "../../src/fake-remote/service.ts";
import type { Json } from "../../src/core/model.ts";

const services: FakeRemote[] = [];
afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.close()));
});

async function setup(options: FakeRemoteOptions = {}, timeoutMs = 2000): Promise<{ fake: FakeRemote; adapter: HttpRemoteAdapter }> {
  const fake = await startFakeRemote(options);
  services.push(fake);
  const adapter = new HttpRemoteAdapter({ baseUrl: `${fake.url}/`, timeoutMs, ...(options.token === undefined ? {} : { token: options.token }) });
  return { fake, adapter };
}

const ctx: RemoteSubmitContext = { jobId: "job-1", taskKey: "vqe", attempt: 2, params: { p: 1 }, lastCheckpoint: { iteration: 3 } };

async function pollUntil(adapter: HttpRemoteAdapter, id: string, check: (r: RemotePollResult) => boolean): Promise<RemotePollResult> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const result = await adapter.poll(id);
    if (check(result)) return result;
    if (Date.now() > deadline) throw new Error(`poll condition not met; last: ${JSON.stringify(result)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const longJob: Json = { durationMs: 60_000, steps: 1000 };

describe("HttpRemoteAdapter", () => {
  it("submits with Belay's context, reports progress, and returns the output", async () => {
    const { fake, adapter } = await setup({ token: "s3cret" });
    const { remoteId } = await adapter.submit({ durationMs: 200, steps: 4, result: { energy: -1.137 } }, ctx);
    expect(fake.job(remoteId)).toMatchObject({ input: { durationMs: 200, steps: 4 }, belay: { jobId: "job-1", taskKey: "vqe", attempt: 2, lastCheckpoint: { iteration: 3 } } });

    const running = await pollUntil(adapter, remoteId, (r) => r.progress?.data !== undefined && (r.progress.ratio ?? 0) > 0);
    expect(running.state).toMatch(/running|succeeded/);
    expect(running.progress).toMatchObject({ message: expect.stringMatching(/^iteration \d\/4$/), data: { iteration: expect.any(Number), energy: expect.any(Number) } });

    const done = await pollUntil(adapter, remoteId, (r) => r.state === "succeeded");
    expect(done).toEqual({ state: "succeeded", output: { energy: -1.137 }, progress: { ratio: 1, message: "iteration 4/4", data: { iteration: 4, energy: -1.074500 } } });
    expect(fake.job(remoteId)?.points.map((p) => p.iteration)).toEqual([1, 2, 3, 4]);
  });

  it("a wrong token is refused with the service's message", async () => {
    const { fake } = await setup({ token: "s3cret" });
    const [name, adapter] = Object.entries(httpAdapters({ cloud: { url: fake.url, token: "wrong" } }))[0] ?? [];
    expect(name).toBe("cloud");
    await expect(adapter?.submit(null, ctx)).rejects.toThrow(/POST http:\/\/127\.0\.0\.1:\d+\/jobs answered 401: a valid bearer token is required/);
  });

  it("a failed remote job reports its error", async () => {
    const { adapter } = await setup();
    const { remoteId } = await adapter.submit({ durationMs: 20, steps: 1, fail: "SCF did not converge" }, ctx);
    expect(await pollUntil(adapter, remoteId, (r) => r.state !== "queued" && r.state !== "running")).toMatchObject({ state: "failed", error: "SCF did not converge" });
  });

  it("a bad input is refused at submit with the service's message", async () => {
    const { adapter } = await setup();
    await expect(adapter.submit({ cancel: "maybe" }, ctx)).rejects.toThrow(/answered 400: input\.cancel must be "ok", "fail" or "timeout"/);
  });

  it("cancel: accepted, the job ends cancelled and the service logged the call", async () => {
    const { fake, adapter } = await setup();
    const { remoteId } = await adapter.submit(longJob, ctx);
    await pollUntil(adapter, remoteId, (r) => r.state === "running");
    await adapter.cancel(remoteId);
    expect((await adapter.poll(remoteId)).state).toBe("cancelled");
    await adapter.cancel(remoteId); // a repeat is accepted too
    expect(fake.job(remoteId)?.calls.filter((c) => c.op === "cancel").map((c) => c.status)).toEqual([202, 200]);
  });

  it("cancel of a finished job throws 409 with the service's message", async () => {
    const { adapter } = await setup();
    const { remoteId } = await adapter.submit({ durationMs: 0, steps: 0 }, ctx);
    await pollUntil(adapter, remoteId, (r) => r.state === "succeeded");
    await expect(adapter.cancel(remoteId)).rejects.toThrow(`remote job ${remoteId} cannot be cancelled (409): job ${remoteId} has already succeeded`);
  });

  it("cancel refused by the service throws with its status and message; the job goes on", async () => {
    const { fake, adapter } = await setup();
    const { remoteId } = await adapter.submit({ ...(longJob as object), cancel: "fail" }, ctx);
    await expect(adapter.cancel(remoteId)).rejects.toThrow(`POST ${fake.url}/jobs/${remoteId}/cancel answered 500: the backend could not stop job ${remoteId}`);
    expect((await adapter.poll(remoteId)).state).toMatch(/queued|running/);
  });

  it("cancel that is never answered throws once the adapter's timeout has passed", async () => {
    const { fake, adapter } = await setup({}, 300);
    const { remoteId } = await adapter.submit({ ...(longJob as object), cancel: "timeout" }, ctx);
    const error = await adapter.cancel(remoteId).then(() => null, (e: unknown) => e);
    expect(error).toMatchObject({ name: "HttpRemoteError", status: null, message: `POST ${fake.url}/jobs/${remoteId}/cancel: no answer within 300 ms` });
    expect(fake.job(remoteId)?.calls.filter((c) => c.op === "cancel")).toEqual([{ op: "cancel", at: expect.any(String), status: null }]);
  });

  it("service down: submit, poll and cancel throw 503 with its message; up again, it answers", async () => {
    const { fake, adapter } = await setup();
    const { remoteId } = await adapter.submit(longJob, ctx);
    fake.setDown(true);
    await expect(adapter.submit(longJob, ctx)).rejects.toMatchObject({ status: 503, message: expect.stringContaining("answered 503: the fake remote service is down") });
    await expect(adapter.poll(remoteId)).rejects.toThrow(`GET ${fake.url}/jobs/${remoteId} answered 503: the fake remote service is down`);
    await expect(adapter.cancel(remoteId)).rejects.toThrow(/answered 503/);
    expect(fake.job(remoteId)?.calls.map((c) => [c.op, c.status])).toEqual([["submit", 201], ["poll", 503], ["cancel", 503]]);
    fake.setDown(false);
    expect((await adapter.poll(remoteId)).state).toMatch(/queued|running/);
  });

  it("a service that is gone: the error says the connection was refused", async () => {
    const { fake, adapter } = await setup();
    await fake.close();
    await expect(adapter.poll("x")).rejects.toThrow(/GET http:\/\/127\.0\.0\.1:\d+\/jobs\/x failed: .*ECONNREFUSED/);
  });

  it("an unknown job is a 404 with the service's message", async () => {
    const { adapter } = await setup();
    await expect(adapter.poll("nope")).rejects.toThrow(/answered 404: no job nope/);
  });

  it("httpAdapters refuses a bad URL, naming the remote", () => {
    expect(() => httpAdapters({ cloud: "not a url" })).toThrow('remote "cloud": remote base URL "not a url" is not a URL');
    expect(() => httpAdapters({ cloud: { url: "ftp://x" } })).toThrow(/must be http or https/);
  });
});
