/**
 * The `belay` command (docs/cli.md): `serve` and `worker` run an engine; `job …` and
 * `token …` talk to a server through the client SDK. Exit codes: 0 ok, 1 error, 2 usage,
 * 3 not found, 4 conflict.
 */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { registerDoctor } from "./commands/doctor.ts";
import { registerFakeRemote } from "./commands/fake-remote.ts";
import { registerJobCancel } from "./commands/job-cancel.ts";
import { registerJobCancellations } from "./commands/job-cancellations.ts";
import { registerJobList } from "./commands/job-list.ts";
import { registerJobLogs } from "./commands/job-logs.ts";
import { registerJobResume } from "./commands/job-resume.ts";
import { registerJobShow } from "./commands/job-show.ts";
import { registerJobSubmit } from "./commands/job-submit.ts";
import { registerJobTree } from "./commands/job-tree.ts";
import { registerJobWatch } from "./commands/job-watch.ts";
import { registerMcp } from "./commands/mcp.ts";
import { registerPool } from "./commands/pool.ts";
import { registerQueue } from "./commands/queue.ts";
import { registerSchedule } from "./commands/schedule.ts";
import { registerServe } from "./commands/serve.ts";
import { registerToken } from "./commands/token.ts";
import { registerUi } from "./commands/ui.ts";
import { registerWorker } from "./commands/worker.ts";
import { defaultUrl } from "./config.ts";
import { exitCodes, reportError } from "./errors.ts";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string; description: string };

export function buildProgram(): Command {
  const program = new Command()
    .name("belay")
    .description(pkg.description)
    .version(pkg.version)
    .option("--url <url>", `server URL (env BELAY_URL, default ${defaultUrl})`)
    .option("--token <token>", "API token (env BELAY_TOKEN, else $BELAY_HOME/admin.token)")
    .option("--json", "machine output: the API's JSON")
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError("(add --help for usage)")
    // Commander's own errors (unknown option, missing argument, bad value) are usage errors: exit 2.
    .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : exitCodes.usage));

  registerServe(program);
  registerWorker(program);
  registerDoctor(program);
  const job = program.command("job").description("submit, inspect, watch, cancel and resume jobs");
  registerJobSubmit(job);
  registerJobList(job);
  registerJobShow(job);
  registerJobTree(job);
  registerJobLogs(job);
  registerJobWatch(job);
  registerJobCancel(job);
  registerJobCancellations(job);
  registerJobResume(job);
  registerToken(program);
  registerPool(program);
  registerSchedule(program);
  registerQueue(program);
  registerUi(program);
  registerMcp(program);
  registerFakeRemote(program);
  return program;
}

/** Exit once stdout has been written out (a pipe may still hold the last lines). */
function exit(code: number): void {
  process.stdout.write("", () => process.exit(code));
}

// `belay job list | head -1`: the reader going away is not an error of ours.
process.stdout.on("error", (error: NodeJS.ErrnoException) => process.exit(error.code === "EPIPE" ? exitCodes.ok : exitCodes.error));

try {
  await buildProgram().parseAsync(process.argv);
  exit(typeof process.exitCode === "number" ? process.exitCode : exitCodes.ok);
} catch (error) {
  exit(reportError(error));
}
