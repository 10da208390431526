/** `openBelay(options)`: build an engine on a store, recover from an earlier run, start scheduling. */
import { hostname } from "node:os";
import { resolve } from "node:path";
import { pino } from "pino";
import type { Logger } from "pino";
import { BelayError } from "../core/errors.ts";
import { HandlerRunner } from "../runners/handler.ts";
import { ProcessRunner } from "../runners/process.ts";
import { RemoteRunner } from "../runners/remote.ts";
import { SlurmRunner } from "../runners/slurm.ts";
import type { SlurmRunnerOptions } from "../runners/slurm.ts";
import type { RemoteAdapter } from "../runners/remote.ts";
import { httpAdapters } from "../runners/remote-http.ts";
import type { HttpRemoteConfig } from "../runners/remote-http.ts";
import { readProcessStartTime } from "../runners/proc.ts";
import { PostgresStore } from "../store/postgres/postgres-store.ts";
import { dbUrlOrDefault, parseDbUrl } from "../store/db-url.ts";
import { SqliteStore } from "../store/sqlite/sqlite-store.ts";
import type { NodeRecord, Store } from "../store/store.ts";
import { CancelExecutor } from "./cancel-executor.ts";
import { CancelRequests } from "./cancel-requests.ts";
import { cancelTree } from "./cancel-tree.ts";
import { childJobsOf } from "./child-jobs.ts";
import { defaultMaxChildDepth } from "../core/children.ts";
import { JobTaskRunner } from "../runners/job-task.ts";
import { CancelAgent } from "./cluster/cancel-agent.ts";
import { ClusterNode } from "./cluster/cluster-node.ts";
import { goneNodes } from "./cluster/nodes.ts";
import { Presence } from "./cluster/presence.ts";
import { attemptWatcher } from "./cluster/task-watch.ts";
import { Belay } from "./engine.ts";
import { Drainer } from "./drain.ts";
import { EventBus } from "./event-bus.ts";
import { newId } from "./ids.ts";
import { JobWriter } from "./job-writer.ts";
import { EngineLock } from "./lock.ts";
import { LogSink } from "./log-sink.ts";
import { Recovery } from "./recovery.ts";
import { RemoteFollowUp, remoteJobs, slurmJobs } from "./remote-follow-up.ts";
import type { NodeRunners } from "./runnable.ts";
import { Runs } from "./runs.ts";
import { Scheduler } from "./scheduler.ts";
import { Schedules } from "./schedules.ts";
import { Submissions } from "./submissions.ts";
import { StopPolicy } from "./stop-policy.ts";
import { TimeoutSweep } from "./timeouts.ts";
import { Workspace } from "./workspace.ts";
import { parsePolicy } from "../core/policy.ts";
import { parseTemplates } from "../core/templates.ts";
import type { RunAs, RunAsUids } from "./run-as.ts";
import { checkRunAsUids } from "./run-as.ts";
import { secretSource } from "./secrets.ts";
import { hardenHome } from "./harden.ts";
import { OneTaskUser, TaskUidRange } from "../runners/task-users.ts";
import type { TaskUsers } from "../runners/task-users.ts";

