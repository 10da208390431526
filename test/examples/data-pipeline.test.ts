/**
 * examples/data-pipeline (seed 002): the example's own spec, submitted with the real `belay`
 * CLI to a real server, stopped between the bronze and the silver layer — once with
 * `belay job cancel`, once with the web UI's Stop button in Chromium. The bronze batch in
 * flight finishes whole, the pending silver layer never starts and writes nothing.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { CancellationRecord, Job, Task } from "../../src/core/model.ts";
import { parseJson, runCli, startCliServer } from "../cli/helpers.ts";
import type { CliServer } from "../cli/helpers.ts";
import { until } from "../helpers.ts";
import { ensureWebBuild, eventually, launchBrowser, noBrowser, screenshotBoth, signIn, startUiServer } from "../web/helpers.ts";
import type { Browser, UiServer } from "../web/helpers.ts";
import { skippedIf } from "../optional.ts";

/** Relative to the repository root, where the CLI runs — as in the README. */
const specFile = "examples/data-pipeline/pipeline.yaml";
const silverKeys = ["silver.customers", "silver.orders"];

function task(job: Job, key: string): Task {
  const found = job.tasks.find((t) => t.key === key);
  if (found === undefined) throw new Error(`job ${job.id} has no task ${key}`);
  return found;
}

