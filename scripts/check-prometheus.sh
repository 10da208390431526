#!/usr/bin/env bash
# Checks Belay's Prometheus side with promtool (installs nothing; CI installs the `prometheus`
# package when promtool is missing, see .ci/run):
#   1. deploy/prometheus/alerts.yml is valid (`promtool check rules`);
#   2. its alerts fire, and stay quiet, when they should (`promtool test rules` on series below);
#   3. a real server (startServer on port 0, temporary home) that has run a job and a
#      cancellation serves /metrics that `promtool check metrics` accepts, with every metric of
#      DESIGN §5.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

if ! command -v promtool >/dev/null 2>&1; then
  echo "check-prometheus: promtool not found; install it (Debian/Ubuntu: apt-get install prometheus)" >&2
  exit 1
fi
# Node ≥ 22.18 runs the TypeScript sources directly; the project pins one as a devDependency.
node_bin="${NODE_BIN:-$repo/node_modules/.bin/node}"
if [ ! -x "$node_bin" ]; then node_bin="$(command -v node)"; fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/belay-prom-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "== promtool check rules"
promtool check rules deploy/prometheus/alerts.yml

echo "== promtool test rules"
cat >"$tmp/alerts.test.yml" <<EOF
rule_files:
  - $repo/deploy/prometheus/alerts.yml
evaluation_interval: 1m
tests:
  # Trouble: a failing force_kill step, failing cleanups, half the runners force-killed, a job stuck cancelling.
  - interval: 1m
    input_series:
      - series: 'belay_cancellation_failures_total{step="force_kill"}'
        values: '0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1'
      - series: 'belay_cancellation_failures_total{step="cleanup"}'
        values: '0 0 0 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2'
      - series: 'belay_runners_terminated_total{mode="graceful"}'
        values: '0+1x20'
      - series: 'belay_runners_terminated_total{mode="forced"}'
        values: '0+1x20'
      - series: 'belay_jobs_cancelling'
        values: '1x20'
      - series: 'belay_remote_cancel_failures_total{adapter="cloud"}'
        values: '0 0 1 2 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3'
      - series: 'belay_tasks_stalled_total'
        values: '0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1'
    alert_rule_test:
      - eval_time: 2m
        alertname: BelayTasksStalled
        exp_alerts: []
      - eval_time: 5m
        alertname: BelayTasksStalled
        exp_alerts:
          - exp_labels: { severity: warning }
            exp_annotations:
              summary: "Belay cancelled stalled tasks"
              description: "1 running task(s) reported no progress, checkpoint or log line for their stallTimeoutMs in the last 15 minutes and were cancelled (reason \`stalled\`). Find them with \`belay job cancellations\` and look at what they were waiting on."
      - eval_time: 25m
        alertname: BelayTasksStalled
        exp_alerts: []
      - eval_time: 5m
        alertname: BelayRemoteCancelRefused
        exp_alerts:
          - exp_labels: { severity: warning, adapter: cloud }
            exp_annotations:
              summary: "Remote service cloud is refusing cancels"
              description: "3 cancels sent to remote adapter cloud were refused or unanswered in the last 10 minutes: remote jobs may still be running. Find them with \`belay job cancellations --status partial\` (their tasks' stop is \`remote_refused\`) and check the service."
      - eval_time: 20m
        alertname: BelayRemoteCancelRefused
        exp_alerts: []
      - eval_time: 5m
        alertname: BelayCancellationStepFailures
        exp_alerts:
          - exp_labels: { severity: warning, step: force_kill }
            exp_annotations:
              summary: "Belay cancellation step force_kill is failing"
              description: "Cancellation step force_kill failed about 1 times in the last 10 minutes. The affected records end \`partial\` or \`failed\`: list them with \`belay job cancellations --status partial\` and read their steps and errors."
      - eval_time: 5m
        alertname: BelayCancellationCleanupFailures
        exp_alerts:
          - exp_labels: { severity: warning }
            exp_annotations:
              summary: "Belay cancellation cleanup is failing"
              description: "2 cancellation cleanups failed in the last 15 minutes after their retries: work directories, slots or leases may be left behind (disk space, permissions). The records are \`partial\`; their cleanup step's detail says what was left."
      - eval_time: 5m
        alertname: BelayJobsStuckCancelling
        exp_alerts: []
      - eval_time: 12m
        alertname: BelayJobsStuckCancelling
        exp_alerts:
          - exp_labels: { severity: critical }
            exp_annotations:
              summary: "Belay jobs have been cancelling for 10 minutes"
              description: "1 job(s) have stayed in \`cancelling\` for at least 10 minutes: a runner has not exited even after the forced kill, or a worker holding it is gone. Find them with \`belay job list --status cancelling\` and read \`belay job cancel-status ID\`."
      - eval_time: 16m
        alertname: BelayForcedKillsHigh
        exp_alerts:
          - exp_labels: { severity: warning }
            exp_annotations:
              summary: "Belay is force-killing many runners"
              description: "50% of the runners stopped by cancellations in the last 15 minutes had to be killed after their grace period. Check that tasks handle SIGTERM (or their AbortSignal) and that graceMs is long enough."
  # Calm: graceful stops only, a rare forced kill, no failures, cancels that finish.
  - interval: 1m
    input_series:
      - series: 'belay_cancellation_failures_total{step="cleanup"}'
        values: '0x20'
      - series: 'belay_runners_terminated_total{mode="graceful"}'
        values: '0+10x20'
      - series: 'belay_runners_terminated_total{mode="forced"}'
        values: '0 0 0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1'
      - series: 'belay_jobs_cancelling'
        values: '1 1 1 0 0 2 0 1 1 1 1 1 0 0 0 0 0 0 0 0 0'
      - series: 'belay_remote_cancel_failures_total{adapter="cloud"}'
        values: '0x20'
      - series: 'belay_tasks_stalled_total'
        values: '0x20'
    alert_rule_test:
      - eval_time: 16m
        alertname: BelayRemoteCancelRefused
        exp_alerts: []
      - eval_time: 16m
        alertname: BelayTasksStalled
        exp_alerts: []
      - eval_time: 16m
        alertname: BelayForcedKillsHigh
        exp_alerts: []
      - eval_time: 16m
        alertname: BelayCancellationStepFailures
        exp_alerts: []
      - eval_time: 16m
        alertname: BelayCancellationCleanupFailures
        exp_alerts: []
      - eval_time: 12m
        alertname: BelayJobsStuckCancelling
        exp_alerts: []
