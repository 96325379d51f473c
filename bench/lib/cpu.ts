/**
 * CPU time from /proc: of one process (user + system, all its threads), and of the whole machine,
 * so a benchmark can report what a server spent per delivery regardless of what the load
 * generators cost on the same cores, how busy each side was in the measuring window, and how much
 * of the machine something else (another job on a shared machine) took meanwhile.
 *
 * @module
 */

/** Clock ticks per second of /proc's counters (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** Seconds of CPU the process `pid` has used so far. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // The command name (field 2) is in parentheses and may hold spaces: split after it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / TICKS_PER_SECOND;
}

/** The whole machine's CPU counters so far, in CPU-seconds. */
export interface MachineCpu {
  /** Time every CPU spent doing anything (not idle, not waiting for I/O). */
  busy: number;
  /** Time the hypervisor ran something else on our virtual CPUs. */
  steal: number;
}

/** The machine's counters from the first line of /proc/stat. */
export async function machineCpu(): Promise<MachineCpu> {
  const line = (await Deno.readTextFile("/proc/stat")).split("\n", 1)[0]!;
  // cpu user nice system idle iowait irq softirq steal guest guest_nice
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/)
    .slice(1).map(Number) as number[];
  void idle;
  void iowait;
  const busy = user! + nice! + system! + irq! + softirq!;
  return { busy: busy / TICKS_PER_SECOND, steal: steal! / TICKS_PER_SECOND };
}

/** The 1-minute load average. */
export async function loadAverage(): Promise<number> {
  return Number((await Deno.readTextFile("/proc/loadavg")).split(" ", 1)[0]);
}

/** What {@linkcode CpuWindow.stop} measured. */
export interface CpuWindowResult {
  /** Wall time of the window. */
  seconds: number;
  /** Per named process group: CPU-seconds used in the window divided by its wall seconds. */
  busy: Record<string, number>;
  /** CPU-seconds per second used on the machine by processes not in any group (other jobs). */
  foreign: number;
  /** CPU-seconds per second stolen by the hypervisor. */
  steal: number;
  /** Load average at the end of the window. */
  load: number;
  /** CPU-seconds used by each group in the window. */
  cpu: Record<string, number>;
}

/**
 * A measuring window: reads the CPU time of named groups of processes and of the machine at the
 * start and at the end. Everything the machine spent that no group accounts for is reported as
 * `foreign` (other work on a shared machine, and this benchmark's own parent, which mostly
 * sleeps).
 */
export class CpuWindow {
  private constructor(
    readonly groups: Record<string, number[]>,
    private readonly start: { at: number; machine: MachineCpu; cpu: Record<string, number> },
  ) {}

  /** Opens a window over `groups` (name to process ids). */
  static async start(groups: Record<string, number[]>): Promise<CpuWindow> {
    const cpu = await groupCpu(groups);
    return new CpuWindow(groups, { at: performance.now(), machine: await machineCpu(), cpu });
  }

  /** Closes the window. A process that exited meanwhile counts for nothing past its start. */
  async stop(): Promise<CpuWindowResult> {
    const cpu = await groupCpu(this.groups);
    const machine = await machineCpu();
    const seconds = (performance.now() - this.start.at) / 1000;
    const used: Record<string, number> = {};
    const busy: Record<string, number> = {};
    let ours = 0;
    for (const name of Object.keys(this.groups)) {
      used[name] = Math.max(0, cpu[name]! - this.start.cpu[name]!);
      busy[name] = used[name]! / seconds;
      ours += used[name]!;
    }
    return {
      seconds,
      busy,
      cpu: used,
      foreign: Math.max(0, machine.busy - this.start.machine.busy - ours) / seconds,
      steal: (machine.steal - this.start.machine.steal) / seconds,
      load: await loadAverage(),
    };
  }
}

async function groupCpu(groups: Record<string, number[]>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, pids] of Object.entries(groups)) {
    let total = 0;
    for (const pid of pids) total += await cpuSeconds(pid).catch(() => 0);
    out[name] = total;
  }
  return out;
}
