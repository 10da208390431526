/**
 * A PostgreSQL server of the test's own, for the tests that stop or restart the server: the
 * shared one (BELAY_TEST_PG_URL) serves every test running at the same time and must never
 * be restarted. `initdb` into a temp dir (as the `postgres` OS user when the test runs as
 * root: PostgreSQL refuses to run as root), trust authentication, a free port on 127.0.0.1,
 * its socket in the same temp dir. Stopped and removed by `destroy()`.
 */
import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The newest `/usr/lib/postgresql/<version>/bin` with `initdb` and `pg_ctl`, or null. */
function findBinDir(): string | null {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")) && existsSync(join(root, v, "bin", "pg_ctl")))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length === 0 ? null : join(root, versions[0]!, "bin");
}

/** The uid and gid of the `postgres` OS user, from /etc/passwd; null when there is none. */
function postgresUser(): { uid: number; gid: number } | null {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("postgres:"));
  if (line === undefined) return null;
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

const binDir = findBinDir();
const asRoot = process.getuid?.() === 0;
const pgUser = asRoot ? postgresUser() : null;

/** Why a private server cannot be started here (checked before any test runs), or null. */
export const noPrivatePostgres: string | null =
  binDir === null
    ? "no initdb / pg_ctl under /usr/lib/postgresql/*/bin (install the PostgreSQL server package) for a private PostgreSQL server to restart"
    : asRoot && pgUser === null
      ? "running as root and there is no `postgres` OS user to run a private PostgreSQL server as"
      : null;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export class PrivatePostgres {
  readonly dir: string;
  readonly port: number;
  /** Connection URL of its `postgres` database, as superuser `postgres`. */
  readonly url: string;
  private readonly data: string;

  private constructor(dir: string, port: number) {
    this.dir = dir;
    this.port = port;
    this.data = join(dir, "data");
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  }

  /** initdb and start; throws with PostgreSQL's own output when either fails. */
  static async start(): Promise<PrivatePostgres> {
    if (noPrivatePostgres !== null) throw new Error(noPrivatePostgres);
    const dir = mkdtempSync(join(tmpdir(), "belay-pg-"));
    if (pgUser !== null) chownSync(dir, pgUser.uid, pgUser.gid);
    const server = new PrivatePostgres(dir, await freePort());
    try {
      server.run("initdb", ["-D", server.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
      server.pgCtl(["start"]);
    } catch (error) {
      server.destroy();
      throw error;
    }
    return server;
  }

  /** Stop the server: `fast` (clients are told, a checkpoint is written) or `immediate` (a crash: no checkpoint, no goodbye). */
  stop(mode: "fast" | "immediate"): void {
    this.pgCtl(["stop", "-m", mode]);
  }

  /** Start it again (after an `immediate` stop this replays the WAL first); returns once it accepts connections. */
  startAgain(): void {
    this.pgCtl(["start"]);
  }

  /** Stop it (if it runs) and remove its directory. */
  destroy(): void {
    try {
      if (existsSync(join(this.data, "postmaster.pid"))) this.pgCtl(["stop", "-m", "immediate"]);
    } catch {
      // already down
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The server's log, for a failure's message. */
  log(): string {
    try {
      return readFileSync(join(this.dir, "server.log"), "utf8").slice(-4000);
    } catch {
      return "(no log)";
    }
  }

  private pgCtl(args: string[]): void {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1`;
    this.run("pg_ctl", ["-D", this.data, "-o", options, "-l", join(this.dir, "server.log"), "-w", "-t", "60", ...args]);
  }

  private run(program: string, args: string[]): void {
    const path = join(binDir!, program);
    const [command, argv] = pgUser !== null ? ["runuser", ["-u", "postgres", "--", path, ...args]] : [path, args];
    try {
      execFileSync(command as string, argv as string[], { stdio: ["ignore", "pipe", "pipe"], timeout: 90_000 });
    } catch (error) {
      const e = error as { stdout?: Buffer; stderr?: Buffer; message: string };
      throw new Error(`${program} ${args.join(" ")} failed: ${e.message}\n${e.stdout?.toString() ?? ""}${e.stderr?.toString() ?? ""}\n${this.log()}`, { cause: error });
    }
  }
}
