/**
 * Where the benchmark's processes run. On a machine with two or more CPUs and `taskset`, the
 * server under test is pinned to CPU 0 and every load generator to the other CPUs, so the
 * server has exactly one core to itself (its CPU utilisation then says plainly whether it was
 * the bottleneck: 100% is one whole core) and the load generators never take its time. With one
 * CPU, or without `taskset`, nothing is pinned and the report says so.
 *
 * @module
 */

/** CPU lists (as `taskset -c` takes them) for the server and for the load, or none. */
export interface Placement {
  /** e.g. "0"; undefined when not pinned. */
  server?: string;
  /** e.g. "1" or "1-3"; undefined when not pinned. */
  load?: string;
  /** One line for the report. */
  note: string;
}

let cached: Placement | undefined;

/** Decides the placement once per run (`pin: false` turns pinning off). */
export async function placement(pin = true): Promise<Placement> {
  if (cached) return cached;
  const cpus = navigator.hardwareConcurrency;
  if (!pin) return cached = { note: "not pinned (--no-pin)" };
  if (cpus < 2) return cached = { note: "not pinned (one CPU)" };
  let taskset = false;
  try {
    const out = await new Deno.Command("taskset", { args: ["-c", "0", "true"], stderr: "null" })
      .output();
    taskset = out.code === 0;
  } catch {
    taskset = false;
  }
  if (!taskset) return cached = { note: "not pinned (no taskset)" };
  const load = cpus === 2 ? "1" : `1-${cpus - 1}`;
  return cached = {
    server: "0",
    load,
    note: `server pinned to CPU 0, load generators to CPU ${load} (taskset)`,
  };
}

/** The placement decided so far (for children started without awaiting it). */
export function currentPlacement(): Placement | undefined {
  return cached;
}

/**
 * How to run `command args` as a benchmark child: with its soft limit of open files raised to
 * the hard limit (thousands of sessions need as many descriptors, and many systems start at
 * 1024), on the CPUs `cpus` (`taskset -c`) when given. The shell and `taskset` both exec, so
 * the child's pid is the command's.
 */
export function childCommand(cpus: string | undefined, command: string, args: string[]) {
  const pinning = cpus ? ["taskset", "-c", cpus] : [];
  return {
    command: "sh",
    args: [
      "-c",
      'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"',
      "sh",
      ...pinning,
      command,
      ...args,
    ],
  };
}

/** The soft and hard limits of open files of process `pid`, from /proc/PID/limits. */
export async function openFileLimits(pid: number): Promise<{ soft: number; hard: number }> {
  const limits = await Deno.readTextFile(`/proc/${pid}/limits`);
  const match = limits.match(/^Max open files\s+(\S+)\s+(\S+)/m);
  const value = (text: string | undefined) => text === "unlimited" ? Infinity : Number(text);
  return { soft: value(match?.[1]), hard: value(match?.[2]) };
}

/** How many descriptors process `pid` has open now. */
export async function openFiles(pid: number): Promise<number> {
  let count = 0;
  for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) count += 1;
  return count;
}

/**
 * `--v8-flags=...` from the environment variable `name` (`BENCH_SERVER_V8` for the servers,
 * `BENCH_LOADGEN_V8` for the load generators), for profiling a run, e.g. with
 * `--perf-basic-prof` and `perf record -p PID`; nothing when unset.
 */
export function v8Flags(name: string): string[] {
  const flags = Deno.env.get(name);
  return flags ? [`--v8-flags=${flags}`] : [];
}

/**
 * Another checkout of openchat whose server and client the benchmark runs instead of this one's
 * (`BENCH_OPENCHAT_TREE=DIR`, e.g. from `git archive BASE | tar -x -C DIR`), with this harness,
 * its load generators and placement: before/after figures measured the same way. Undefined for
 * this checkout.
 */
export function openchatTree(): string | undefined {
  return Deno.env.get("BENCH_OPENCHAT_TREE") || undefined;
}
