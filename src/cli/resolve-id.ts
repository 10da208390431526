/**
 * Ids as people type them: a whole id, or its first characters, like git's short hashes.
 * A prefix is looked up on the server; it must name exactly one job (or token): none is
 * "not found" (exit 3), several is a usage error (exit 2) that lists them.
 */
import type { BelayClient } from "../client/client.ts";
import { CliError, UsageError } from "./errors.ts";

const fullId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function ambiguous(what: string, prefix: string, matches: string[], more: boolean): UsageError {
  return new UsageError(`${what} id prefix "${prefix}" is ambiguous: it matches ${matches.join(", ")}${more ? " and more" : ""}; give more characters`);
}

export async function resolveJobId(client: BelayClient, value: string): Promise<string> {
  if (fullId.test(value)) return value.toLowerCase();
  const page = await client.listJobs({ idPrefix: value.toLowerCase(), limit: 3 });
  const [only, ...others] = page.items.map((j) => j.id);
  if (only === undefined) throw new CliError("JOB_NOT_FOUND", `no job id starts with "${value}"`);
  if (others.length > 0) throw ambiguous("job", value, [only, ...others], page.nextCursor !== null);
  return only;
}

export async function resolveTokenId(client: BelayClient, value: string): Promise<string> {
  if (fullId.test(value)) return value.toLowerCase();
  const matches = (await client.listTokens()).items.map((t) => t.id).filter((id) => id.startsWith(value.toLowerCase()));
  const [only, ...others] = matches;
  if (only === undefined) throw new CliError("NOT_FOUND", `no token id starts with "${value}"`);
  if (others.length > 0) throw ambiguous("token", value, matches.slice(0, 3), matches.length > 3);
  return only;
}
