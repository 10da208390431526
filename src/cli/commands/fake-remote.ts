/** `belay fake-remote`: a fake remote job service for the `http` adapter (docs/remote-adapter.md), until Ctrl-C. */
import type { Command } from "commander";
import { isJson } from "../config.ts";
import { integer } from "../options.ts";
import { line, notice, printJson } from "../output.ts";

interface FakeRemoteCliOptions {
  host: string;
  port: number;
  requireToken?: string;
}

export function registerFakeRemote(program: Command): void {
  program
    .command("fake-remote")
    .description("run a fake remote job service (the http adapter's contract) for tests and demos")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <port>", "port to listen on (0: any free port)", integer(0, 65_535), 7421)
    // Not `--token`: that is the global option naming the token the CLI sends to Belay.
    .option("--require-token <token>", "refuse requests without Authorization: Bearer <token>")
    .action(async (options: FakeRemoteCliOptions, command: Command) => {
      const { startFakeRemote } = await import("../../fake-remote/service.ts");
      const service = await startFakeRemote({
        host: options.host,
        port: options.port,
        ...(options.requireToken === undefined ? {} : { token: options.requireToken }),
      });
      if (isJson(command)) printJson({ url: service.url });
      else {
        line(`fake remote service listening on ${service.url}`);
        line(`use it with: belay serve --remote cloud=${service.url}`);
        line("press Ctrl-C to stop");
      }
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals): void => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          notice(`${signal}: stopping the fake remote service`);
          void service.close().then(resolve);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    });
}
