/**
 * A group of load generator processes acting as one: sessions split evenly among them,
 * commands sent to all at once, replies gathered.
 *
 * @module
 */

import { BenchChild, type Reply } from "./child.ts";
import { currentPlacement, v8Flags } from "./placement.ts";
import type { RunningServer } from "./servers.ts";

/** Load generators for one server. */
export class LoadGroup {
  readonly #children: BenchChild[];

  private constructor(children: BenchChild[], private readonly firstProcId: number) {
    this.#children = children;
  }

  /**
   * Starts `count` load generator processes, numbered from `firstProcId` (numbers mark whose
   * payloads are whose, so two groups on one server need different ranges).
   */
  static start(count: number, firstProcId = 1): LoadGroup {
    return new LoadGroup(
      Array.from(
        { length: count },
        (_, i) =>
          BenchChild.start(
            `load generator ${firstProcId + i}`,
            "procs/loadgen.ts",
            [],
            v8Flags("BENCH_LOADGEN_V8"),
            currentPlacement()?.load,
          ),
      ),
      firstProcId,
    );
  }

  get size(): number {
    return this.#children.length;
  }

  /**
   * Gives these processes priority over the other load generators on their CPU (`renice -10`),
   * so that a process that only times deliveries is scheduled as soon as one arrives instead of
   * waiting behind a busy load generator's time slice. Resolves false when it may not (not root).
   */
  async prioritise(): Promise<boolean> {
    let ok = true;
    for (const pid of this.pids) {
      try {
        const out = await new Deno.Command("renice", {
          args: ["-n", "-10", "-p", String(pid)],
          stdout: "null",
          stderr: "null",
        }).output();
        ok &&= out.success;
      } catch {
        ok = false;
      }
    }
    return ok;
  }

  /** The process ids, for CPU accounting. */
  get pids(): number[] {
    return this.#children.map((child) => child.pid);
  }

  /**
   * Opens sessions `from`..`to` on `server`, split evenly across the processes.
   *
   * @returns the replies, with the start of the earliest and end of the latest (epoch ms).
   */
  async setup(
    server: RunningServer,
    usersFile: string,
    from: number,
    to: number,
    options: { room?: string; roomSize?: number; concurrency?: number } = {},
  ): Promise<{ replies: Reply[]; seconds: number }> {
    const count = to - from;
    const replies = await Promise.all(this.#children.map((child, i) => {
      const a = from + Math.floor((i * count) / this.#children.length);
      const b = from + Math.floor(((i + 1) * count) / this.#children.length);
      return child.call({
        cmd: "setup",
        // The clients of both bare relays speak the same bare framing.
        kind: server.kind === "bare_deno" ? "bare" : server.kind,
        port: server.port,
        usersFile,
        procId: this.firstProcId + i,
        from: a,
        to: b,
        ...options,
      }, 300_000);
    }));
    const start = Math.min(...replies.map((r) => r.startedAt as number));
    const end = Math.max(...replies.map((r) => r.endedAt as number));
    return { replies, seconds: (end - start) / 1000 };
  }

  /** Sends `command` to every process at once and returns every reply. */
  all(command: Record<string, unknown>, timeoutMs = 300_000): Promise<Reply[]> {
    return Promise.all(this.#children.map((child) => child.call(command, timeoutMs)));
  }

  /** Sends each process its own command (by index). */
  each(command: (index: number) => Record<string, unknown>, timeoutMs = 300_000): Promise<Reply[]> {
    return Promise.all(this.#children.map((child, i) => child.call(command(i), timeoutMs)));
  }

  /** Stops every process. */
  async stop(): Promise<void> {
    await Promise.all(this.#children.map((child) => child.stop()));
  }
}
