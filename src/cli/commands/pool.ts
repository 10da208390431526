/** `belay pool list`: each resource pool's capacity, slots in use and the tasks holding them (viewer role). */
import type { Command } from "commander";
import { context } from "../config.ts";
import { offset, table, time } from "../format.ts";
import { line, printJson } from "../output.ts";
import { paint } from "../style.ts";

export function registerPool(program: Command): void {
  const pool = program.command("pool").description("resource pools (--pool NAME=N on the server)");
  pool
    .command("list")
    .description("list pools with their capacity, slots in use and the tasks holding them")
    .action(async (_options: unknown, command: Command) => {
      const ctx = context(command);
      const body = await ctx.client.listPools();
      if (ctx.json) {
        printJson(body);
        return;
      }
      if (body.items.length === 0) {
        line("no pools (start the server with --pool NAME=N)");
        return;
      }
      const now = new Date().toISOString();
      line(
        table(
          ["POOL", "USED", "FREE", "HOLDER", "NODE", "SINCE"],
          body.items.flatMap((p) => {
            const used = `${p.inUse}/${p.capacity}`;
            const free = String(Math.max(0, p.capacity - p.inUse));
            const summary = [p.name, p.inUse >= p.capacity ? paint(used, "yellow") : used, free];
            if (p.holders.length === 0) return [[...summary, "-", "-", "-"]];
            return p.holders.map((h, i) => [
              ...(i === 0 ? summary : ["", "", ""]),
              `${h.jobId}/${h.taskKey}`,
              h.nodeId ?? "-",
              h.since === null ? "-" : `${time(h.since)} (${offset(h.since, now).slice(1)} ago)`,
            ]);
          }),
        ),
      );
    });
}
