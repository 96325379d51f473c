/**
 * Runs the real `openchat` CLI as a child process, the way a user does, in a directory of the
 * test's choosing.
 *
 * @module
 */

import { run, type RunResult } from "./tools.ts";

/** Absolute path of the entry point. */
export const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** The command line that runs `openchat ...args` from this checkout: the program, then its args. */
export function openchatCommand(args: string[]): [string, ...string[]] {
  return [Deno.execPath(), "run", "--allow-all", "--quiet", MAIN, ...args];
}

/**
 * Starts `openchat ...args` as a long-running child with piped output (and input, if `stdin` is
 * "piped"), colour off.
 */
export function spawnOpenchat(
  args: string[],
  options: { stdin?: "piped" | "null" } = {},
): Deno.ChildProcess {
  const [program, ...argv] = openchatCommand(args);
  return new Deno.Command(program, {
    args: argv,
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

/** Runs `openchat ...args` in `cwd` and waits for it to exit. */
export function openchat(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; stdin?: string } = {},
): Promise<RunResult> {
  const [program, ...argv] = openchatCommand(args);
  return run(program, argv, {
    ...options,
    env: { NO_COLOR: "1", ...options.env },
  });
}

/** A map of every file below `dir` to its contents, for checking that nothing was written. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  async function walk(path: string, prefix: string) {
    for await (const entry of Deno.readDir(path)) {
      const full = `${path}/${entry.name}`;
      if (entry.isDirectory) await walk(full, `${prefix}${entry.name}/`);
      else {
        const bytes = await Deno.readFile(full);
        const info = await Deno.stat(full);
        files[`${prefix}${entry.name}`] = `${(info.mode ?? 0) & 0o777}:${bytes.toBase64()}`;
      }
    }
  }
  try {
    await walk(dir, "");
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return files;
}

/** Makes a temporary directory, runs `fn` in it, and removes it. */
export async function inTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "openchat-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
