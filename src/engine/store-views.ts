/**
 * The narrow parts of the store the engine lends the server (`Belay.tokens`, `.webhooks`,
 * `.events`): the server authenticates, manages webhooks and replays events through them,
 * never through the whole store. The views are picked by method name, so a token or
 * webhook method added to the store later is in its view without an edit here.
 */
import type { Store } from "../store/store.ts";

type MethodsNamed<Pattern extends string> = Pick<Store, Extract<keyof Store, Pattern>>;

/** API tokens: insert, find by hash, list, revoke, count. */
export type TokenStore = MethodsNamed<`${string}Token${string}`>;

/** Webhooks and their deliveries, and the event log a new dispatcher catches up from. */
export type WebhookStore = MethodsNamed<`${string}Webhook${string}` | `${string}Deliver${string}`> & Pick<Store, "eventsAfter">;

/**
 * The stored events in commit order: of every job (`eventsAfter`) or of one (`jobEvents`);
 * the last seq so far; and whether other nodes write it too (`shared`: then this node's own
 * events reach its bus before other nodes' earlier ones, not in seq order).
 */
export type EventLog = Pick<Store, "eventsAfter" | "jobEvents" | "maxEventSeq" | "shared">;
