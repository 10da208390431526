/**
 * `belay ui [--role ROLE] [--principal P]`: print a fresh one-time link that signs a browser
 * in to the web UI (admin token needed: it is how the server knows the link is yours).
 */
import { Option } from "commander";
import type { Command } from "commander";
import type { Role } from "../../client/types.ts";
import { context } from "../config.ts";
import { roleNames } from "../options.ts";
import { line, notice, printJson } from "../output.ts";

export function registerUi(program: Command): void {
  program
    .command("ui")
    .description("print a one-time link that signs a browser in to the web UI (needs an admin token)")
    .addOption(new Option("--role <role>", "the session's role (default: admin)").choices(roleNames))
    .option("--principal <principal>", "who the session acts as (default: the token's principal)")
    .action(async (options: { role?: Role; principal?: string }, command: Command) => {
      const ctx = context(command);
      const made = await ctx.client.createSignInCode({
        ...(options.role === undefined ? {} : { role: options.role }),
        ...(options.principal === undefined ? {} : { principal: options.principal }),
      });
      const url = `${ctx.url.replace(/\/+$/, "")}${made.path}`;
      if (ctx.json) {
        printJson({ ...made, url });
        return;
      }
      line(url);
      notice(`open it to sign in as ${made.principal} (${made.role}); it works once, until ${made.expiresAt}`);
    });
}
