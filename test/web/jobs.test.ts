/**
 * The Jobs board in a real Chromium against a real `belay serve`: live appearance, Stop with
 * a reason (badge cancelling → cancelled, the timeline's steps), the dialog's focus trap and
 * Escape, bulk stop with the dry-run count, and a 409 explained in words.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convergingCommand, ensureWebBuild, eventually, focused, launchBrowser, noBrowser, screenshot, screenshotBoth, startUiServer, until } from "./helpers.ts";
import type { Browser, UiServer } from "./helpers.ts";
import { skippedIf } from "../optional.ts";
import { requestLimits } from "../../src/core/requests.ts";

describe("web UI: jobs board", skippedIf(noBrowser), () => {
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

  const row = (id: string) => page.locator(`tr[data-job="${id}"]`);

  it("signs in with one click on the link `belay serve` printed, then shows a submitted job live as running", async () => {
    await page.goto(ui.signInUrl);
    await eventually(() => page.getByRole("heading", { name: "Jobs", level: 1 }).isVisible()).toBe(true);
    await eventually(() => page.getByText("No queued or running jobs").isVisible()).toBe(true);
    await eventually(() => page.locator(".live-live").isVisible()).toBe(true);
    await screenshotBoth(page, "jobs-empty");

    // Submitted through the API while the page is open: it appears without a reload.
    const { json } = await ui.api("POST", "/jobs", { name: "relax-structure", labels: { team: "chem" }, graceMs: 5000, command: convergingCommand() });
    const id = json.job.id as string;
    await row(id).waitFor();
    await eventually(() => row(id).getAttribute("data-status")).toBe("running");
    await eventually(async () => Number(await row(id).getByRole("progressbar").getAttribute("aria-valuenow"))).toBeGreaterThan(0);
    expect(await row(id).locator(".badge").innerText()).toContain("running");
  });

  it("Stop opens an accessible dialog (focus trapped, Escape closes), and a stop with a reason goes cancelling → cancelled with its timeline", async () => {
    const { json: list } = await ui.api("GET", "/jobs?status=running");
    const job = list.items.find((j: { name: string }) => j.name === "relax-structure");
    const id = job.id as string;

    await row(id).getByRole("button", { name: "Stop relax-structure" }).click();
    const dialog = page.getByRole("dialog", { name: "Stop “relax-structure”?" });
    await dialog.waitFor();
    // Focus starts in the reason field and stays inside the dialog.
    expect((await focused(page)).id).toBe("stop-reason");
    // The field takes no more than the contract's limit (core's requestLimits).
    expect(await page.locator("#stop-reason").getAttribute("maxlength")).toBe(String(requestLimits.reasonChars));
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press("Tab");
      const f = await focused(page);
      expect(f.inDialog, `Tab ${i + 1} left the dialog for ${f.tag}`).toBe(true);
      seen.add(`${f.tag}#${f.id}:${f.text}`);
    }
    // Tab went round: reason, force, "Keep it running", "Stop job", and back.
    expect(seen.size).toBe(4);
    await page.keyboard.press("Shift+Tab");
    expect((await focused(page)).inDialog).toBe(true);
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    expect((await ui.api("GET", `/jobs/${id}`)).json.job.status).toBe("running");
    // Focus is back on the button that opened it.
    expect((await focused(page)).text).toBe("Stop");

    await row(id).getByRole("button", { name: "Stop relax-structure" }).click();
    await dialog.waitFor();
    await dialog.getByLabel("Reason").fill("wrong basis set");
    expect(await dialog.getByLabel(/Force \(skip grace period\)/).isChecked()).toBe(false);
    await screenshotBoth(page, "jobs-stop-dialog");
    await dialog.getByRole("button", { name: "Stop job" }).click();
    await dialog.waitFor({ state: "detached" });

    // The process saves its state for ~0.6 s after SIGTERM: the badge shows cancelling first.
    await eventually(() => row(id).locator(".badge").getAttribute("data-status"), { timeout: 3000, interval: 20 }).toBe("cancelling");
    expect(await row(id).locator(".badge").innerText()).toContain("cancelling");
    await screenshot(page, "jobs-cancelling");
    const finished = page.locator(`.recent-list li[data-job="${id}"]`);
    await finished.waitFor({ timeout: 15_000 });
    expect(await finished.locator(".badge").innerText()).toContain("cancelled");
    expect(await finished.innerText()).toContain("wrong basis set");

    // The job page: the cancellation timeline with its steps, graceful stop, reason and who.
    await finished.getByRole("link", { name: "relax-structure" }).click();
    await page.getByRole("heading", { name: "Cancellation timeline" }).waitFor();
    const timeline = page.locator(".timeline-record").first();
    await eventually(() => timeline.getAttribute("data-status")).toBe("completed");
    const steps = await timeline.locator("li.step").evaluateAll((items) => items.map((li) => [li.getAttribute("data-step"), li.getAttribute("data-step-status")]));
    expect(steps.map(([name]) => name)).toEqual(["block_dispatch", "cancel_pending_tasks", "signal_runners", "await_runners", "force_kill", "cleanup", "finalize"]);
    expect(steps.find(([name]) => name === "await_runners")?.[1]).toBe("completed");
    const text = await timeline.innerText();
    expect(text).toContain("“wrong basis set”");
    expect(text).toContain("graceful (exited on its own)");
    expect(text).toContain("1 graceful, 0 forced");
    expect(text).toMatch(/Signal runners[\s\S]*\d\d:\d\d:\d\d\.\d{3} → \d\d:\d\d:\d\d\.\d{3}/);
    expect(await page.locator(".job-head .badge").innerText()).toContain("cancelled");
    // The log kept what the process printed while it stopped.
    await eventually(() => page.locator("pre.logs").innerText()).toContain("state saved");
  });

  it("stops several selected jobs at once, after showing the dry-run count", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Jobs" }).click();
    const ids: string[] = [];
    for (const name of ["sweep-1", "sweep-2", "sweep-3"]) {
      ids.push((await ui.api("POST", "/jobs", { name, queue: "sweeps", command: ["sleep", "30"] })).json.job.id as string);
    }
    for (const id of ids) await eventually(() => row(id).getAttribute("data-status")).toBe("running");
    await page.getByRole("checkbox", { name: "Select sweep-1" }).check();
    await page.getByRole("checkbox", { name: "Select sweep-3" }).check();
    await page.getByRole("button", { name: "Stop selected (2)" }).click();
    const dialog = page.getByRole("dialog", { name: "Stop 2 selected jobs?" });
    await dialog.waitFor();
    await eventually(() => dialog.getByTestId("bulk-count").innerText()).toBe("2 jobs will be stopped.");
    await dialog.getByLabel("Reason").fill("superseded sweep");
    await screenshotBoth(page, "jobs-bulk-dialog");
    await dialog.getByRole("button", { name: "Stop 2 jobs" }).click();
    await dialog.waitFor({ state: "detached" });

    for (const id of [ids[0], ids[2]]) {
      await page.locator(`.recent-list li[data-job="${id}"][data-status="cancelled"]`).waitFor({ timeout: 15_000 });
    }
    expect(await row(ids[1] as string).getAttribute("data-status")).toBe("running");
    // "Stopping 2 jobs." is no longer true once both have ended: the toast goes (it would stay 6 s).
    await eventually(() => page.locator(".toast", { hasText: "Stopping 2 jobs" }).count(), { timeout: 1000 }).toBe(0);
    const { json } = await ui.api("GET", "/cancellations?limit=10");
    const bulk = json.items.find((c: { scope: string }) => c.scope === "bulk");
    expect(bulk.reason).toBe("superseded sweep");
    await screenshotBoth(page, "jobs-board");
  });

  it("explains a 409 in words when the job finished while the dialog was open", async () => {
    const id = (await ui.api("POST", "/jobs", { name: "quick-check", command: ["sleep", "1.5"] })).json.job.id as string;
    await eventually(() => row(id).getAttribute("data-status")).toBe("running");
    await row(id).getByRole("button", { name: "Stop quick-check" }).click();
    const dialog = page.getByRole("dialog", { name: "Stop “quick-check”?" });
    await dialog.waitFor();
    await dialog.getByLabel("Reason").fill("too slow");
    await until(() => ui.api("GET", `/jobs/${id}`), (r) => r.json.job.status === "succeeded");
    await dialog.getByRole("button", { name: "Stop job" }).click();
    const alert = dialog.getByRole("alert");
    await alert.waitFor();
    expect(await alert.innerText()).toContain("This job already finished — nothing to cancel.");
    expect(await alert.innerText()).not.toContain("{");
    await screenshotBoth(page, "jobs-409");
    await dialog.getByRole("button", { name: "Close" }).click();
    await dialog.waitFor({ state: "detached" });
  });

  it("explains a 403 with the role needed (where the server cannot say the role first, Stop is offered and refused in words)", async () => {
    const viewer = (await ui.api("POST", "/tokens", { name: "vera", role: "viewer" })).json.token as string;
    const id = (await ui.api("POST", "/jobs", { name: "guarded", command: ["sleep", "30"] })).json.job.id as string;
    const other = await browser.newPage();
    // An older server without GET /whoami: the UI cannot hide Stop from a viewer, so the server's 403 must read well.
    await other.route("**/api/v1/whoami", (route) => route.fulfill({ status: 404, contentType: "application/json", body: JSON.stringify({ error: { code: "NOT_FOUND", message: "Route GET:/api/v1/whoami not found" } }) }));
    await other.goto(`${ui.url}/`);
    await other.evaluate((t) => localStorage.setItem("belay.token", t), viewer);
    await other.goto(`${ui.url}/jobs/${id}`);
    await other.getByRole("button", { name: "Stop job" }).click();
    const dialog = other.getByRole("dialog");
    await dialog.getByRole("button", { name: "Stop job" }).click();
    const alert = dialog.getByRole("alert");
    await alert.waitFor();
    const text = await alert.innerText();
    expect(text).toContain("needs the user");
    expect(text).toContain("your token has the viewer (read only) role");
    await other.close();
    // Back to the admin token for the other tests of this file (the context shares storage).
    await page.evaluate((t) => localStorage.setItem("belay.token", t), ui.adminToken);
    await ui.api("POST", `/jobs/${id}/cancel`, { force: true });
  });

  it("signs out, refuses a wrong pasted token in words, and signs in with a pasted one", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    const field = page.getByLabel("API token");
    await field.waitFor();
    await screenshotBoth(page, "signin");
    await field.fill("belay_not-a-real-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.innerText()).toContain("The server did not accept your token");
    await field.fill(ui.adminToken);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Jobs", level: 1 }).waitFor();
    expect(await page.evaluate("localStorage.getItem('belay.token')")).toBe(ui.adminToken);
  });

  it("reported no page errors", () => {
    expect(browser.errors).toEqual([]);
  });
});
