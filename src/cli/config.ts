/**
 * Where the CLI finds its server and token: `--url` / `BELAY_URL` (default
 * http://127.0.0.1:7420), `--token` / `BELAY_TOKEN`, else the admin token file that the first
 * `belay serve` writes to `$BELAY_HOME/admin.token` (BELAY_HOME default `./.belay`).
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { BelayClient } from "../client/client.ts";
import { CliError } from "./errors.ts";

export const defaultUrl = "http://127.0.0.1:7420";

export interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

export interface CliContext {
  client: BelayClient;
  /** Machine output: print the API's JSON. */
  json: boolean;
  url: string;
}

export function belayHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env["BELAY_HOME"] ?? "./.belay");
}

export function resolveToken(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (option !== undefined && option !== "") return option;
  const fromEnv = env["BELAY_TOKEN"];
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const file = join(belayHome(env), "admin.token");
  if (existsSync(file)) {
    const secret = readFileSync(file, "utf8").trim();
    if (secret !== "") return secret;
  }
  throw new CliError("UNAUTHENTICATED", `no token: pass --token, set BELAY_TOKEN, or point BELAY_HOME at a server home with admin.token (looked for ${file})`);
}

/** The global options of a command, wherever on the command line they were given. */
export function globals(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

export function isJson(command: Command): boolean {
  return globals(command).json === true;
}

export function context(command: Command): CliContext {
  const options = globals(command);
  const url = options.url ?? process.env["BELAY_URL"] ?? defaultUrl;
  return { client: new BelayClient({ url, token: resolveToken(options.token) }), json: options.json === true, url };
}
