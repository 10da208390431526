/**
 * The simulation bridge's `cancel_job` flow (seed 000), end to end over MCP:
 *
 * 1. a finished simulation cannot be cancelled (JOB_ALREADY_FINISHED: stop polling);
 * 2. a long simulation runs and reports progress; a second one waits in the queue;
 * 3. a viewer's `cancel_job` is refused (FORBIDDEN), while its `get_job_status` works;
 * 4. an operator cancels the queued one: removed from the queue before it ever ran;
 * 5. an operator cancels the running one: the answer says `cancelling`, and the agent keeps
 *    polling `get_job_status` until the simulator has stopped at its cancellation point and
 *    the job is `cancelled`;
 * 6. the cancelled job keeps its submission metadata for audit; an unknown id is JOB_NOT_FOUND.
 *
 * Run against a server: `node_modules/.bin/node examples/simulation-bridge/run.ts [--stdio]`.
 */
import { BelayClient } from "../../src/client/index.ts";
import type { CancellationRecord } from "../../src/client/index.ts";
import { belayConnection } from "../shared/connection.ts";
import { ToolError, connectAgent } from "./agent.ts";
import type { BridgeAgent, CancelAnswer, JobState, Transport } from "./agent.ts";

export interface BridgeDemoOptions {
  url: string;
  /** An admin token: the demo starts by creating the three agents' tokens with it. */
  adminToken: string;
  transport?: Transport;
  log?: (line: string) => void;
  /** Wall-clock time of one simulated hour, ms. */
  stepMs?: number;
}

export interface BridgeDemoResult {
  finished: { jobId: string; status: string; cancelError: ToolError };
  running: {
    jobId: string;
    viewerError: ToolError;
    statusSeenByViewer: JobState;
    answer: CancelAnswer;
    statusesSeen: string[];
    final: JobState;
    record: CancellationRecord;
  };
  queued: { jobId: string; answer: CancelAnswer; final: JobState };
  unknownError: ToolError;
}

async function refusal(call: Promise<unknown>): Promise<ToolError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ToolError) return error;
    throw error;
  }
  throw new Error("the call was expected to be refused, and it succeeded");
}

export async function runBridgeDemo(options: BridgeDemoOptions): Promise<BridgeDemoResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const stepMs = options.stepMs ?? 100;
  const transport = options.transport ?? "http";

  // Setup (an administrator's job): one token per agent, each with the least role it needs.
  const admin = new BelayClient({ url: options.url, token: options.adminToken });
  const token = async (name: string, role: "user" | "viewer" | "operator"): Promise<string> => (await admin.createToken({ name, role })).token;
  const tokens = { submitter: await token("sim-agent", "user"), viewer: await token("sim-viewer", "viewer"), operator: await token("sim-operator", "operator") };
  log(`setup: tokens for sim-agent (user), sim-viewer (viewer), sim-operator (operator); MCP over ${transport === "http" ? `${options.url}/mcp` : "stdio (belay mcp)"}`);

  const agents: BridgeAgent[] = [];
  try {
    const connect = async (name: string, tokenOf: string): Promise<BridgeAgent> => {
      const agent = await connectAgent({ name, url: options.url, token: tokenOf, transport });
      agents.push(agent);
      return agent;
    };
    const submitter = await connect("sim-agent", tokens.submitter);
    const viewer = await connect("sim-viewer", tokens.viewer);
    const operator = await connect("sim-operator", tokens.operator);

    // 1. A job that has already completed: nothing to cancel.
    const short = await submitter.runSimulation({ drug: "caffeine", doseMg: 100, hours: 3, stepMs: 20 });
    const shortDone = await submitter.pollUntilTerminal(short.jobId);
    const cancelError = await refusal(operator.cancelJob(shortDone.jobId));
    log(`\n1. short simulation ${short.jobId} ended ${shortDone.status}; cancel_job → ${cancelError.message}`);

    // 2. A long simulation, and one queued behind it (the bridge runs one at a time).
    const long = await submitter.runSimulation({ drug: "caffeine", doseMg: 200, hours: 600, stepMs });
    const running = await submitter.pollUntil(long.jobId, (s) => s.status === "running" && s.job.progress.ratio > 0);
    log(`\n2. run_simulation → ${long.jobId}; get_job_status: ${running.status}, ${running.job.progress.message ?? ""}`);
    const next = await submitter.runSimulation({ drug: "theophylline", doseMg: 300, hours: 48, stepMs });
    log(`   a second simulation ${next.jobId} is ${next.status}`);

    // 3. A viewer may read the job, not cancel it.
    const viewerError = await refusal(viewer.cancelJob(long.jobId, "viewer trying"));
    const statusSeenByViewer = await viewer.getJobStatus(long.jobId);
    log(`\n3. sim-viewer: cancel_job → ${viewerError.message}`);
    log(`   sim-viewer: get_job_status → ${statusSeenByViewer.status} (reading is allowed)`);

    // 4. The queued simulation: removed from the queue before it runs.
    const queuedAnswer = await operator.cancelJob(next.jobId, "no longer needed");
    const queuedFinal = await operator.pollUntilTerminal(next.jobId);
    log(`\n4. sim-operator: cancel_job(${next.jobId}) → ${JSON.stringify({ jobId: queuedAnswer.jobId, status: queuedAnswer.status })}`);
    log(`   it never started: startedAt ${queuedFinal.job.startedAt ?? "null"}, task ${queuedFinal.job.tasks[0]?.status}`);

    // 5. The running simulation: cancel, then poll until terminal.
    const answer = await operator.cancelJob(long.jobId, "parameters were wrong");
    log(`\n5. sim-operator: cancel_job(${long.jobId}) → ${JSON.stringify({ jobId: answer.jobId, status: answer.status })}`);
    if (answer.next !== undefined) log(`   next: ${answer.next}`);
    const statusesSeen: string[] = [];
    const final = await operator.pollUntilTerminal(long.jobId, {
      onChange: (s) => {
        statusesSeen.push(s.status);
        log(`   get_job_status → ${s.status}${s.terminal ? " (terminal)" : ""}`);
      },
    });
    const record = await operator.getCancellationStatus(long.jobId);
    const stop = record.tasks[0];
    log(`   record ${record.status}: ${record.steps.map((s) => `${s.name}:${s.status}`).join(" → ")}`);
    log(`   the simulator stopped ${stop?.mode ?? "?"} (${stop?.outcome ?? "?"}), ${record.runnersTerminated.graceful} graceful / ${record.runnersTerminated.forced} forced`);

    // 6. Audit: the submission metadata stays; an unknown id is an error to surface.
    log(`\n6. kept for audit: owner ${final.job.owner}, labels ${JSON.stringify(final.job.labels)}, params ${JSON.stringify(final.job.params)}`);
    const unknownError = await refusal(operator.cancelJob("00000000-0000-7000-8000-000000000000"));
    log(`   cancel_job(unknown id) → ${unknownError.message}`);

    return {
      finished: { jobId: short.jobId, status: shortDone.status, cancelError },
      running: { jobId: long.jobId, viewerError, statusSeenByViewer, answer, statusesSeen, final, record },
      queued: { jobId: next.jobId, answer: queuedAnswer, final: queuedFinal },
      unknownError,
    };
  } finally {
    await Promise.all(agents.map((a) => a.close().catch(() => undefined)));
  }
}

if (import.meta.main) {
  const { url, token } = belayConnection();
  await runBridgeDemo({ url, adminToken: token, transport: process.argv.includes("--stdio") ? "stdio" : "http" });
}