EOF
promtool test rules "$tmp/alerts.test.yml"

echo "== promtool check metrics (a real server after a job and a cancellation)"
cat >"$tmp/scrape.mts" <<'EOF'
// Start a server, run a job to success and cancel a running one, print GET /metrics.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const repo = process.env["BELAY_REPO"] ?? process.cwd();
const { startServer } = (await import(pathToFileURL(join(repo, "src/server/serve.ts")).href)) as typeof import("../src/server/serve.ts");
const home = mkdtempSync(join(tmpdir(), "belay-prom-home-"));
const server = await startServer({ home, host: "127.0.0.1", port: 0, concurrency: 2, pollIntervalMs: 20 });
try {
  const token = readFileSync(server.adminTokenPath ?? join(home, "admin.token"), "utf8").trim();
  const api = async (method: string, path: string, body?: unknown): Promise<any> => {
    const res = await fetch(`${server.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    return res.json();
  };
  const until = async (id: string, statuses: string[], taskRunning = false): Promise<void> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const { job } = await api("GET", `/jobs/${id}`);
      if (taskRunning ? job.tasks[0]?.status === "running" : statuses.includes(job.status)) return;
      if (Date.now() > deadline) throw new Error(`job ${id} stayed ${job.status}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const quick = (await api("POST", "/jobs", { name: "quick", command: ["true"] })).job.id;
  const slow = (await api("POST", "/jobs", { name: "slow", command: ["sleep", "30"] })).job.id;
  await until(slow, [], true);
  await api("POST", `/jobs/${slow}/cancel`, { reason: "check-prometheus", wait: true, waitMs: 20_000 });
  await until(slow, ["cancelled"]);
  await until(quick, ["succeeded"]);
  await new Promise((r) => setTimeout(r, 100));
  const res = await fetch(`${server.url}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`);
  if (!(res.headers.get("content-type") ?? "").startsWith("text/plain")) throw new Error(`GET /metrics: content-type ${res.headers.get("content-type")}`);
  process.stdout.write(await res.text());
} finally {
  await server.close();
  rmSync(home, { recursive: true, force: true });
}
EOF
BELAY_REPO="$repo" BELAY_LOG_LEVEL=silent "$node_bin" --no-warnings "$tmp/scrape.mts" >"$tmp/metrics.txt"

promtool check metrics <"$tmp/metrics.txt"

missing=0
for family in \
  belay_cancellation_requests_total belay_cancellation_duration_seconds belay_cancellation_failures_total \
  belay_runners_terminated_total belay_tasks_stalled_total belay_jobs_total belay_jobs_queued belay_jobs_cancelling belay_task_duration_seconds \
  belay_remote_cancel_failures_total belay_heap_used_after_major_gc_bytes \
  process_cpu_seconds_total; do
  if ! grep -q "^# TYPE ${family%_total}\(_total\)\? " "$tmp/metrics.txt"; then
    echo "check-prometheus: /metrics has no ${family}" >&2
    missing=1
  fi
done
for sample in \
  'belay_cancellation_requests_total{scope="job",force="false",outcome="completed"} 1' \
  'belay_cancellation_duration_seconds_count{scope="job"} 1' \
  'belay_runners_terminated_total{mode="graceful"} 1' \
  'belay_jobs_total{status="cancelled"} 1' \
  'belay_jobs_total{status="succeeded"} 1' \
  'belay_jobs_queued 0' \
  'belay_jobs_cancelling 0'; do
  if ! grep -qF "$sample" "$tmp/metrics.txt"; then
    echo "check-prometheus: /metrics lacks the sample: $sample" >&2
    missing=1
  fi
done
if [ "$missing" -ne 0 ]; then
  echo "--- /metrics was:" >&2
  grep '^belay_' "$tmp/metrics.txt" >&2 || true
  exit 1
fi
echo "check-prometheus: OK ($(grep -c '^belay_' "$tmp/metrics.txt") belay samples)"