function files(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** Running "between layers": bronze.customers has landed, bronze.orders has landed a batch and is still running, silver waits. */
function betweenLayers(home: string, job: Job): boolean {
  return (
    task(job, "bronze.customers").status === "succeeded" &&
    task(job, "bronze.orders").status === "running" &&
    files(join(home, "artifacts", job.id, "bronze.orders")).some((f) => f.startsWith("batch-"))
  );
}

/** What a stop between the layers must leave: whole bronze batches kept, nothing of silver. */
function expectStoppedBetweenLayers(home: string, job: Job, log: string): void {
  expect(job.status).toBe("cancelled");
  expect(task(job, "bronze.customers").status).toBe("succeeded");
  expect(task(job, "bronze.orders").status).toBe("cancelled");
  for (const key of silverKeys) {
    expect(task(job, key).status).toBe("cancelled");
    expect(task(job, key).startedAt).toBeNull();
  }
  const artifacts = join(home, "artifacts", job.id);
  expect(files(artifacts)).toEqual(["bronze.customers", "bronze.orders"]);
  expect(files(join(artifacts, "bronze.customers"))).toEqual(["batch-0001.csv", "batch-0002.csv", "batch-0003.csv", "batch-0004.csv"]);
  // Every bronze.orders batch that exists is whole (header + 80 rows), none half-written
  // aside, and the last one is the batch the task said it finished when asked to stop.
  const orders = files(join(artifacts, "bronze.orders"));
  expect(orders.length).toBeGreaterThan(0);
  expect(orders.length).toBeLessThan(30);
  expect(orders.every((f) => /^batch-\d{4}\.csv$/.test(f))).toBe(true);
  for (const f of orders) expect(readFileSync(join(artifacts, "bronze.orders", f), "utf8").trim().split("\n")).toHaveLength(81);
  expect(log).toContain(`stop requested: batches 1 to ${orders.length} landed whole; not starting batch ${orders.length + 1}`);
}

function expectRecord(record: CancellationRecord, reason: string): void {
  expect(record).toMatchObject({ scope: "job", status: "completed", reason, force: false });
  // The bronze task in flight stopped on its own after its batch: graceful, mid-run.
  expect(record.tasks.find((t) => t.key === "bronze.orders")).toMatchObject({ outcome: "mid_run", mode: "graceful" });
  expect(record.runnersTerminated).toEqual({ graceful: 1, forced: 0 });
  // The silver layer was cancelled before it started: never signalled, no runner.
  for (const key of silverKeys) {
    expect(record.tasks.find((t) => t.key === key)).toMatchObject({ outcome: "before_start", signalledAt: null, mode: null });
    expect(record.affectedTasks).toContainEqual({ key, from: "pending", to: "cancelled" });
  }
  expect(record.steps.find((s) => s.name === "cancel_pending_tasks")?.detail).toMatchObject({ cancelled: 2 });
  expect(record.steps.find((s) => s.name === "force_kill")?.status).toBe("skipped");
}

describe("examples/data-pipeline with the CLI", () => {
  let s: CliServer;
  /** The job the first test stopped, and how many bronze.orders batches it had landed. */
  let stopped: { id: string; batches: number };
  beforeAll(async () => {
    s = await startCliServer({ concurrency: 4 });
  });
  afterAll(async () => {
    await s?.close();
  });

  it("stopped while bronze lands its batches: the batch in flight finishes whole, silver never starts and writes nothing", async () => {
    const submitted = await s.run(["job", "submit", specFile, "--json"]);
    expect(submitted.code).toBe(0);
    const { job } = parseJson<{ job: Job }>(submitted);
    expect(job.tasks.map((t) => t.key)).toEqual(["bronze.customers", "bronze.orders", ...silverKeys]);

    await until(async () => (await s.client.getJob(job.id)).job, (j) => betweenLayers(s.home, j), 20_000);
    const cancelled = await s.run(["job", "cancel", job.id, "--reason", "wrong source snapshot", "--json"]);
    expect(cancelled.stderr).toBe("");
    expect(cancelled.code).toBe(0);
    const answer = parseJson<{ job: Job; cancellation: CancellationRecord }>(cancelled);
    expectRecord(answer.cancellation, "wrong source snapshot");

    const logs = await s.run(["job", "logs", job.id, "--task", "bronze.orders"]);
    expect(logs.code).toBe(0);
    expectStoppedBetweenLayers(s.home, answer.job, logs.stdout);
    stopped = { id: job.id, batches: files(join(s.home, "artifacts", job.id, "bronze.orders")).length };
  }, 30_000);

  it("resumed, it carries on where it stopped: bronze.customers keeps its result, bronze.orders lands only the missing batches", async () => {
    const { id, batches } = stopped;
    const resumed = await s.run(["job", "resume", id, "--json"]);
    expect(resumed.code).toBe(0);
    expect(parseJson<{ job: Job }>(resumed).job).toMatchObject({ status: "queued", attempt: 2 });

    const next = `batch-${String(batches + 1).padStart(4, "0")}.csv`;
    const attempt2 = async () => (await s.client.getLogs(id, { task: "bronze.orders" })).items.filter((l) => l.attempt === 2).map((l) => l.line);
    const lines = await until(attempt2, (ls) => ls.includes(`landed ${next} (80 rows)`), 20_000);
    for (let b = 1; b <= batches; b++) expect(lines).toContain(`batch-${String(b).padStart(4, "0")}.csv already landed by an earlier attempt`);
    expect(lines.filter((l) => l.startsWith("landed "))[0]).toBe(`landed ${next} (80 rows)`);
    const job = (await s.client.getJob(id)).job;
    expect(task(job, "bronze.customers")).toMatchObject({ status: "succeeded", attempt: 1 });

    const again = await s.run(["job", "cancel", id, "--reason", "enough for the test", "--force", "--json"]);
    expect(again.code).toBe(0);
    expect(parseJson<{ job: Job }>(again).job.status).toBe("cancelled");
    expect(files(join(s.home, "artifacts", id)).filter((f) => f.startsWith("silver"))).toEqual([]);
  }, 30_000);

  it("runs to the end when nobody stops it (the same scripts, fewer and quicker batches): silver holds the cleaned tables", async () => {
    // The example's spec with only its knobs turned down, so the whole pipeline runs in seconds.
    const spec = parse(readFileSync(specFile, "utf8")) as { tasks: { key: string; env?: Record<string, string> }[] };
    for (const t of spec.tasks) if (t.env !== undefined) Object.assign(t.env, { BATCHES: t.key === "bronze.orders" ? "3" : "4", BATCH_SECONDS: "0.1" });
    const submitted = await s.run(["job", "submit", "-", "--json"], { input: JSON.stringify(spec) });
    expect(submitted.code).toBe(0);
    const { job } = parseJson<{ job: Job }>(submitted);
    const done = await s.client.waitForJob(job.id, { timeoutMs: 25_000 });
    expect(done.status).toBe("succeeded");

    const silver = join(s.home, "artifacts", job.id);
    const quality = (key: string) => JSON.parse(readFileSync(join(silver, key, "quality.json"), "utf8")) as Record<string, number>;
    const customers = quality("silver.customers");
    expect(customers["read"]).toBe(200);
    expect(customers["duplicates"]).toBeGreaterThan(0);
    expect(customers["rejected"]).toBeGreaterThan(0);
    expect(customers["written"]).toBe(200 - (customers["duplicates"] ?? 0) - (customers["rejected"] ?? 0));
    const customerRows = readFileSync(join(silver, "silver.customers", "customers.csv"), "utf8").trim().split("\n");
    expect(customerRows[0]).toBe("customer_id,name,email,country");
    expect(customerRows).toHaveLength((customers["written"] ?? 0) + 1);
    // One row per customer, every email present and lower-case.
    const ids = customerRows.slice(1).map((r) => r.split(",")[0]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(customerRows.slice(1).every((r) => /^\d+,customer \d+,user\d+@example\.com,[A-Z]{2}$/.test(r))).toBe(true);

    const orders = quality("silver.orders");
    expect(orders["read"]).toBe(240);
    const orderRows = readFileSync(join(silver, "silver.orders", "orders.csv"), "utf8").trim().split("\n");
    expect(orderRows[0]).toBe("order_id,customer_id,amount_cents,currency,country");
    expect(orderRows).toHaveLength((orders["written"] ?? 0) + 1);
    // Only positive amounts of known customers, each with its customer's country.
    const country = new Map(customerRows.slice(1).map((r) => [r.split(",")[0], r.split(",")[3]]));
    for (const row of orderRows.slice(1)) {
      const [, customer, amount, , rowCountry] = row.split(",");
      expect(Number(amount)).toBeGreaterThan(0);
      expect(rowCountry).toBe(country.get(customer ?? ""));
    }
  }, 30_000);
});

describe("examples/data-pipeline in the web UI", skippedIf(noBrowser), () => {
  let ui: UiServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    await ensureWebBuild();
    ui = await startUiServer();
    browser = await launchBrowser();
    page = await browser.newPage();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await ui?.close();
  });

  const node = (key: string) => page.locator(`svg.graph-svg g.node[data-task="${key}"]`);

  it("Stop on the job page, confirmed in the dialog, cancels the job between the layers: silver stopped before it started", async () => {
    const submitted = await runCli(["job", "submit", specFile, "--json"], { BELAY_URL: ui.server.url, BELAY_TOKEN: ui.adminToken });
    expect(submitted.code).toBe(0);
    const id = parseJson<{ job: Job }>(submitted).job.id;

    await signIn(page, ui, ui.adminToken, `/jobs/${id}`);
    await page.getByRole("heading", { name: "bronze-silver-pipeline", level: 1 }).waitFor();
    expect(await page.locator("svg.graph-svg g.node").count()).toBe(4);
    expect(await page.locator("svg.graph-svg path.edge").count()).toBe(4);
    await until(async () => (await ui.api("GET", `/jobs/${id}`)).json.job as Job, (j) => betweenLayers(ui.home, j), 20_000);
    await eventually(() => node("bronze.customers").getAttribute("data-status")).toBe("succeeded");
    await eventually(() => node("bronze.orders").getAttribute("data-status")).toBe("running");
    for (const key of silverKeys) expect(await node(key).getAttribute("data-status")).toBe("pending");
    await screenshotBoth(page, "example-data-pipeline-running");

    await page.locator(".job-head").getByRole("button", { name: "Stop job" }).click();
    const dialog = page.getByRole("dialog", { name: "Stop “bronze-silver-pipeline”?" });
    await dialog.waitFor();
    await dialog.getByLabel("Reason").fill("wrong source snapshot");
    await dialog.getByRole("button", { name: "Stop job" }).click();
    await dialog.waitFor({ state: "detached" });

    await eventually(() => page.locator(".job-head .badge").getAttribute("data-status"), { timeout: 15_000 }).toBe("cancelled");
    for (const key of silverKeys) {
      await eventually(() => node(key).getAttribute("data-status")).toBe("cancelled");
      await eventually(() => page.locator(`.tasks-table tr[data-task="${key}"]`).innerText()).toContain("not started");
    }
    expect(await node("bronze.orders").getAttribute("data-status")).toBe("cancelled");
    expect(await node("bronze.customers").getAttribute("data-status")).toBe("succeeded");

    // The timeline says who stopped it, why, and that silver was stopped before it started.
    const record = page.locator(".timeline-record").first();
    await eventually(() => record.getAttribute("data-status")).toBe("completed");
    const text = await record.innerText();
    expect(text).toContain("“wrong source snapshot”");
    expect(text).toMatch(/silver\.customers\s+stopped before it started/);
    expect(text).toMatch(/silver\.orders\s+stopped before it started/);
    expect(text).toMatch(/bronze\.orders\s+stopped while running/);
    await screenshotBoth(page, "example-data-pipeline-stopped");

    const job = (await ui.api("GET", `/jobs/${id}`)).json.job as Job;
    const log = (await ui.api("GET", `/jobs/${id}/logs?task=bronze.orders`)).json as { items: { line: string }[] };
    expectStoppedBetweenLayers(ui.home, job, log.items.map((l) => l.line).join("\n"));
    expectRecord((await ui.api("GET", `/jobs/${id}/cancellation`)).json.cancellation as CancellationRecord, "wrong source snapshot");
  }, 30_000);

  it("reported no page errors", () => {
    expect(browser.errors).toEqual([]);
  });
});
