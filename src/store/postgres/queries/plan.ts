/**
 * Plans by key, whatever the statistics say. Until a table has been analyzed (a new schema,
 * the first minutes of a deployment, a queue filled faster than autovacuum runs, or a server
 * with autovacuum off) the planner believes it holds a few rows and may read all of it —
 * a sequential or bitmap scan — where one index lookup per key would do: a cost that grows
 * with the table. The statements that use this look rows up by key only, so no such scan
 * is ever the better plan for them. Local to the transaction (`set_config(…, true)`), so it
 * goes in a statement after which only by-key statements run.
 */
export const byKeyPlanSettings = "set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)";
