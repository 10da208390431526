/**
 * Node-to-node messages over PostgreSQL `LISTEN/NOTIFY` on one channel per schema.
 *
 * Publishing goes through the pool (`pg_notify`, delivered when that statement commits).
 * Listening holds one connection of its own. NOTIFY is fire-and-forget: while the listening
 * connection is down (a restart, `pg_terminate_backend`, a network cut) messages are lost.
 * So the connection is watched (errors, its end, and a periodic `SELECT 1` that catches a
 * silent cut), re-opened with backoff, re-subscribed, and `onReconnect` tells the engine to
 * catch up by polling — which it also does on its own timer, whatever happens here.
 */
import type { NodeMessage, Notifier } from "../store.ts";
import { newClient } from "./db.ts";
import type { Client, Pool } from "./db.ts";

const healthCheckMs = 2000;
const maxBackoffMs = 2000;

export class PgNotifier implements Notifier {
  private readonly pool: Pool;
  private readonly url: string;
  private readonly schema: string;
  private readonly applicationName: string | undefined;
  readonly channel: string;

  constructor(options: { pool: Pool; url: string; schema: string; applicationName?: string | undefined }) {
    this.pool = options.pool;
    this.url = options.url;
    this.schema = options.schema;
    this.applicationName = options.applicationName;
    // Channel names are identifiers (at most 63 bytes); the schema name is already checked.
    this.channel = `belay_${options.schema}`.slice(0, 63);
  }

  async publish(message: NodeMessage): Promise<void> {
    await this.pool.query("SELECT pg_notify($1, $2)", [this.channel, JSON.stringify(message)]);
  }

  async subscribe(listener: (message: NodeMessage) => void, onReconnect: () => void): Promise<() => Promise<void>> {
    let client: Client | null = null;
    let closed = false;
    let backoffMs = 50;
    let reconnecting = false;
    let health: NodeJS.Timeout | null = null;

    const onNotification = (msg: { channel: string; payload?: string | undefined }): void => {
      if (msg.channel !== this.channel || msg.payload === undefined) return;
      let parsed: NodeMessage;
      try {
        parsed = JSON.parse(msg.payload) as NodeMessage;
      } catch {
        return; // Not ours: someone else NOTIFYing on the channel.
      }
      listener(parsed);
    };

    const connect = async (): Promise<void> => {
      const next = newClient({ url: this.url, schema: this.schema, ...(this.applicationName === undefined ? {} : { applicationName: this.applicationName }) });
      next.on("notification", onNotification);
      next.on("error", () => void reconnect(next));
      next.on("end", () => void reconnect(next));
      try {
        await next.connect();
        await next.query(`LISTEN "${this.channel}"`);
      } catch (error) {
        next.removeAllListeners();
        next.on("error", () => undefined);
        await next.end().catch(() => undefined);
        throw error;
      }
      client = next;
      backoffMs = 50;
    };

    const reconnect = async (failed: Client): Promise<void> => {
      if (closed || reconnecting || client !== failed) return;
      reconnecting = true;
      client = null;
      failed.removeAllListeners();
      failed.on("error", () => undefined);
      void failed.end().catch(() => undefined);
      while (!closed) {
        await new Promise((r) => setTimeout(r, backoffMs).unref());
        backoffMs = Math.min(backoffMs * 2, maxBackoffMs);
        try {
          await connect();
          break;
        } catch {
          // The server is still away: try again after the backoff.
        }
      }
      reconnecting = false;
      if (!closed) onReconnect();
    };

    await connect();
    health = setInterval(() => {
      const current = client;
      if (current === null) return;
      current.query("SELECT 1").catch(() => void reconnect(current));
    }, healthCheckMs);
    health.unref();

    return async () => {
      closed = true;
      if (health !== null) clearInterval(health);
      const current = client;
      client = null;
      if (current !== null) {
        current.removeAllListeners();
        current.on("error", () => undefined);
        await current.end().catch(() => undefined);
      }
    };
  }
}
