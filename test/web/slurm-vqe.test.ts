/**
 * examples/slurm-vqe from the web UI, in a real Chromium against a real `belay serve --slurm`:
 * the VQE job on the real Slurm cluster is stopped with the Jobs board's Stop button, ends
 * cancelled with its timeline, and its partial convergence data is kept.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { vqeJob } from "../../examples/slurm-vqe/job.ts";
import { skippedIf } from "../optional.ts";
import { noSlurm } from "../slurm/cluster.ts";
import { ensureWebBuild, eventually, launchBrowser, noBrowser, signIn, startUiServer, until } from "./helpers.ts";
import type { Browser, UiServer } from "./helpers.ts";

describe("web UI: the Slurm VQE example stopped from the board", skippedIf(noBrowser ?? noSlurm), () => {
  let ui: UiServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    await ensureWebBuild();
    ui = await startUiServer({ slurm: { pollIntervalMs: 100 } });
    browser = await launchBrowser();
    page = await browser.newPage();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await ui?.close();
  });

  it("Stop with a reason: the Slurm job gets TERM, the job ends cancelled, the convergence data up to the stop is kept", async () => {
    const { json } = await ui.api("POST", "/jobs", vqeJob());
    const id = json.job.id as string;
    await signIn(page, ui, ui.adminToken, "/");
    const row = page.locator(`tr[data-job="${id}"]`);
    await row.waitFor();
    await eventually(async () => Number(await row.getByRole("progressbar").getAttribute("aria-valuenow")), { timeout: 60_000 }).toBeGreaterThan(0);

    await row.getByRole("button", { name: "Stop vqe-H2" }).click();
    const dialog = page.getByRole("dialog", { name: "Stop “vqe-H2”?" });
    await dialog.waitFor();
    await dialog.getByLabel("Reason").fill("enough iterations");
    await dialog.getByRole("button", { name: "Stop job" }).click();
    await dialog.waitFor({ state: "detached" });

    const job = await until(async () => (await ui.api("GET", `/jobs/${id}`)).json.job, (j) => j.status === "cancelled", 60_000);
    expect(job.tasks[0].status).toBe("cancelled");
    const record = (await ui.api("GET", `/jobs/${id}/cancellation`)).json.cancellation;
    expect(record).toMatchObject({ status: "completed", reason: "enough iterations" });
    expect(record.tasks[0]).toMatchObject({ outcome: "mid_run", mode: "remote", remote: { runner: "slurm", stopped: true, finalState: expect.stringMatching(/^(COMPLETED|CANCELLED)$/) } });

    const finished = page.locator(`.recent-list li[data-job="${id}"]`);
    await finished.waitFor({ timeout: 15_000 });
    expect(await finished.locator(".badge").innerText()).toContain("cancelled");

    const dir = join(ui.home, "artifacts", id, "vqe");
    const result = JSON.parse(readFileSync(join(dir, "result.json"), "utf8")) as { stoppedAt: number; complete: boolean };
    expect(result.complete).toBe(false);
    expect(readFileSync(join(dir, "convergence.csv"), "utf8").trim().split("\n")).toHaveLength(result.stoppedAt + 1);
  }, 120_000);
});
