/**
 * Issue 15's UI fixes, in a real Chromium against a real `belay serve`: the in-progress
 * toast goes when the job ends; one 24-hour time format; the cancellation and event
 * history up front; BELAY_PROGRESS lines folded; chart x-axes in time; the task-run
 * timeline with the stop marked; the refused remote cancel in amber; job names and a
 * marker on the Cancellations list; search by name, label and time; a Live History; what
 * the role cannot do hidden; the Pools view.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../src/engine/ids.ts";
import { startFakeRemote } from "../../src/fake-remote/service.ts";
import type { FakeRemote } from "../../src/fake-remote/service.ts";
import { skippedIf } from "../optional.ts";
import { ensureWebBuild, eventually, launchBrowser, noBrowser, screenshotBoth, signIn, startUiServer, until } from "./helpers.ts";
import type { Browser, UiServer } from "./helpers.ts";
import { testTemplates } from "../server/helpers.ts";

/** A loop reporting `loss` (no iteration field) and plain lines; on SIGTERM it takes 2.5 s to stop. */
function trainingCommand(): string[] {
  return [
    "sh",
    "-c",
    `trap 'echo "saving checkpoint"; sleep 2.5; echo "saved"; exit 0' TERM
i=0
while [ $i -lt 600 ]; do
  i=$((i+1))
  echo "BELAY_PROGRESS {\\"ratio\\": $(awk "BEGIN { print $i / 600 }"), \\"message\\": \\"epoch $i\\", \\"loss\\": $(awk "BEGIN { print 1 / $i }")}"
  echo "epoch $i done"
  sleep 0.2
done`,
  ];
}

