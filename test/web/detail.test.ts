/**
 * Job detail, History and Cancellations in a real Chromium against a real `belay serve`:
 * the task graph, live progress with a chart of a converging `energy`, the live log, a
 * single task stopped with cascade off while its dependents still run, Resume, the
 * History filters and pages, and the cancellation records.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convergingCommand, ensureWebBuild, eventually, launchBrowser, noBrowser, screenshotBoth, signIn, startUiServer, until } from "./helpers.ts";
import type { Browser, UiServer } from "./helpers.ts";
import { skippedIf } from "../optional.ts";

describe("web UI: job detail, history, cancellations", skippedIf(noBrowser), () => {
  let ui: UiServer;
  let browser: Browser;
  let page: Page;
  let pipeline: string;

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
  const nodeStatus = (key: string) => node(key).getAttribute("data-status");

  it("draws the task graph and shows live progress, a chart of the partial results and the task's live log", async () => {
    const { json } = await ui.api("POST", "/jobs", {
      name: "pipeline",
      graceMs: 3000,
      tasks: [
        { key: "fetch", kind: "process", command: ["echo", "fetched"] },
        { key: "simulate", kind: "process", dependsOn: ["fetch"], command: convergingCommand() },
        { key: "analyse", kind: "process", dependsOn: ["simulate"], command: ["sh", "-c", "sleep 1; echo analysed"] },
        { key: "report", kind: "process", dependsOn: ["analyse"], command: ["echo", "report written"] },
        { key: "lint", kind: "process", command: ["echo", "lint ok"] },
        { key: "release-lock", kind: "process", runOn: "cancel", command: ["echo", "lock released"] },
      ],
    });
    pipeline = json.job.id as string;
    await signIn(page, ui, ui.adminToken, `/jobs/${pipeline}`);
    await page.getByRole("heading", { name: "pipeline", level: 1 }).waitFor();

    // The graph: one node per task, one edge per dependency, states as data and as words.
    expect(await page.locator("svg.graph-svg g.node").count()).toBe(6);
    expect(await page.locator("svg.graph-svg path.edge").count()).toBe(3);
    await eventually(() => nodeStatus("simulate")).toBe("running");
    expect(await node("fetch").locator("text.node-status").textContent()).toContain("succeeded");
    expect(await node("release-lock").getAttribute("aria-label")).toContain("runs only after a cancellation");

    // Live progress and a chart of the numeric field of the progress events.
    const chart = page.locator('figure.chart[data-field="energy"]');
    await chart.waitFor();
    await eventually(async () => Number(await page.locator('tr[data-task="simulate"] [role="progressbar"]').getAttribute("aria-valuenow"))).toBeGreaterThan(0);
    const before = await chart.getByRole("img").getAttribute("aria-label");
    await eventually(() => chart.getByRole("img").getAttribute("aria-label")).not.toBe(before);
    expect(await chart.innerText()).toContain("iteration");

    // Selecting a task in the graph shows its log, which follows live.
    await node("simulate").click();
    await eventually(() => page.getByLabel("Task", { exact: true }).inputValue()).toBe("simulate");
    const log = page.getByRole("log");
    await eventually(() => log.innerText()).toMatch(/iteration \d+ energy/);
    const lines = await log.locator(".log-line").count();
    await eventually(() => log.locator(".log-line").count()).toBeGreaterThan(lines);
    await page.waitForTimeout(1200);
    await screenshotBoth(page, "detail-running", async () => {
      await page.waitForTimeout(300);
    });
  });

  it("stops one task with cascade off: its dependents still run and the job ends partial", async () => {
    await page.getByRole("button", { name: "Stop task simulate" }).click();
    const dialog = page.getByRole("dialog", { name: "Stop task “simulate”?" });
    await dialog.waitFor();
    const cascade = dialog.getByLabel(/Also stop the tasks that depend on it/);
    expect(await cascade.isChecked()).toBe(true);
    expect(await dialog.innerText()).toContain("analyse, report will be cancelled too.");
    // The server's preview of this very stop (a dry run), before confirming.
    const preview = dialog.getByTestId("stop-preview");
    await eventually(() => preview.innerText()).toContain("Stop simulate (process");
    expect(await preview.innerText()).toMatch(/signalled, killed after \d/);
    await eventually(() => preview.innerText()).toContain("Cancel analyse (not started)");
    await cascade.uncheck();
    expect(await dialog.innerText()).toContain("analyse, report will still run, as if “simulate” had been skipped.");
    await eventually(() => preview.innerText()).not.toContain("Cancel analyse");
    await dialog.getByLabel("Reason").fill("converged enough");
    await screenshotBoth(page, "detail-stop-task-dialog");
    await dialog.getByRole("button", { name: "Stop task" }).click();
    await dialog.waitFor({ state: "detached" });

    await eventually(() => nodeStatus("simulate")).toBe("cancelled");
    // The dependents run (analyse sleeps a second: it is seen running), then succeed.
    await eventually(() => nodeStatus("analyse"), { timeout: 5000, interval: 20 }).toBe("running");
    await eventually(() => nodeStatus("report")).toBe("succeeded");
    await eventually(() => page.locator(".job-head .badge").getAttribute("data-status")).toBe("partial");
    expect(await nodeStatus("analyse")).toBe("succeeded");

    const record = page.locator(".timeline-record").first();
    await eventually(() => record.getAttribute("data-status")).toBe("completed");
    const text = await record.innerText();
    expect(text).toContain("Task “simulate” stopped by admin");
    expect(text).toContain("no — dependents run as if it were skipped");
    expect(text).toContain("“converged enough”");
    expect(text).toMatch(/simulate\s+stopped while running/);
    expect(await record.locator("li.step").count()).toBeGreaterThanOrEqual(4);
    // The chart keeps the points produced before the stop.
    expect(await page.locator('figure.chart[data-field="energy"]').count()).toBe(1);
    await screenshotBoth(page, "detail-partial");
  });

  it("resumes a partial job", async () => {
    await page.getByRole("button", { name: "Resume" }).click();
    await eventually(() => page.locator(".job-head .badge").getAttribute("data-status")).not.toBe("partial");
    await eventually(() => nodeStatus("simulate")).toBe("running");
    expect((await ui.api("GET", `/jobs/${pipeline}`)).json.job.attempt).toBe(2);
    // The new attempt draws a new line; the first attempt's points stay, dashed.
    const chart = page.locator('figure.chart[data-field="energy"]');
    await eventually(() => chart.locator("figcaption").innerText()).toContain("attempt 2");
    expect(await chart.locator("path.chart-line.earlier").count()).toBe(1);
    await ui.api("POST", `/jobs/${pipeline}/cancel`, { force: true, reason: "end of test" });
    await eventually(() => page.locator(".job-head .badge").getAttribute("data-status")).toBe("cancelled");
    // A job cancel runs the compensation task; the timeline says so.
    await eventually(() => page.locator(".timeline-record").first().innerText()).toContain("Compensation");
    await screenshotBoth(page, "detail-cancelled");
  });

  it("lists finished jobs a page at a time, filtered by status and time, and says who cancelled and why", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 26; i++) ids.push((await ui.api("POST", "/jobs", { name: `batch-${String(i).padStart(2, "0")}`, command: ["true"] })).json.job.id as string);
    const failing = (await ui.api("POST", "/jobs", { name: "flaky-import", command: ["sh", "-c", "echo boom >&2; exit 3"] })).json.job.id as string;
    const sleeper = (await ui.api("POST", "/jobs", { name: "nightly-train", command: ["sleep", "30"] })).json.job.id as string;
    await until(() => ui.api("GET", `/jobs/${sleeper}`), (r) => r.json.job.status === "running");
    await ui.api("POST", `/jobs/${sleeper}/cancel`, { reason: "out of budget", wait: true });
    for (const id of [...ids, failing]) await until(() => ui.api("GET", `/jobs/${id}`), (r) => !["queued", "running"].includes(r.json.job.status));

    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "History" }).click();
    await page.getByRole("heading", { name: "History", level: 1 }).waitFor();
    const rows = page.locator("table tbody tr");
    await eventually(() => rows.count()).toBe(25);
    const cancelled = page.locator(`tr[data-job="${sleeper}"]`);
    expect(await cancelled.locator(".badge").innerText()).toContain("cancelled");
    expect(await cancelled.innerText()).toContain("stopped by admin");
    expect(await cancelled.innerText()).toContain("“out of budget”");
    expect(await page.locator(`tr[data-job="${failing}"] .badge`).innerText()).toContain("failed");
    await screenshotBoth(page, "history");

    await page.getByRole("button", { name: "Older →" }).click();
    await eventually(() => page.getByText("Page 2").isVisible()).toBe(true);
    await eventually(() => rows.count()).toBe(4); // 29 finished jobs in all
    expect(await page.getByRole("button", { name: "Older →" }).isDisabled()).toBe(true);
    await page.getByRole("button", { name: "← Newer" }).click();
    await eventually(() => rows.count()).toBe(25);

    await page.getByLabel("Status").selectOption("cancelled");
    await eventually(async () => (await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-status")))).join(",")).toBe("cancelled,cancelled");
    expect(page.url()).toContain("status=cancelled");
    await page.getByLabel("Submitted").selectOption("1h");
    await eventually(() => rows.count()).toBe(2);
    await page.getByLabel("Status").selectOption("failed");
    await eventually(() => rows.count()).toBe(1);
  });

  it("lists cancellation records, filtered by status and job, with each record's steps", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Cancellations" }).click();
    await page.getByRole("heading", { name: "Cancellations", level: 1 }).waitFor();
    const rows = page.locator("table tbody tr[data-cancellation]");
    await eventually(() => rows.count()).toBe(3); // the task stop, the job stop of the resumed pipeline, nightly-train
    await screenshotBoth(page, "cancellations");

    await page.getByLabel("Job id").fill(pipeline);
    await page.getByLabel("Job id").press("Enter");
    await eventually(() => rows.count()).toBe(2);
    await rows.first().getByRole("button", { name: "Steps" }).click();
    const record = page.locator(".detail-row .timeline-record");
    await record.waitFor();
    expect(await record.locator("li.step").first().getAttribute("data-step")).toBe("block_dispatch");
    expect(await record.innerText()).toContain("“end of test”");
    await screenshotBoth(page, "cancellations-steps");

    await page.getByLabel("Job id").fill("not-a-job");
    await page.getByLabel("Job id").press("Enter");
    expect(await page.getByRole("alert").innerText()).toContain("is not a job id");
    await page.getByLabel("Job id").fill("");
    await page.getByLabel("Job id").press("Enter");
    await page.getByLabel("Status").selectOption("completed");
    await eventually(() => rows.count()).toBe(3);
    await page.getByLabel("Status").selectOption("failed");
    await eventually(() => page.getByText("No cancellations match these filters.").isVisible()).toBe(true);
  });

  it("reported no page errors", () => {
    expect(browser.errors).toEqual([]);
  });
});
