/**
 * Benchmark child processes that speak JSON lines: the parent writes one command object per
 * line on the child's standard input, and the child answers with one object per line on its
 * standard output. Standard error is kept for the failure message.
 *
 * @module
 */

import { childCommand } from "./placement.ts";

const encoder = new TextEncoder();

/** A message from a child: `ok` false carries an `error`. */
export type Reply = Record<string, unknown> & { ok?: boolean; error?: string };

/** A running benchmark child. */
export class BenchChild {
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #replies: Reply[] = [];
  #waiter: ((reply: Reply | undefined) => void) | undefined;
  #stderr = "";
  #closed = false;
  readonly name: string;
  readonly status: Promise<Deno.CommandStatus>;

  private constructor(name: string, child: Deno.ChildProcess) {
    this.name = name;
    this.#child = child;
    this.#stdin = child.stdin.getWriter();
    const reading = Promise.all([this.#readReplies(), this.#readStderr()]);
    this.status = reading.then(() => child.status);
  }

  /**
   * Starts `deno run --allow-all DENO_ARGS SCRIPT ARGS` (the script relative to bench/, or an
   * absolute path), on the
   * CPUs `cpus` (a `taskset -c` list) when given, with as many open files as the system allows
   * (see `placement.ts`; the pid is Deno's).
   */
  static start(
    name: string,
    script: string,
    args: string[] = [],
    denoArgs: string[] = [],
    cpus?: string,
  ): BenchChild {
    const { command, args: argv } = childCommand(cpus, Deno.execPath(), [
      "run",
      "--allow-all",
      "--quiet",
      ...denoArgs,
      script.startsWith("/") ? script : new URL(`../${script}`, import.meta.url).pathname,
      ...args,
    ]);
    const child = new Deno.Command(command, {
      args: argv,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    return new BenchChild(name, child);
  }

  /** The child's process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** What the child printed on standard error. */
  get stderr(): string {
    return this.#stderr;
  }

  async #readReplies(): Promise<void> {
    let buffer = "";
    try {
      for await (const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        const lines = buffer.split("\n");
        buffer = lines.pop()!;
        for (const line of lines) {
          if (!line.trim()) continue;
          let reply: Reply;
          try {
            reply = JSON.parse(line);
          } catch {
            this.#stderr += `(stdout) ${line}\n`;
            continue;
          }
          if (this.#waiter) {
            const waiter = this.#waiter;
            this.#waiter = undefined;
            waiter(reply);
          } else this.#replies.push(reply);
        }
      }
    } finally {
      this.#closed = true;
      this.#waiter?.(undefined);
    }
  }

  async #readStderr(): Promise<void> {
    for await (const chunk of this.#child.stderr.pipeThrough(new TextDecoderStream())) {
      this.#stderr = (this.#stderr + chunk).slice(-20_000);
    }
  }

  /** Writes one command. */
  async send(command: Record<string, unknown>): Promise<void> {
    await this.#stdin.write(encoder.encode(JSON.stringify(command) + "\n"));
  }

  /** The next reply, within `timeoutMs`; a reply with `ok: false` or a dead child throws. */
  next(timeoutMs = 120_000): Promise<Reply> {
    const queued = this.#replies.shift();
    if (queued) return Promise.resolve(check(this, queued));
    if (this.#closed) return Promise.reject(this.#died());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(
          new Error(`${this.name}: no reply within ${timeoutMs} ms\n${this.#stderr.slice(-2000)}`),
        );
      }, timeoutMs);
      this.#waiter = (reply) => {
        clearTimeout(timer);
        if (!reply) reject(this.#died());
        else {
          try {
            resolve(check(this, reply));
          } catch (error) {
            reject(error);
          }
        }
      };
    });
  }

  /** Sends a command and waits for its reply. */
  async call(command: Record<string, unknown>, timeoutMs?: number): Promise<Reply> {
    await this.send(command);
    return await this.next(timeoutMs);
  }

  #died(): Error {
    return new Error(`${this.name} exited early:\n${this.#stderr.slice(-3000)}`);
  }

  /** Closes standard input, waits up to `graceMs` for an exit, then kills. */
  async stop(graceMs = 5_000): Promise<void> {
    try {
      await this.#stdin.close();
    } catch {
      // already closed
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      this.status.then(() => true),
      new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), graceMs)),
    ]);
    clearTimeout(timer);
    if (!exited) {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await this.status.catch(() => {});
    }
  }
}

function check(child: BenchChild, reply: Reply): Reply {
  if (reply.ok === false) {
    throw new Error(`${child.name}: ${reply.error}\n${child.stderr.slice(-2000)}`);
  }
  return reply;
}

/**
 * The child side: reads command lines from standard input and answers each with what
 * `handle` returns (or `{ok: false, error}`), in order. Returns when standard input closes.
 */
export async function serveCommands(
  handle: (command: Record<string, unknown>) => Promise<Record<string, unknown>>,
): Promise<void> {
  let buffer = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    const lines = buffer.split("\n");
    buffer = lines.pop()!;
    for (const line of lines) {
      if (!line.trim()) continue;
      let reply: Record<string, unknown>;
      try {
        reply = { ok: true, ...await handle(JSON.parse(line)) };
      } catch (error) {
        reply = { ok: false, error: String((error as Error)?.stack ?? error) };
      }
      reply_(reply);
    }
  }
}

/** Writes one reply line on standard output. */
export function reply_(reply: Record<string, unknown>): void {
  const bytes = encoder.encode(JSON.stringify(reply) + "\n");
  let offset = 0;
  while (offset < bytes.length) offset += Deno.stdout.writeSync(bytes.subarray(offset));
}

/** Resident set size of a process, in KiB, from /proc/PID/status (VmRSS). */
export async function rssKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const match = status.match(/^VmRSS:\s+(\d+)\s+kB$/m);
  if (!match) throw new Error(`No VmRSS for process ${pid}`);
  return Number(match[1]);
}

/** Waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