describe("web UI: issue 15", skippedIf(noBrowser), () => {
  let ui: UiServer;
  let cloud: FakeRemote;
  let browser: Browser;
  let page: Page;
  let training: string;

  beforeAll(async () => {
    await ensureWebBuild();
    cloud = await startFakeRemote();
    ui = await startUiServer({ remotes: { cloud: cloud.url }, pools: { gpu: 1 }, templates: testTemplates });
    browser = await launchBrowser();
    page = await browser.newPage();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await ui?.close();
    await cloud?.close();
  });

  const badge = () => page.locator(".job-head .badge").getAttribute("data-status");

  it("job page: history up front, progress lines folded, time on the chart's x axis, one 24-hour time format", async () => {
    const { json } = await ui.api("POST", "/jobs", {
      name: "training-run",
      graceMs: 8000,
      tasks: [
        { key: "prepare", kind: "process", command: ["sh", "-c", "echo prepared; sleep 0.3"] },
        { key: "train", kind: "process", dependsOn: ["prepare"], command: trainingCommand() },
      ],
    });
    training = json.job.id as string;
    await signIn(page, ui, ui.adminToken, `/jobs/${training}`);
    await page.getByRole("heading", { name: "training-run", level: 1 }).waitFor();

    // The chart of `loss` has time on its x axis, not "update 1–11".
    const chart = page.locator('figure.chart[data-field="loss"]');
    await chart.waitFor();
    await eventually(() => chart.locator(".chart-axis").innerText()).toMatch(/\d{2}:\d{2}:\d{2}–\d{2}:\d{2}:\d{2}/);
    expect(await chart.innerText()).not.toContain("update");

    // The log shows the plain lines; the BELAY_PROGRESS lines are folded into one line that counts them.
    const log = page.getByRole("log");
    await eventually(() => log.innerText()).toMatch(/epoch \d+ done/);
    await eventually(async () => Number(await page.locator(".log-fold").getAttribute("data-count"))).toBeGreaterThan(2);
    expect(await log.innerText()).not.toContain("BELAY_PROGRESS");
    expect(await page.locator(".log-fold").innerText()).toMatch(/Folded: \d+ BELAY_PROGRESS lines, latest \d+% “epoch \d+”/);
    await page.locator(".log-fold").getByRole("button", { name: "Show them" }).click();
    await eventually(() => log.innerText()).toContain("BELAY_PROGRESS");
    await page.locator(".log-fold").getByRole("button", { name: "Fold them" }).click();

    // The cancellation and event history sit above the task table and the charts, within the first screen.
    const historyTop = (await page.locator(".job-history").boundingBox())?.y ?? Infinity;
    const tasksTop = (await page.locator("#tasks-title").boundingBox())?.y ?? 0;
    const chartsTop = (await chart.boundingBox())?.y ?? 0;
    expect(historyTop).toBeLessThan(tasksTop);
    expect(historyTop).toBeLessThan(chartsTop);
    expect(historyTop).toBeLessThan(900);
    await page.getByRole("tab", { name: /Events/ }).click();
    await eventually(() => page.locator("#panel-events li").count()).toBeGreaterThan(3);
    expect(await page.locator("#panel-events").innerText()).toContain("job started");
    await page.getByRole("tab", { name: /Cancellations/ }).click();

    // One time format: 24-hour, even in an en-US browser (which would write "9:44:37 PM").
    const submitted = await page.locator(".facts div", { hasText: "Submitted" }).locator("dd").innerText();
    expect(submitted).toMatch(/^(\d{1,2} \w{3} \d{4} )?\d{2}:\d{2}:\d{2}$/);
    expect(await page.locator("body").innerText()).not.toMatch(/\b\d{1,2}:\d{2}(:\d{2})? ?[AP]M\b/);
  }, 90_000);

  it("the 'cancellation is in progress' toast goes when the job is cancelled; the task-run timeline marks where the stop landed", async () => {
    await page.getByRole("button", { name: "Stop job" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel(/Reason/).fill("enough epochs");
    await dialog.getByRole("button", { name: "Stop job" }).click();
    const toast = page.locator(`.toast[data-jobs~="${training}"]`);
    await eventually(() => toast.innerText()).toContain("the cancellation is in progress");
    // The task takes 2.5 s to stop; the toast would last 6 s on its own.
    await eventually(badge, { timeout: 8000 }).toBe("cancelled");
    const cancelledAt = Date.now();
    await eventually(() => toast.count(), { timeout: 1500 }).toBe(0);
    expect(Date.now() - cancelledAt).toBeLessThan(1500);
    expect(await page.locator(".toast").count()).toBe(0);

    // The Gantt: a bar per task that ran, and the stop's mark inside the bar of the task it cut short.
    const gantt = page.locator("svg.gantt");
    await gantt.waitFor();
    expect(await gantt.locator("rect.run").count()).toBe(2);
    const train = await gantt.locator('rect.run[data-task="train"]').boundingBox();
    const prepare = await gantt.locator('rect.run[data-task="prepare"]').boundingBox();
    const mark = await gantt.locator(".cancel-mark line").first().boundingBox();
    expect(train !== null && prepare !== null && mark !== null).toBe(true);
    if (train === null || prepare === null || mark === null) return;
    expect(prepare.x + prepare.width).toBeLessThanOrEqual(train.x + 2);
    expect(mark.x).toBeGreaterThan(train.x);
    expect(mark.x).toBeLessThan(train.x + train.width);
    expect(await gantt.getAttribute("aria-label")).toMatch(/train: cancelled.*stop requested at \+/);
    await screenshotBoth(page, "issue15-detail-cancelled");
  }, 90_000);

  it("a refused remote cancel is shown in amber at the top of the job page", async () => {
    const { json } = await ui.api("POST", "/jobs", { name: "cloud-sim", graceMs: 1000, tasks: [{ key: "sim", kind: "remote", adapter: "cloud", input: { durationMs: 120_000, steps: 60, cancel: "fail" } }] });
    const id = json.job.id as string;
    await until(() => ui.api("GET", `/jobs/${id}`), (r) => r.json.job.status === "running");
    await ui.api("POST", `/jobs/${id}/cancel`, { reason: "budget", wait: true });
    await page.goto(`${ui.url}/jobs/${id}`);
    const banner = page.locator(".banner-amber");
    await banner.waitFor();
    expect(await banner.innerText()).toContain("The remote job may still be running");
    // At the top: above the facts, the history and the tasks.
    const bannerTop = (await banner.boundingBox())?.y ?? Infinity;
    expect(bannerTop).toBeLessThan((await page.locator(".facts").boundingBox())?.y ?? 0);
    expect(await banner.evaluate("getComputedStyle(document.querySelector('.banner-amber')).backgroundColor")).toBe("rgb(255, 243, 205)");
    // The timeline says how the task stopped in words, not the raw code.
    const how = page.locator('.timeline-record tr[data-task="sim"] td[data-label="How"]').first();
    expect(await how.innerText()).toBe("remote cancel refused (the remote job may still run)");
    // The record's remote summary says the job may still run, not that all is done.
    const summary = await page.locator(".timeline-record").first().innerText();
    expect(summary).toContain("may still run: Belay retries the cancel");
    expect(summary).not.toContain("completed anyway");
    await screenshotBoth(page, "issue15-remote-refused");
  }, 60_000);

  it("Cancellations: job names beside the ids, and a marker on partial and failed records", async () => {
    // A partial record as the engine writes one when a cleanup or a remote cancel fails.
    const latest = (await ui.api("GET", `/jobs/${training}/cancellation`)).json.cancellation;
    const partialId = newId();
    await ui.server.engine.store.insertCancellation({ ...latest, id: partialId, status: "partial", errors: ["cleanup: EBUSY"], remote: { attempted: 1, cancelled: 0 } });
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Cancellations" }).click();
    const rows = page.locator("tr[data-cancellation]");
    await eventually(() => rows.count()).toBeGreaterThanOrEqual(3);
    const trainingRows = page.locator(`tr[data-cancellation]:has(a[href="/jobs/${training}"])`);
    await eventually(() => trainingRows.first().locator("td[data-label=Job] a").innerText()).toBe("training-run");
    // (The refused remote cancel of the test before is partial too, while its remote job runs.)
    const partial = page.locator(`tr[data-cancellation="${partialId}"][data-status="partial"]`);
    expect(await partial.count()).toBe(1);
    expect(await partial.locator(".attention-marker").innerText()).toContain("needs a look");
    expect(await partial.getAttribute("class")).toContain("needs-attention");
    expect(await page.locator('tr[data-cancellation][data-status="completed"] .attention-marker').count()).toBe(0);
    await screenshotBoth(page, "issue15-cancellations");
  });

  it("boards: search by name and label and a time range, applied by the server", async () => {
    const submit = async (name: string, labels: Record<string, string>): Promise<string> => (await ui.api("POST", "/jobs", { name, labels, command: ["sleep", "60"] })).json.job.id as string;
    const alpha = await submit("Alpha-Train", { team: "ml" });
    const beta = await submit("beta-eval", { team: "data" });
    await until(() => ui.api("GET", `/jobs?status=running`), (r) => r.json.items.length >= 2);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Jobs" }).click();
    const rows = page.locator("table.jobs-table tbody tr");
    await eventually(() => rows.count()).toBe(2);
    await page.getByLabel("Name").fill("alpha");
    await page.getByLabel("Name").press("Enter");
    await eventually(() => rows.count()).toBe(1);
    expect(await rows.first().getAttribute("data-job")).toBe(alpha);
    expect(page.url()).toContain("name=alpha");
    await page.getByLabel("Name").fill("");
    await page.getByLabel("Name").press("Enter");
    await page.getByLabel("Labels").fill("team=data");
    await page.getByLabel("Labels").press("Enter");
    await eventually(async () => (await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-job")))).join()).toBe(beta);
    await page.getByLabel("Labels").fill("team");
    await page.getByLabel("Labels").press("Enter");
    expect(await page.getByRole("alert").innerText()).toContain("key=value");
    await page.getByLabel("Labels").fill("");
    await page.getByLabel("Labels").press("Enter");
    await page.getByLabel("Submitted").selectOption("15m");
    await eventually(() => rows.count()).toBe(2);
    // The time range is the server's: a job created before the window is not listed.
    const old = new Date(Date.now() - 3600_000).toISOString();
    expect((await ui.api("GET", `/jobs?createdAfter=${encodeURIComponent(old)}&name=alpha`)).json.items.map((j: { id: string }) => j.id)).toEqual([alpha]);
    await ui.api("POST", "/jobs/cancel", { filter: { ids: [alpha, beta] }, force: true });

    // History: the same search.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "History" }).click();
    await page.getByLabel("Name").fill("TRAIN");
    await page.getByLabel("Name").press("Enter");
    const history = page.locator("table tbody tr[data-job]");
    await eventually(async () => (await history.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-job")))).sort().join()).toBe([alpha, training].sort().join());
  });

  it("History is live: the Live indicator shows, and a job that ends appears without a reload", async () => {
    await page.goto(`${ui.url}/history`);
    await eventually(() => page.locator(".live").innerText()).toContain("Live");
    const id = (await ui.api("POST", "/jobs", { name: "quick-one", command: ["true"] })).json.job.id as string;
    await eventually(() => page.locator(`tr[data-job="${id}"]`).count()).toBe(1);
    await screenshotBoth(page, "issue15-history");
  });

  it("hides what the role cannot do: a viewer sees no Stop, a user only on its own jobs", async () => {
    const viewer = (await ui.api("POST", "/tokens", { name: "vera", role: "viewer" })).json.token as string;
    const user = (await ui.api("POST", "/tokens", { name: "uma", role: "user" })).json.token as string;
    const mine = (await ui.api("POST", "/jobs", { name: "uma-job", tasks: [{ key: "main", template: "sleep", params: { seconds: 60 } }] }, user)).json.job.id as string;
    const theirs = (await ui.api("POST", "/jobs", { name: "admin-job", command: ["sleep", "60"] })).json.job.id as string;
    await until(() => ui.api("GET", `/jobs?status=running`), (r) => r.json.items.length >= 2);

    await signIn(page, ui, viewer, "/");
    await eventually(() => page.locator(`tr[data-job="${theirs}"]`).count()).toBe(1);
    await eventually(() => page.locator(".role-note").innerText()).toContain("a viewer");
    expect(await page.getByRole("button", { name: /^Stop/ }).count()).toBe(0);
    expect(await page.locator('input[type="checkbox"]').count()).toBe(0);
    await page.goto(`${ui.url}/jobs/${theirs}`);
    await page.getByRole("heading", { name: "admin-job", level: 1 }).waitFor();
    await eventually(() => page.locator(".role-note").count()).toBe(1);
    expect(await page.getByRole("button", { name: /Stop/ }).count()).toBe(0);

    await signIn(page, ui, user, "/");
    await eventually(() => page.locator(`tr[data-job="${mine}"] button`, { hasText: "Stop" }).count()).toBe(1);
    expect(await page.locator(`tr[data-job="${theirs}"] button`).count()).toBe(0);
    // Stopping several at once needs the operator role.
    expect(await page.getByRole("button", { name: /Stop selected/ }).count()).toBe(0);

    await signIn(page, ui, ui.adminToken, "/");
    await eventually(() => page.locator(`tr[data-job="${theirs}"] button`, { hasText: "Stop" }).count()).toBe(1);
    expect(await page.getByRole("button", { name: /Stop selected/ }).count()).toBe(1);
    await ui.api("POST", "/jobs/cancel", { filter: { ids: [mine, theirs] }, force: true });
  }, 60_000);

  it("Pools: each pool's slots and who holds them (skips, saying why, where the server has no GET /pools)", async (ctx) => {
    const probe = await ui.api("GET", "/pools");
    if (probe.status === 404) {
      // The page still explains itself instead of failing.
      await signIn(page, ui, ui.adminToken, "/pools");
      await page.getByRole("heading", { name: "Pools", level: 1 }).waitFor();
      await eventually(() => page.locator(".empty").innerText()).toContain("does not report its pools");
      ctx.skip("GET /api/v1/pools answers 404 on this server (it is built in another branch of issue 15); the Pools view was checked only for its 404 message");
      return;
    }
    const id = (await ui.api("POST", "/jobs", { name: "gpu-job", tasks: [{ key: "fit", kind: "process", uses: ["gpu"], command: ["sleep", "60"] }] })).json.job.id as string;
    await until(() => ui.api("GET", `/jobs/${id}`), (r) => r.json.job.status === "running");
    await signIn(page, ui, ui.adminToken, "/pools");
    const pool = page.locator('[data-pool="gpu"]');
    await eventually(() => pool.locator(".pool-usage").innerText()).toBe("1 of 1 in use");
    const holder = pool.locator(`tr[data-job="${id}"][data-task="fit"]`);
    await holder.waitFor();
    // The bar is drawn full: the one slot is taken.
    const bar = await pool.locator(".pool-bar").boundingBox();
    const fill = await pool.locator(".pool-bar .progress-fill").boundingBox();
    expect(bar !== null && fill !== null && bar.width > 100 && Math.abs(fill.width - bar.width) < 2).toBe(true);
    await screenshotBoth(page, "issue15-pools");
    await ui.api("POST", `/jobs/${id}/cancel`, { force: true, wait: true });
    await eventually(() => pool.locator(".pool-usage").innerText()).toBe("0 of 1 in use");
  });

  it("reported no page errors", () => {
    expect(browser.errors).toEqual([]);
  });
});
