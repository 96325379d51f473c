/**
 * `openchat join --json` as a real child process: lines go in on its standard input, events come
 * out as JSON lines, and tests wait for the ones they expect.
 *
 * @module
 */

import type { ClientEvent } from "../../client/events.ts";
import { spawnOpenchat } from "./cli.ts";

/** How long `next` waits by default. */
export const EVENT_WAIT_MS = 10_000;

type Waiter = { match: (event: ClientEvent) => boolean; resolve: (event: ClientEvent) => void };

/** A running `openchat join --json`. */
export class JoinProcess {
  readonly events: ClientEvent[] = [];
  readonly #pending: ClientEvent[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #waiters: Waiter[] = [];
  #stderr = "";
  readonly done: Promise<Deno.CommandStatus>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#stdin = child.stdin.getWriter();
    const reading = Promise.all([this.#readEvents(), this.#readStderr()]);
    this.done = reading.then(() => child.status);
  }

  /** Starts `openchat join ADDRESS --identity FILE --json` with its own trust store directory. */
  static start(
    address: string,
    identityFile: string,
    configDir: string,
    extraArgs: string[] = [],
  ): JoinProcess {
    const child = spawnOpenchat(
      [
        "join",
        address,
        "--identity",
        identityFile,
        "--json",
        "--config-dir",
        configDir,
        ...extraArgs,
      ],
      { stdin: "piped" },
    );
    return new JoinProcess(child);
  }

  /**
   * Starts `openchat join --json` with exactly `args` after `join` (for a bare join that uses
   * what `openchat enroll` remembered: `["--config-dir", dir]`).
   */
  static startWith(args: string[]): JoinProcess {
    return new JoinProcess(spawnOpenchat(["join", "--json", ...args], { stdin: "piped" }));
  }

  /** What the process printed on standard error. */
  get stderr(): string {
    return this.#stderr;
  }

  async #readEvents(): Promise<void> {
    let buffer = "";
    for await (const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      const lines = buffer.split("\n");
      buffer = lines.pop()!;
      for (const line of lines) {
        if (!line.trim()) continue;
        const event = JSON.parse(line) as ClientEvent;
        this.events.push(event);
        const waiter = this.#waiters.find((w) => w.match(event));
        if (waiter) {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          waiter.resolve(event);
        } else {
          this.#pending.push(event);
        }
      }
    }
  }

  async #readStderr(): Promise<void> {
    for await (const chunk of this.#child.stderr.pipeThrough(new TextDecoderStream())) {
      this.#stderr += chunk;
    }
  }

  /** Types a line. */
  async type(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(line + "\n"));
  }

  /** The first event not yet taken that matches, waiting up to `timeoutMs`. */
  next<T extends ClientEvent["type"]>(
    type: T,
    where: (event: Extract<ClientEvent, { type: T }>) => boolean = () => true,
    timeoutMs = EVENT_WAIT_MS,
  ): Promise<Extract<ClientEvent, { type: T }>> {
    const match = (event: ClientEvent) =>
      event.type === type && where(event as Extract<ClientEvent, { type: T }>);
    const index = this.#pending.findIndex(match);
    if (index >= 0) {
      return Promise.resolve(
        this.#pending.splice(index, 1)[0] as Extract<ClientEvent, { type: T }>,
      );
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(
          new Error(
            `No ${type} event within ${timeoutMs} ms. Events: ${
              JSON.stringify(this.events).slice(-1500)
            }\nstderr: ${this.#stderr.slice(-500)}`,
          ),
        );
      }, timeoutMs);
      const waiter: Waiter = {
        match,
        resolve: (event) => {
          clearTimeout(timer);
          resolve(event as Extract<ClientEvent, { type: T }>);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /**
   * The first event at position `index` of `events` or later that matches, taken or not,
   * waiting up to `timeoutMs`: for "what happened after this step" (`next` may hand out an
   * older match that nobody took).
   */
  async since<T extends ClientEvent["type"]>(
    index: number,
    type: T,
    where: (event: Extract<ClientEvent, { type: T }>) => boolean = () => true,
    timeoutMs = EVENT_WAIT_MS,
  ): Promise<Extract<ClientEvent, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(index).find((event) =>
        event.type === type && where(event as Extract<ClientEvent, { type: T }>)
      );
      if (found) return found as Extract<ClientEvent, { type: T }>;
      if (Date.now() > deadline) {
        throw new Error(
          `No ${type} event after #${index} within ${timeoutMs} ms. Events: ${
            JSON.stringify(this.events.slice(index)).slice(-1500)
          }\nstderr: ${this.#stderr.slice(-500)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Waits until the latest `members` event of `room` lists exactly `members` (an older event
   * with the same list does not count: membership is about now).
   */
  async members(room: string, members: string[], timeoutMs = EVENT_WAIT_MS) {
    const wanted = [...members].sort().join(",");
    const latest = () =>
      this.events.findLast((e): e is Extract<ClientEvent, { type: "members" }> =>
        e.type === "members" && e.room === room
      );
    const deadline = Date.now() + timeoutMs;
    while (latest()?.members.join(",") !== wanted) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `${room} never had exactly ${wanted}; last: ${latest()?.members}; stderr ${
            this.#stderr.slice(-300)
          }`,
        );
      }
      await this.next("members", (e) => e.room === room, left).catch(() => {});
    }
    return latest()!;
  }

  /** Types a message and waits until the server acknowledged it; returns its id. */
  async say(text: string): Promise<string> {
    await this.type(text);
    const queued = await this.next("queued", (e) => e.text === text);
    await this.next("delivered", (e) => e.id === queued.id);
    return queued.id;
  }

  /** Ends standard input (the client delivers what is queued and quits). */
  async close(): Promise<Deno.CommandStatus> {
    try {
      await this.#stdin.close();
    } catch {
      // already closed
    }
    return await this.exited(20_000);
  }

  /** The exit status, waiting at most `timeoutMs` for the process to end by itself. */
  exited(timeoutMs = EVENT_WAIT_MS): Promise<Deno.CommandStatus> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      this.done,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`still running after ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** Kills the process. */
  async kill(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await this.done.catch(() => {});
  }
}
