/** `belay token create NAME --role ROLE [--principal P]`, `token list`, `token revoke ID` (admin role). */
import { Option } from "commander";
import type { Command } from "commander";
import type { Role } from "../../client/types.ts";
import { context } from "../config.ts";
import { fields, table, time } from "../format.ts";
import { id, roleNames } from "../options.ts";
import { line, notice, printJson } from "../output.ts";

export function registerToken(program: Command): void {
  const token = program.command("token").description("manage API tokens (admin)");

  token
    .command("create")
    .description("create a token; its secret is printed once")
    .argument("<name>", "a name for the token")
    .addOption(new Option("--role <role>", "what it may do").choices(roleNames).makeOptionMandatory())
    .option("--principal <principal>", "who it acts as (owner of the jobs it submits); default: its name")
    .action(async (name: string, options: { role: Role; principal?: string }, command: Command) => {
      const ctx = context(command);
      const created = await ctx.client.createToken({ name, role: options.role, ...(options.principal === undefined ? {} : { principal: options.principal }) });
      if (ctx.json) printJson(created);
      else {
        line(fields([["token", created.id], ["name", created.name], ["principal", created.principal], ["role", created.role]]));
        line("");
        line(created.token);
      }
      notice("warning: this is the only time the secret is shown; store it now (the server keeps only its hash)");
    });

  token
    .command("list")
    .description("list tokens (never their secrets)")
    .action(async (_options: unknown, command: Command) => {
      const ctx = context(command);
      const body = await ctx.client.listTokens();
      if (ctx.json) {
        printJson(body);
        return;
      }
      line(
        table(
          ["ID", "NAME", "PRINCIPAL", "ROLE", "CREATED", "LAST USED", "STATUS"],
          body.items.map((t) => [t.id, t.name, t.principal, t.role, time(t.createdAt), time(t.lastUsedAt), t.revokedAt === null ? "active" : `revoked ${time(t.revokedAt)}`]),
        ),
      );
    });

  token
    .command("revoke")
    .description("revoke a token: it stops working at once")
    .argument("<id>", "token id", id)
    .action(async (tokenId: string, _options: unknown, command: Command) => {
      const ctx = context(command);
      await ctx.client.revokeToken(tokenId);
      if (ctx.json) printJson({ id: tokenId, revoked: true });
      else line(`token ${tokenId} revoked`);
    });
}
