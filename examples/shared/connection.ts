/**
 * Where an example finds its Belay server, the way the `belay` CLI does: `BELAY_URL`
 * (default http://127.0.0.1:7420) and `BELAY_TOKEN`, else the admin token that the first
 * `belay serve` wrote to `$BELAY_HOME/admin.token` (default ./.belay).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface BelayConnection {
  url: string;
  token: string;
}

export function belayConnection(env: NodeJS.ProcessEnv = process.env): BelayConnection {
  const url = env["BELAY_URL"] ?? "http://127.0.0.1:7420";
  const fromEnv = env["BELAY_TOKEN"];
  if (fromEnv !== undefined && fromEnv !== "") return { url, token: fromEnv };
  const tokenFile = join(env["BELAY_HOME"] ?? ".belay", "admin.token");
  try {
    return { url, token: readFileSync(tokenFile, "utf8").trim() };
  } catch {
    throw new Error(`no token: set BELAY_TOKEN, or start \`npx belay serve\` from this directory first (it writes ${tokenFile})`);
  }
}