export interface BelayOptions {
  /**
   * `sqlite:PATH`, `sqlite::memory:` or `postgres://…` (also `postgresql://…`; `?schema=NAME`
   * picks the schema, default `belay`). Default: `$BELAY_DB`, else `sqlite:<home>/belay.db`.
   */
  db?: string;
  /** Belay's directory (database, work dirs, artifacts). Default: `$BELAY_HOME`, else `./.belay`. */
  home?: string;
  /** Tasks this node runs at once. 0 makes an API-only node. Default 10. */
  concurrency?: number;
  /** Module whose exported functions are the handlers (`async (input, ctx) => output`). */
  handlers?: string;
  /** Remote adapters by name, for `remote` tasks. */
  adapters?: Record<string, RemoteAdapter>;
  /** Remote job services reached through the built-in http adapter (docs/remote-adapter.md), by adapter name. */
  remotes?: Record<string, HttpRemoteConfig>;
  /** Resource pools: name → number of slots. Default none. */
  pools?: Record<string, number>;
  /** Queues this node claims from. Default: all. */
  queues?: string[];
  /** This node's id in runner records. Default: `<hostname>:<pid>:<random>`. */
  nodeId?: string;
  /** How often to look for work submitted elsewhere and for timed-out jobs, in ms. Default 100. */
  pollIntervalMs?: number;
  /** How often to look for due schedules, in ms. Default 1000. */
  schedulePollMs?: number;
  /** Fire due schedules on this node. Default true (any number of nodes may: one firing makes one job). */
  fireSchedules?: boolean;
  /** pino logger. Default: silent. */
  logger?: Logger;
  /** SQLite durability: `normal` (default) or `strict` (fsync on every commit). See docs/durability.md. */
  durability?: "normal" | "strict";
  /** Delays between cleanup attempts of a cancellation, in ms. Default [50, 200, 800]. */
  cleanupRetryDelaysMs?: number[];
  /** After a forced kill, how long to wait for the runner to exit before recording it as lost, in ms. Default 10 000. */
  killTimeoutMs?: number;
  /** Worker threads for handlers at most. Default 16. */
  maxHandlerThreads?: number;
  /** Poll interval of remote jobs, in ms. Default 500. */
  remotePollIntervalMs?: number;
  /** Waits between retries of a remote cancel the service refused, in ms; the last repeats. Default [1000, 2000, 5000, 10000, 30000]. */
  remoteCancelRetryDelaysMs?: number[];
  /**
   * Run `slurm` tasks on the Slurm cluster whose CLI (sbatch, squeue, scontrol, scancel) is on
   * PATH (docs/slurm.md); `true` for the defaults. Default: off (slurm tasks are refused).
   */
  slurm?: boolean | SlurmRunnerOptions;
  /** Run crash recovery on open. Default true. */
  recover?: boolean;
  /**
   * Shared store: how long this node's lease lasts without a heartbeat, in ms. Once it has
   * run out, another node recovers this node's tasks. Default 10 000.
   */
  leaseMs?: number;
  /** Shared store: how often the lease is renewed (and other nodes' leases checked), in ms. Default a quarter of the lease. */
  heartbeatMs?: number;
  /** What the node is, in the nodes table: `serve`, `worker` or `library` (default). */
  role?: string;
  /** PostgreSQL: most connections this node holds open. Default 10. */
  poolSize?: number;
  /**
   * Who may do what (DESIGN §6): `{rules: {"job.cancel.own": "operator", …}}`, applied to
   * callers acting as a principal (`belay.as(principal)`, the HTTP API, MCP). Default
   * `defaultPolicy` (free-command process tasks need operator).
   */
  policy?: unknown;
  /** Task templates: `{templates: [{name, argv, env?, graceMs?, uses?}]}` (docs/security.md). */
  templates?: unknown;
  /** Secret values by name, for `{"secret": NAME}` env values; `BELAY_SECRET_<NAME>` is read too. */
  secrets?: Record<string, string>;
  /** Run process tasks under this uid/gid (the node must run as root); see `resolveRunAs`. */
  runAs?: RunAs;
  /** The deepest a tree of child jobs may grow: a root is depth 0, so 8 allows 8 levels below it (DESIGN §7). Default 8. */
  maxChildDepth?: number;
  /**
   * Run each process task attempt under its own uid of this range, held while it runs (the
   * node must run as root); see `resolveRunAsUids`. Not with `runAs`. The range must hold
   * at least `concurrency` uids.
   */
  runAsUids?: RunAsUids;
  /** Where nodes on this machine record their `runAsUids` ranges, to refuse overlaps. Default `/run/belay-uid-ranges`. */
  runAsUidsDir?: string;
}

function positiveInt(value: number | undefined, fallback: number, field: string, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) throw new BelayError("INVALID_REQUEST", `${field} must be an integer ≥ ${min}`, { details: { field } });
  return value;
}

