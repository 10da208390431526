/**
 * An AI agent's side of the simulation bridge: it reaches Belay over MCP (the official SDK's
 * client) and uses the tools the seed describes — submit a simulation, `get_job_status`,
 * `cancel_job`, and keep polling until the job is terminal.
 *
 * Two ways to connect, as an agent host would: Streamable HTTP at `<BELAY_URL>/mcp` with the
 * token in a header, or stdio by spawning `belay mcp` with `BELAY_TOKEN` in its environment.
 */
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CancellationRecord, Job, JobStatus } from "../../src/client/index.ts";
import type { SimulationParams } from "./simulate.ts";

export type Transport = "http" | "stdio";

const belayBin = fileURLToPath(new URL("../../bin/belay.js", import.meta.url));

/** What `submit_job` and `get_job_status` answer. */
export interface JobState {
  jobId: string;
  status: JobStatus;
  terminal: boolean;
  job: Job;
}

/** What `cancel_job` answers: the seed's `{jobId, status}`, and Belay's record summary. */
export interface CancelAnswer {
  jobId: string;
  status: JobStatus;
  terminal: boolean;
  alreadyCancelled: boolean;
  cancellation: { id: string; status: CancellationRecord["status"]; reason: string | null; requestedBy: string };
  next?: string;
}

/** A tool call Belay refused: the API's error code (FORBIDDEN, JOB_NOT_FOUND, …) and message. */
export class ToolError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

export class BridgeAgent {
  readonly name: string;
  readonly #client: Client;

  constructor(name: string, client: Client) {
    this.name = name;
    this.#client = client;
  }

  /**
   * The seed's `run_simulation`: one task of the server's `simulate` template (templates.yaml)
   * running the simulator, with its parameters kept as the job's `params` too. The agent has a
   * `user` token, so it runs the deployer's template, never a command line of its own.
   */
  runSimulation(params: SimulationParams): Promise<JobState> {
    return this.#call<JobState>("submit_job", {
      name: `simulate ${params.drug} ${params.doseMg} mg, ${params.hours} h`,
      tasks: [{ key: "main", template: "simulate", params: { drug: params.drug, doseMg: params.doseMg, hours: params.hours, stepMs: params.stepMs } }],
      params: { ...params },
      labels: { tool: "run_simulation", drug: params.drug },
      graceMs: 5_000,
    });
  }

  getJobStatus(jobId: string): Promise<JobState> {
    return this.#call<JobState>("get_job_status", { jobId });
  }

  cancelJob(jobId: string, reason?: string): Promise<CancelAnswer> {
    return this.#call<CancelAnswer>("cancel_job", reason === undefined ? { jobId } : { jobId, reason });
  }

  /** The full cancellation record: steps, and how each runner stopped. */
  async getCancellationStatus(jobId: string): Promise<CancellationRecord> {
    return (await this.#call<{ cancellation: CancellationRecord }>("get_cancellation_status", { jobId })).cancellation;
  }

  /**
   * Call `get_job_status` until the job is terminal, as the seed tells clients to after
   * `cancel_job`; `onChange` sees each new status.
   */
  async pollUntilTerminal(jobId: string, options: { intervalMs?: number; timeoutMs?: number; onChange?: (state: JobState) => void } = {}): Promise<JobState> {
    return this.pollUntil(jobId, (state) => state.terminal, options);
  }

  async pollUntil(jobId: string, done: (state: JobState) => boolean, options: { intervalMs?: number; timeoutMs?: number; onChange?: (state: JobState) => void } = {}): Promise<JobState> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    let last: JobStatus | null = null;
    for (;;) {
      const state = await this.getJobStatus(jobId);
      if (state.status !== last) options.onChange?.(state);
      last = state.status;
      if (done(state)) return state;
      if (Date.now() > deadline) throw new Error(`job ${jobId} is still ${state.status} after ${options.timeoutMs ?? 60_000} ms`);
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200));
    }
  }

  close(): Promise<void> {
    return this.#client.close();
  }

  async #call<T>(tool: string, args: Record<string, unknown>): Promise<T> {
    const result = await this.#client.callTool({ name: tool, arguments: args });
    const structured = result.structuredContent as { error?: { code: string; message: string } } | undefined;
    if (result.isError === true) {
      // Belay's refusals carry the API's error; the SDK's own (a bad argument) only text.
      const text = (result.content as Array<{ type: string; text?: string }>).map((c) => c.text ?? "").join(" ");
      throw structured?.error !== undefined ? new ToolError(structured.error.code, structured.error.message) : new ToolError("INVALID_ARGUMENTS", text);
    }
    return structured as T;
  }
}

/** Connect an agent to Belay's MCP tools with `token` (its role decides what it may do). */
export async function connectAgent(options: { name: string; url: string; token: string; transport?: Transport }): Promise<BridgeAgent> {
  const client = new Client({ name: options.name, version: "1.0.0" });
  if (options.transport === "stdio") {
    await client.connect(
      new StdioClientTransport({ command: process.execPath, args: [belayBin, "mcp"], env: { BELAY_URL: options.url, BELAY_TOKEN: options.token }, stderr: "ignore" }),
    );
  } else {
    await client.connect(new StreamableHTTPClientTransport(new URL("/mcp", options.url), { requestInit: { headers: { authorization: `Bearer ${options.token}` } } }));
  }
  return new BridgeAgent(options.name, client);
}
