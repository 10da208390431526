import { v7 as uuidv7 } from "uuid";

/** Job and cancellation ids are UUIDv7: unique, and sortable by creation time. */
export function newId(): string {
  return uuidv7();
}