function openStore(db: string, home: string, options: BelayOptions, nodeId: string): { store: Store; lockPath: string | null } {
  const durability = options.durability === undefined ? {} : { durability: options.durability };
  const location = parseDbUrl(db, home);
  if (location.dialect === "postgres") {
    const store = new PostgresStore({
      url: location.url,
      applicationName: `belay:${nodeId}`,
      ...(location.schema === null ? {} : { schema: location.schema }),
      ...(options.poolSize === undefined ? {} : { poolSize: options.poolSize }),
    });
    return { store, lockPath: null };
  }
  const store = new SqliteStore({ path: location.path, ...durability });
  return { store, lockPath: location.path === ":memory:" ? null : `${location.path}.lock` };
}

/** Where process tasks' uids come from: `runAs` (one uid) or `runAsUids` (one per running attempt), checked. */
function taskUsersOf(options: BelayOptions, concurrency: number): TaskUsers | undefined {
  if (options.runAsUids === undefined) return options.runAs === undefined ? undefined : new OneTaskUser(options.runAs);
  const fail = (message: string): never => {
    throw new BelayError("INVALID_REQUEST", message, { details: { field: "runAsUids" } });
  };
  if (options.runAs !== undefined) fail("--run-as and --run-as-uids cannot be used together: one uid for every task, or one per running task");
  const range = new TaskUidRange(checkRunAsUids(options.runAsUids));
  // A range smaller than the node's concurrency would fail tasks the node claimed; the
  // node's own tasks must never exhaust it.
  if (range.size < concurrency) fail(`--run-as-uids ${options.runAsUids.start}-${options.runAsUids.end} holds ${range.size} uids but --concurrency is ${concurrency}: each process task running at once needs its own uid; give a larger range or a lower --concurrency`);
  if (process.getuid?.() !== 0) fail("--run-as-uids needs the node to run as root (to give each task its uid and its directories)");
  return range;
}

