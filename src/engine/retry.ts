/**
 * The wait before trying again a write the database could not take (it is restarting, the
 * connection dropped): 50 ms, doubling, at most 2 s — short enough that a blip costs little,
 * capped so that a long outage is noticed within seconds of its end.
 */
export function retryDelayMs(failures: number): number {
  return Math.min(2000, 50 * 2 ** failures);
}
