/**
 * examples/agent-tree (seed 004's world, DESIGN §7): an orchestrator agent that spawns
 * sub-agents with `ctx.submitChild`, each of which may spawn its own, down to a tool call
 * (a `job` task running a template, or a plain handler). Load it with
 * `belay serve --handlers examples/agent-tree/agents.ts`. Belay imports this module in a
 * worker thread, so it only imports Node built-ins and types.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { HandlerContext } from "../../src/runners/handler.ts";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface AgentInput {
  /** What this agent is asked to do. */
  goal: string;
  /** Sub-goals: each becomes a sub-agent (a child job) that can have sub-goals of its own. */
  subgoals?: AgentInput[];
  /** How many "thinking" steps this agent takes, 250 ms each. */
  steps?: number;
}

/** Waits 250 ms, or less when cancelled. */
async function think(ctx: HandlerContext): Promise<void> {
  await sleep(250, undefined, { signal: ctx.signal }).catch(() => undefined);
}

/**
 * An agent: thinks for a while, then hands each sub-goal to a sub-agent (a child job, with
 * the same owner and the same rights), waits for them and sums up. A cancel of any ancestor
 * reaches it (its signal aborts) and its sub-agents are cancelled with it; once its tree is
 * being cancelled, Belay refuses new sub-agents (`JOB_CANCELLING`), so none is left behind.
 */
export async function agent(input: AgentInput, ctx: HandlerContext): Promise<Json> {
  const steps = input.steps ?? 8;
  for (let step = 1; step <= steps && !ctx.signal.aborted; step++) {
    ctx.progress({ ratio: step / (steps + 1), message: `${input.goal}: thinking (${step}/${steps})` });
    await think(ctx);
  }
  const children: string[] = [];
  for (const sub of input.subgoals ?? []) {
    if (ctx.signal.aborted) break;
    try {
      const child = await ctx.submitChild({ name: `agent: ${sub.goal}`, tasks: [{ key: "agent", handler: "agent", input: sub as unknown as Json }] });
      ctx.log(`spawned sub-agent ${child.id} for "${sub.goal}"`);
      children.push(child.id);
    } catch (error) {
      // JOB_CANCELLING: this agent's tree is being cancelled; no sub-agent may start now.
      ctx.log(`could not spawn a sub-agent for "${sub.goal}": ${(error as { code?: string }).code ?? (error as Error).message}`);
      break;
    }
  }
  const results: Json[] = [];
  for (const id of children) {
    const done = await ctx.waitForChild(id);
    results.push({ id, status: done.status, outputs: done.outputs });
  }
  if (ctx.signal.aborted) throw new Error(`${input.goal}: cancelled`);
  ctx.progress({ ratio: 1, message: `${input.goal}: done` });
  return { goal: input.goal, subAgents: results };
}
