/**
 * The `belay` command. This first version offers only what the engine library can back
 * without a server; `serve`, `worker`, `job …` and `token …` arrive with the HTTP server.
 */
import { readFileSync } from "node:fs";
import { Command } from "commander";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string; description: string };

const program = new Command()
  .name("belay")
  .description(pkg.description)
  .version(pkg.version)
  .showHelpAfterError()
  .exitOverride((error) => process.exit(error.exitCode === 1 ? 2 : error.exitCode));

program.parse();
