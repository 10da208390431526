/** `belay serve`: the engine and the HTTP API on one port, until Ctrl-C. */
import type { Command } from "commander";
import { isJson } from "../config.ts";
import { integer } from "../options.ts";
import { line, printJson } from "../output.ts";
import { addNodeOptions, addPolicyOptions, engineOptions, stderrLogger, trustOptions, untilStopped } from "./node-options.ts";
import type { NodeOptions } from "./node-options.ts";

interface ServeCliOptions extends NodeOptions {
  host: string;
  port: number;
  webhookAllowPrivate?: boolean;
}

export function registerServe(program: Command): void {
  const serve = program
    .command("serve")
    .description("run the Belay server: the HTTP API and a local worker pool")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <port>", "port to listen on (0: any free port)", integer(0, 65_535), 7420)
    .option("--webhook-allow-private", "let webhooks reach loopback, link-local and private addresses (refused by default: docs/security.md)");
  addPolicyOptions(addNodeOptions(serve)).action(async (options: ServeCliOptions, command: Command) => {
    // Imported here so that the client commands do not load the server and the store.
    const { startServer } = await import("../../server/serve.ts");
    const logger = await stderrLogger(options.logLevel);
    const server = await startServer({
      ...engineOptions(options, logger, "serve"),
      ...(await trustOptions(options)),
      host: options.host,
      port: options.port,
      webhookAllowPrivate: options.webhookAllowPrivate === true,
    });
    const info = { url: server.url, store: server.engine.store.description, home: server.home, adminTokenPath: server.adminTokenPath, signInUrl: server.signInUrl, signInExpiresAt: server.signInExpiresAt };
    if (isJson(command)) printJson(info);
    else {
      line(`Belay listening on ${info.url}`);
      line(`store: ${info.store}`);
      line(`admin token: ${info.adminTokenPath ?? "none written (the store already had tokens; use the one you were given)"}`);
      line(`web UI: open ${info.signInUrl} to sign in (one use, until ${info.signInExpiresAt}; \`belay ui\` prints a new link)`);
      line("press Ctrl-C to stop");
    }
    await untilStopped(
      { graceMs: options.grace, drainTimeoutMs: options.drainTimeout },
      { drain: (o) => server.engine.drain(o), hurryDrain: () => server.engine.hurryDrain(), close: (graceMs) => server.close({ graceMs }) },
    );
  });
}
