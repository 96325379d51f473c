/**
 * `openchat serve` as a real child process: started on a free port of 127.0.0.1, with its
 * output collected, and stopped with a signal.
 *
 * @module
 */

import { spawnOpenchat } from "./cli.ts";

/** A running `openchat serve` child. */
export interface ServeProcess {
  readonly child: Deno.ChildProcess;
  readonly port: number;
  readonly dataDir: string;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** Sends `signal` and waits for the exit status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** The last line of `openchat serve`'s start-up banner. */
const BANNER_END = /they run: .*\n/;

/**
 * Starts `openchat serve` on `dataDir` and waits until it is listening and has printed its whole
 * banner (the lines after "listening on" can arrive in a later read).
 */
export async function startServeProcess(
  dataDir: string,
  extraArgs: string[] = [],
  port = 0,
): Promise<ServeProcess> {
  const child = spawnOpenchat([
    "serve",
    "--port",
    String(port),
    "--data-dir",
    dataDir,
    ...extraArgs,
  ]);
  let out = "";
  let err = "";
  const decoder = () => new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>, append: (text: string) => void) => {
    const d = decoder();
    for await (const chunk of stream) append(d.decode(chunk, { stream: true }));
  };
  const pumps = Promise.all([
    pump(child.stdout, (t) => out += t),
    pump(child.stderr, (t) => err += t),
  ]);
  const deadline = Date.now() + 20_000;
  let match: RegExpMatchArray | null = null;
  while (!(match = out.match(/listening on \S+:(\d+)/)) || !BANNER_END.test(out)) {
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`openchat serve did not start:\n${out}\n${err}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  let status: Promise<Deno.CommandStatus> | undefined;
  return {
    child,
    port: Number(match[1]),
    dataDir,
    stdout: () => out,
    stderr: () => err,
    async stop(signal: Deno.Signal = "SIGTERM") {
      if (!status) {
        try {
          child.kill(signal);
        } catch {
          // already exited
        }
        status = child.status;
      }
      const result = await status;
      await pumps;
      return result;
    },
  };
}
