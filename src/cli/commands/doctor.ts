/**
 * `belay doctor`: check a store's database against what this Belay expects — reachable, schema,
 * migration ledger, tables and indexes, nodes, and (PostgreSQL) notifications — without
 * changing it. Exit 0 when no check failed, 1 when one did, 2 for a bad command line.
 */
import { resolve } from "node:path";
import type { Command } from "commander";
import { isBelayError } from "../../core/errors.ts";
import { dbUrlOrDefault, parseDbUrl } from "../../store/db-url.ts";
import type { CheckStatus, DoctorReport, NodeHealth } from "../../store/doctor.ts";
import { belayHome, isJson } from "../config.ts";
import { UsageError, exitCodes } from "../errors.ts";
import { duration, table } from "../format.ts";
import { integer } from "../options.ts";
import { line, printJson } from "../output.ts";

interface DoctorCliOptions {
  db?: string;
  home?: string;
  timeout: number;
}

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description("check a database against this Belay's schema and migrations, without changing it")
    .option("--db <url>", "database URL: sqlite:PATH or postgres://…[?schema=NAME] (default $BELAY_DB, else sqlite:<home>/belay.db)")
    .option("--home <dir>", "Belay's directory (default $BELAY_HOME, else ./.belay)")
    .option("--timeout <ms>", "PostgreSQL: how long to wait for the server, and for the notification probe", integer(100, 600_000), 10_000)
    .action(async (options: DoctorCliOptions, command: Command) => {
      const home = options.home === undefined ? belayHome() : resolve(options.home);
      const db = dbUrlOrDefault(options.db, home);
      const report = await diagnose(db, home, options.timeout);
      if (isJson(command)) printJson(report);
      else printReport(report);
      process.exitCode = report.healthy ? exitCodes.ok : exitCodes.error;
    });
}

/** Pick the dialect's doctor as `openBelay` picks the store. */
async function diagnose(db: string, home: string, timeoutMs: number): Promise<DoctorReport> {
  try {
    const location = parseDbUrl(db, home);
    if (location.dialect === "postgres") {
      const { doctorPostgres } = await import("../../store/postgres/doctor.ts");
      return await doctorPostgres({ url: location.url, schema: location.schema ?? "belay", timeoutMs });
    }
    if (location.path === ":memory:") throw new UsageError("sqlite::memory: lives only inside the process that opened it: there is nothing to check");
    const { doctorSqlite } = await import("../../store/sqlite/doctor.ts");
    return await doctorSqlite(location.path);
  } catch (error) {
    // A URL or schema name the store would refuse is a mistake in the command line.
    if (isBelayError(error) && error.code === "INVALID_REQUEST") throw new UsageError(error.message);
    throw error;
  }
}

const marks: Record<CheckStatus, string> = { ok: "✓", warn: "!", fail: "✗", skip: "-" };

function printReport(report: DoctorReport): void {
  line(`Belay doctor: ${report.db}`);
  const width = Math.max(...report.checks.map((c) => c.name.length));
  for (const c of report.checks) {
    line(`${marks[c.status]} ${c.name.padEnd(width)}  ${c.summary}`);
    for (const problem of c.problems) line(`    ${problem}`);
    if (c.name === "nodes" && report.nodes !== null && report.nodes.length > 0) printNodes(report.nodes);
    if (c.fix !== null && (c.status === "fail" || c.status === "warn")) line(`    → ${c.fix}`);
  }
  const failed = report.checks.filter((c) => c.status === "fail").length;
  const warned = report.checks.filter((c) => c.status === "warn").length;
  line();
  if (failed > 0) line(`${failed} check${failed === 1 ? "" : "s"} failed`);
  else line(`healthy${warned > 0 ? ` (${warned} warning${warned === 1 ? "" : "s"})` : ""}`);
}

const shownNodes = 20;
const stateOrder = { alive: 0, expired: 1, dead: 2, stopped: 3 } as const;

/** Live and expired nodes first, then the most recently seen: a long-lived store keeps every node that ever ran. */
function printNodes(nodes: NodeHealth[]): void {
  const sorted = [...nodes].sort((a, b) => stateOrder[a.state] - stateOrder[b.state] || a.heartbeatAgeMs - b.heartbeatAgeMs);
  const rows = sorted.slice(0, shownNodes).map((n) => [n.state, n.role, n.id, n.hostname, String(n.pid), `${duration(n.heartbeatAgeMs)} ago`]);
  const text = table(["STATE", "ROLE", "ID", "HOST", "PID", "LAST HEARTBEAT"], rows);
  for (const row of text.split("\n")) line(`    ${row}`);
  if (nodes.length > shownNodes) line(`    … and ${nodes.length - shownNodes} more (--json lists them all)`);
}
