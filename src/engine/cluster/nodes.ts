/**
 * Which nodes are gone — stopped, declared dead, or past their lease — as one node sees
 * them. Recovery takes over what a gone node left; the cancel executor does not wait for the
 * runners of a gone node (they will never report).
 */
import type { NodeRecord, Store } from "../../store/store.ts";

/** A node that stopped, was declared dead, or whose lease has run out. */
function nodeIsGone(node: NodeRecord, nowMs: number): boolean {
  return node.deadAt !== null || node.stoppedAt !== null || node.heartbeatMs + node.leaseMs < nowMs;
}

/**
 * The store's nodes, and which are gone as seen from node `selfId` (never itself). In a store
 * one engine uses, every other node is; in a shared one, a node the store does not know is
 * not (it registered after the list was read).
 */
export async function goneNodes(store: Store, selfId: string): Promise<{ byId: Map<string, NodeRecord>; isGone: (id: string | null) => boolean }> {
  const byId = new Map((await store.listNodes()).map((n) => [n.id, n]));
  const nowMs = Date.now();
  const isGone = (id: string | null): boolean => {
    if (id === selfId) return false;
    if (!store.shared) return true;
    const node = id === null ? undefined : byId.get(id);
    return node !== undefined && nodeIsGone(node, nowMs);
  };
  return { byId, isGone };
}