export async function openBelay(options: BelayOptions = {}): Promise<Belay> {
  const home = resolve(options.home ?? process.env["BELAY_HOME"] ?? "./.belay");
  const db = dbUrlOrDefault(options.db, home);
  const concurrency = positiveInt(options.concurrency, 10, "concurrency", 0);
  const pollIntervalMs = positiveInt(options.pollIntervalMs, 100, "pollIntervalMs");
  const pools = { ...(options.pools ?? {}) };
  for (const [name, slots] of Object.entries(pools)) positiveInt(slots, 1, `pools.${name}`);
  const logger = options.logger ?? pino({ level: "silent" });
  const nodeId = options.nodeId ?? `${hostname()}:${process.pid}:${newId().slice(-8)}`;
  const now = (): string => new Date().toISOString();

  let adapters: Record<string, RemoteAdapter>;
  try {
    adapters = { ...httpAdapters(options.remotes ?? {}), ...(options.adapters ?? {}) };
  } catch (error) {
    throw new BelayError("INVALID_REQUEST", (error as Error).message, { details: { field: "remotes" } });
  }
  const accessPolicy = parsePolicy(options.policy);
  const templates = parseTemplates(options.templates);
  const secrets = secretSource(options.secrets ?? {});
  const taskUsers = taskUsersOf(options, concurrency);
  const leaseMs = positiveInt(options.leaseMs, 10_000, "leaseMs");
  const maxChildDepth = positiveInt(options.maxChildDepth, defaultMaxChildDepth, "maxChildDepth");
  const heartbeatMs = positiveInt(options.heartbeatMs, Math.max(50, Math.floor(leaseMs / 4)), "heartbeatMs");
  const { store, lockPath } = openStore(db, home, options, nodeId);
  let lock: EngineLock | null = null;
  try {
    if (lockPath !== null) lock = EngineLock.acquire(lockPath);
    await store.migrate();
    if (taskUsers !== undefined) hardenHome(home, parseDbUrl(db, home));
    if (taskUsers instanceof TaskUidRange) taskUsers.claimOnMachine(options.runAsUidsDir);
  } catch (error) {
    taskUsers?.close?.();
    lock?.release();
    await store.close();
    throw error;
  }

  const runners: NodeRunners = {
    job: new JobTaskRunner(),
    process: new ProcessRunner({ secret: (name) => secrets.get(name), ...(taskUsers === undefined ? {} : { taskUsers }) }),
    remote: new RemoteRunner({
      adapters,
      ...(options.remotePollIntervalMs === undefined ? {} : { pollIntervalMs: options.remotePollIntervalMs }),
    }),
    adapterNames: new Set(Object.keys(adapters)),
    ...(options.slurm === undefined || options.slurm === false ? {} : { slurm: new SlurmRunner(options.slurm === true ? {} : options.slurm) }),
    ...(options.handlers === undefined
      ? {}
      : { handler: new HandlerRunner({ modulePath: options.handlers, ...(options.maxHandlerThreads === undefined ? {} : { maxThreads: options.maxHandlerThreads }) }) }),
  };
  const bus = new EventBus({ dedupe: store.shared });
  // The one writer of jobs: every part below that changes a job is handed it.
  const writer = new JobWriter({ store, bus, now });
  const policy = new StopPolicy({ now });
  const cluster = new ClusterNode({ store, bus, logger });
  const workspace = new Workspace(home);
  // A run's end wakes the scheduler and a cancel waits for the claims in flight, while the
  // scheduler starts runs: the scheduler is bound late.
  let scheduler!: Scheduler;
  let closing = false;
  const logs = new LogSink(store, { logger, closing: () => closing });
  // Making jobs: the API's submits, a task's child jobs and the schedules' firings.
  const submissions = new Submissions({
    writer,
    store,
    policy: accessPolicy,
    templates,
    hasSecret: (name) => secrets.has(name),
    runners,
    pools,
    maxChildDepth,
    now,
    wake: () => scheduler.wake(),
  });
  // A task's child jobs are cancelled through the cancel requests, built below.
  let requests!: CancelRequests;
  const treePollMs = Math.max(pollIntervalMs, 200);
  const runs = new Runs({
    store,
    runners: { ...(runners.job ? { job: runners.job } : {}), ...(runners.process ? { process: runners.process } : {}), ...(runners.handler ? { handler: runners.handler } : {}), ...(runners.remote ? { remote: runners.remote } : {}), ...(runners.slurm ? { slurm: runners.slurm } : {}) },
    workspace,
    logs,
    writer,
    policy,
    nodeId,
    logger,
    now,
    closing: () => closing,
    children: (jobId, taskKey) => childJobsOf({ submissions, requests: () => requests, store, bus, pollIntervalMs: treePollMs }, jobId, taskKey),
    onEnded: (run, result) => {
      // failFast: stop the independent branches core moved to `cancelling`, like a cancel does.
      const targets = (result?.toStop ?? []).flatMap(({ key, graceMs }) => {
        const sibling = runs.get(run.jobId, key);
        return sibling === undefined ? [] : [{ run: sibling, graceMs }];
      });
      policy.stop(targets, { force: false });
      scheduler.wake();
    },
  });
  const remoteFollowUp = new RemoteFollowUp({
    store,
    writer,
    jobs: { ...(runners.remote ? { remote: remoteJobs(runners.remote) } : {}), ...(runners.slurm ? { slurm: slurmJobs(runners.slurm) } : {}) },
    logger,
    retryDelaysMs: options.remoteCancelRetryDelaysMs ?? [1000, 2000, 5000, 10_000, 30_000],
    pollIntervalMs: options.remotePollIntervalMs ?? 500,
    closing: () => closing,
  });
  const executor = new CancelExecutor({
    writer,
    runs,
    policy,
    workspace,
    logger,
    now,
    nodeId,
    cleanupRetryDelaysMs: options.cleanupRetryDelaysMs ?? [50, 200, 800],
    killTimeoutMs: options.killTimeoutMs ?? 10_000,
    claimsSettled: () => scheduler.settled(),
    onFinished: (record) => {
      logger.info({ jobId: record.jobId, cancellationId: record.id, status: record.status, durationMs: record.durationMs }, "cancellation finished");
      remoteFollowUp.follow(record);
    },
    sendCancel: (jobId, recordId, force) => cluster.messages.sendCancel(jobId, recordId, force),
    waitForAttempts: attemptWatcher({ store, bus, pollIntervalMs }),
    goneNodes: async (ids) => (ids.length === 0 ? new Set() : new Set(ids.filter((await goneNodes(store, nodeId)).isGone))),
    reload: (recordId) => store.getCancellation(recordId),
    closing: () => closing,
    cancelTree: (record, escalated) =>
      cancelTree({ store, bus, logger, pollIntervalMs: treePollMs, cancelInTree: (jobId, root, force) => requests.cancelInTree(jobId, root, force) }, record, escalated),
  });
  const agent = new CancelAgent({ store, runs, policy, writer, logger, nodeId, executor });
  // Schedules submit their firings through the same checks as the API (policy, secrets, runnable).
  const schedules: Schedules = new Schedules({
    store,
    logger,
    now,
    pollMs: positiveInt(options.schedulePollMs, 1000, "schedulePollMs"),
    prepare: (input, owner, principal) => submissions.prepareJob(input, { owner, principal }, now()),
    submit: (input, submitOptions) => submissions.submit(input, submitOptions),
    canceller: () => requests,
  });
  requests = new CancelRequests({
    writer,
    store,
    executor,
    logger,
    nodeId,
    now,
    wake: () => scheduler.wake(),
    quiesce: (filter, by, reason) => schedules.quiesce(filter, by, reason),
  });
  scheduler = new Scheduler({
    writer,
    runs,
    logger,
    nodeId,
    concurrency,
    pools,
    queues: options.queues,
    pollIntervalMs,
    timeouts: new TimeoutSweep({ store, canceller: requests, logger }),
    onPoll: () => cluster.poll(),
    leaseHeld: () => presence.leaseHeld(),
  });
  const engine = new Belay({
    store,
    bus,
    writer,
    scheduler,
    requests,
    schedules,
    submissions,
    logger,
    nodeId,
    pools,
    policy: accessPolicy,
    now,
    drainer: new Drainer({ store, writer, runs, policy, scheduler, bus, logger, nodeId, now }),
    onClose: async (graceMs) => {
      closing = true;
      await schedules.stop();
      scheduler.stop();
      await scheduler.settled();
      await policy.interrupt(runs.all(), graceMs);
      await logs.flush();
      await Promise.all([runners.job?.close(), runners.process?.close(), runners.handler?.close(), runners.remote?.close(), runners.slurm?.close()]);
      await presence.stop(now());
      await cluster.close();
      await store.close();
      lock?.release();
    },
  });

  const nodeRecord: NodeRecord = {
    id: nodeId,
    hostname: hostname(),
    pid: process.pid,
    pidStartTime: readProcessStartTime(process.pid),
    role: options.role ?? "library",
    startedAt: now(),
    heartbeatMs: Date.now(),
    leaseMs,
    stoppedAt: null,
    deadAt: null,
  };
  const recovery = new Recovery({
    store,
    writer,
    logger,
    now,
    node: nodeRecord,
    remote: runners.remote,
    executor,
    slurm: runners.slurm,
    runs,
    policy,
    bulk: requests,
  });
  const presence = new Presence({
    store,
    logger,
    intervalMs: heartbeatMs,
    node: nodeRecord,
    onTick: async () => {
      if (options.recover !== false) await recovery.tick();
    },
    // Other nodes have recovered this node's tasks: its runners are running stale attempts.
    onDeclaredDead: () => policy.interrupt(runs.all(), 0),
    leaseMs,
  });

  try {
    await presence.register();
    if (options.recover !== false) {
      await recovery.onStart();
      await remoteFollowUp.resumeStored();
    }
    await cluster.start({ agent, wake: () => scheduler.wake() });
  } catch (error) {
    await engine.close().catch(() => undefined);
    throw error;
  }
  presence.start();
  scheduler.start();
  if (options.fireSchedules !== false) schedules.start();
  return engine;
}
