/** Validation of `slurm` tasks: what is accepted, and a clear INVALID_REQUEST naming the field for the rest. */
import { describe, expect, it } from "vitest";
import { parseJobSpec } from "../../src/core/spec.ts";

const slurm = (fields: Record<string, unknown>): unknown => ({ tasks: [{ key: "sim", kind: "slurm", ...fields }] });

function refusal(input: unknown): { field: unknown; message: string } {
  try {
    parseJobSpec(input);
  } catch (error) {
    const e = error as { code: string; message: string; details?: { field?: unknown } };
    expect(e.code).toBe("INVALID_REQUEST");
    return { field: e.details?.field, message: e.message };
  }
  throw new Error("accepted");
}

describe("slurm task spec", () => {
  it("accepts a command or a script with the cluster's resources", () => {
    const spec = parseJobSpec(slurm({ command: "python sim.py", partition: "debug", time: "1:00:00", cpus: 4, memory: "4G", gres: "gpu:1", env: { STEPS: "100" }, sbatchArgs: ["--nice=10", "--exclusive"] }));
    expect(spec.tasks[0]).toMatchObject({ kind: "slurm", slurm: { command: "python sim.py", partition: "debug", time: "1:00:00", cpus: 4, memory: "4G", gres: "gpu:1", env: { STEPS: "100" }, sbatchArgs: ["--nice=10", "--exclusive"] } });
    expect(parseJobSpec({ tasks: [{ key: "s", script: "#!/bin/sh\necho hi\n" }] }).tasks[0]?.kind).toBe("slurm");
  });

  it.each([
    [slurm({}), "tasks[0].script", /give script or command/],
    [slurm({ script: "#!/bin/sh\n", command: "x" }), "tasks[0].command", /cannot be combined with script/],
    [slurm({ script: "echo no shebang" }), "tasks[0].script", /#!/],
    [slurm({ command: "x", time: "soon" }), "tasks[0].time", /time limit/],
    [slurm({ command: "x", cpus: 0 }), "tasks[0].cpus", /1\.\.4096/],
    [slurm({ command: "x", memory: "lots" }), "tasks[0].memory", /memory/],
    [slurm({ command: "x", partition: "a b" }), "tasks[0].partition", /partition/],
    [slurm({ command: "x", gres: "gpu 1" }), "tasks[0].gres", /gres/],
    [slurm({ command: "x", sbatchArgs: ["--output=/etc/passwd"] }), "tasks[0].sbatchArgs[0]", /set by Belay/],
    [slurm({ command: "x", sbatchArgs: ["--export=ALL,SECRET=1"] }), "tasks[0].sbatchArgs[0]", /set by Belay/],
    [slurm({ command: "x", sbatchArgs: ["-o /tmp/x"] }), "tasks[0].sbatchArgs[0]", /--name=value/],
    [slurm({ command: "x", sbatchArgs: ["--comment=a b"] }), "tasks[0].sbatchArgs[0]", /--name=value/],
    [slurm({ command: "x", env: { BELAY_ARTIFACTS: "/etc" } }), "tasks[0].env.BELAY_ARTIFACTS", /set by Belay/],
    [slurm({ command: "x", shell: true }), "tasks[0].shell", /only for process tasks/],
    [{ script: "#!/bin/sh\n" }, "script", /unknown|not/i],
  ])("refuses %j at %s", (input, field, message) => {
    const got = refusal(input);
    expect(got.field).toBe(field);
    expect(got.message).toMatch(message);
  });
});
