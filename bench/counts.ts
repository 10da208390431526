/**
 * How big each workload is: one definition for `bench/run.ts` and the peer benchmark
 * (`bench/peers/`), so Belay and its peers are always measured on the same counts.
 */
export function workloadCounts(quick: boolean) {
  return {
    w1Jobs: quick ? 2_000 : 10_000,
    /** Jobs run at once in W1 (Belay's `concurrency`, a peer's worker concurrency). */
    w1Concurrency: 10,
    w2Jobs: quick ? 2_000 : 10_000,
    w3Jobs: quick ? 20 : 50,
    w4Queue: quick ? 10_000 : 100_000,
    w4Cancels: 100,
    pw1Jobs: quick ? 2_000 : 10_000,
    pw2Jobs: quick ? 2_000 : 10_000,
    pw3Jobs: quick ? 20 : 100,
    pw4Queue: quick ? 10_000 : 100_000,
    pw4Cancels: 100,
  };
}
