/** `belay token create NAME --role ROLE [--principal P] [--expires-in 30d]`, `token list`, `token revoke ID` (admin role). */
import { InvalidArgumentError, Option } from "commander";
import type { Command } from "commander";
import type { CreateTokenRequest, CreatedToken, Role, TokenInfo } from "../../client/types.ts";
import { context } from "../config.ts";
import { fields, table, time } from "../format.ts";
import { id, roleNames } from "../options.ts";
import { line, notice, printJson } from "../output.ts";
import { resolveTokenId } from "../resolve-id.ts";

// The API's token expiry (POST /tokens `expiresInSeconds`, `expiresAt` on every token), until the client's types carry it.

const unitSeconds: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
/** As the server's limit (src/server/routes/tokens.ts): ten years. */
const maxSeconds = 10 * 365 * 86_400;

/** `--expires-in 30d`: a positive whole number of seconds (s), minutes (m), hours (h), days (d) or weeks (w). */
export function expiresIn(value: string): number {
  const match = /^(\d+)([smhdw])$/.exec(value.trim());
  const seconds = match === null ? Number.NaN : Number(match[1]) * (unitSeconds[match[2] ?? ""] ?? Number.NaN);
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > maxSeconds) {
    throw new InvalidArgumentError(`"${value}" is not a lifetime such as 3600s, 90m, 12h, 30d or 2w (at most ten years).`);
  }
  return seconds;
}

function status(token: TokenInfo, now: number): string {
  if (token.revokedAt !== null) return `revoked ${time(token.revokedAt)}`;
  const expiresAt = token.expiresAt ?? null;
  if (expiresAt === null) return "active";
  return Date.parse(expiresAt) <= now ? `expired ${time(expiresAt)}` : `active until ${time(expiresAt)}`;
}

export function registerToken(program: Command): void {
  const token = program.command("token").description("manage API tokens (admin)");

  token
    .command("create")
    .description("create a token; its secret is printed once")
    .argument("<name>", "a name for the token")
    .addOption(new Option("--role <role>", "what it may do").choices(roleNames).makeOptionMandatory())
    .option("--principal <principal>", "who it acts as (owner of the jobs it submits); default: its name")
    .option("--expires-in <lifetime>", "stop working after this long: 3600s, 90m, 12h, 30d, 2w (default: never)", expiresIn)
    .action(async (name: string, options: { role: Role; principal?: string; expiresIn?: number }, command: Command) => {
      const ctx = context(command);
      const request: CreateTokenRequest = {
        name,
        role: options.role,
        ...(options.principal === undefined ? {} : { principal: options.principal }),
        ...(options.expiresIn === undefined ? {} : { expiresInSeconds: options.expiresIn }),
      };
      const created: CreatedToken = await ctx.client.createToken(request);
      if (ctx.json) printJson(created);
      else {
        line(fields([["token", created.id], ["name", created.name], ["principal", created.principal], ["role", created.role], ["expires", created.expiresAt === undefined || created.expiresAt === null ? "never" : time(created.expiresAt)]]));
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
      const body: { items: Array<TokenInfo> } = await ctx.client.listTokens();
      if (ctx.json) {
        printJson(body);
        return;
      }
      line(
        table(
          ["ID", "NAME", "PRINCIPAL", "ROLE", "CREATED", "LAST USED", "STATUS"],
          body.items.map((t) => [t.id, t.name, t.principal, t.role, time(t.createdAt), time(t.lastUsedAt), status(t, Date.now())]),
        ),
      );
    });

  token
    .command("revoke")
    .description("revoke a token: it stops working at once")
    .argument("<id>", "token id", id)
    .action(async (idOrPrefix: string, _options: unknown, command: Command) => {
      const ctx = context(command);
      const tokenId = await resolveTokenId(ctx.client, idOrPrefix);
      await ctx.client.revokeToken(tokenId);
      if (ctx.json) printJson({ id: tokenId, revoked: true });
      else line(`token ${tokenId} revoked`);
    });
}
