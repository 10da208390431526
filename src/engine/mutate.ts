import type { Job } from "../core/model.ts";
import type { Mutator } from "../store/store.ts";

/** The engine's one way to change a job: the store's transaction, then its events published (`Belay.mutate`). */
export type Mutate = <T>(jobId: string, mutate: Mutator<T>) => Promise<{ value: T; job: Job }>;
