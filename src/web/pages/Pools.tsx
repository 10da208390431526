/**
 * Resource pools (DESIGN §7): each pool's slots in use out of its capacity, and which task
 * of which job holds each slot, on which node and since when — kept current by the event
 * stream (a task that starts or ends takes or gives back a slot).
 */
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../api.ts";
import { ErrorNote } from "../components/Notice.tsx";
import { ago, dateTime } from "../format.ts";
import { useEvents, useNow, useThrottled } from "../hooks.ts";
import { listPools } from "../queries.ts";
import type { Pool } from "../queries.ts";
import { Link } from "../router.tsx";

export function PoolsPage(): JSX.Element {
  const [pools, setPools] = useState<Pool[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [unsupported, setUnsupported] = useState(false);
  const now = useNow(5000);

  const load = async (): Promise<void> => {
    try {
      setPools(await listPools());
      setError(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404 && e.code !== "JOB_NOT_FOUND") setUnsupported(true);
      else setError(e);
    }
  };
  const refresh = useThrottled(() => void load(), 500);
  useEffect(() => void load(), []);
  useEvents({ onEvent: (e) => e.type.startsWith("belay.task.") && e.type !== "belay.task.progress" && refresh(), onReconnect: refresh }, []);

  return (
    <section aria-labelledby="pools-title">
      <div class="page-head">
        <h1 id="pools-title">Pools</h1>
        <p class="lede">Resource slots (GPUs, checkouts, licences): who holds each one, and since when.</p>
      </div>
      <ErrorNote error={error} onRetry={() => void load()} />
      {unsupported ? (
        <div class="empty">
          <p>This server does not report its pools (it has no <code>GET /api/v1/pools</code>). Upgrade it to see them here.</p>
        </div>
      ) : pools === null ? (
        error === null ? (
          <p class="muted">Loading…</p>
        ) : null
      ) : pools.length === 0 ? (
        <div class="empty">
          <p>No pools on this server.</p>
          <p class="muted">
            Start it with <code>belay serve --pool gpu=2</code>; a task that names the pool waits for a free slot.
          </p>
        </div>
      ) : (
        <div class="pools">
          {pools.map((pool) => (
            <section key={pool.name} class="card pool" data-pool={pool.name} aria-labelledby={`pool-${pool.name}`}>
              <div class="section-head">
                <h2 id={`pool-${pool.name}`}>{pool.name}</h2>
                <span class="pool-usage">
                  <strong>{pool.inUse}</strong> of {pool.capacity} in use
                </span>
              </div>
              <div class="progress-track pool-bar" role="meter" aria-label={`${pool.name}: ${pool.inUse} of ${pool.capacity} slots in use`} aria-valuemin={0} aria-valuemax={pool.capacity} aria-valuenow={pool.inUse}>
                <div class="progress-fill" style={{ width: `${pool.capacity === 0 ? 0 : Math.min(100, (pool.inUse / pool.capacity) * 100)}%` }} />
              </div>
              {pool.holders.length === 0 ? (
                <p class="muted small">Every slot is free.</p>
              ) : (
                <table class="table stack compact" aria-label={`Holders of ${pool.name}`}>
                  <thead>
                    <tr>
                      <th scope="col">Job</th>
                      <th scope="col">Task</th>
                      <th scope="col">Node</th>
                      <th scope="col">Since</th>
                    </tr>
                  </thead>
                  <tbody>
                    {pool.holders.map((h) => (
                      <tr key={`${h.jobId}/${h.taskKey}`} data-job={h.jobId} data-task={h.taskKey}>
                        <td data-label="Job">
                          <Link href={`/jobs/${h.jobId}`} class="mono">
                            {h.jobId.slice(0, 8)}
                          </Link>
                        </td>
                        <td data-label="Task">{h.taskKey}</td>
                        <td data-label="Node" class="mono small">
                          {h.nodeId ?? "—"}
                        </td>
                        <td data-label="Since">
                          <span title={dateTime(h.since)}>{ago(h.since, now)}</span>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>
          ))}
        </div>
      )}
    </section>
  );
}
