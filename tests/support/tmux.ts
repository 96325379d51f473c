/**
 * A real terminal for tests: a detached tmux session on a private tmux server (its own `-L`
 * socket and no configuration file), so a test can type, paste and read the screen back without
 * touching anyone's tmux sessions. Waiting is by polling with a deadline, never fixed sleeps.
 *
 * @module
 */

import { run } from "./tools.ts";

/** Longest wait of {@linkcode TmuxSession.waitFor} by default. */
export const SCREEN_WAIT_MS = 10_000;
/** Pause between two looks at the screen. */
export const POLL_MS = 50;

/** Quotes `word` for `sh`. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'"'"'`)}'`;
}

/** What to start in the terminal. */
export interface TmuxOptions {
  /** The program and its arguments. */
  command: string[];
  /** Shell commands run after the program exits, e.g. to report its exit code (default: none). */
  after?: string;
  columns?: number;
  rows?: number;
  cwd?: string;
  /** Environment variables set for the program (on top of the test's own environment). */
  env?: Record<string, string>;
}

/** A detached tmux session running one program. */
export class TmuxSession {
  readonly socket: string;
  readonly target = "test";
  #killed = false;
  #socketPath: string | undefined;

  private constructor(socket: string) {
    this.socket = socket;
  }

  /** Starts the tmux server and the session; call {@linkcode TmuxSession.kill} in `finally`. */
  static async start(options: TmuxOptions): Promise<TmuxSession> {
    const socket = `openchat-test-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    const session = new TmuxSession(socket);
    const env = Object.entries(options.env ?? {}).flatMap(([name, value]) => [
      "-e",
      `${name}=${value}`,
    ]);
    // The shell keeps the pane open after the program exits, so its last words can be read.
    const program = options.command.map(shellQuote).join(" ");
    const script = `${program}; ${options.after ?? ""} exec sleep 300`;
    try {
      await session.tmux(
        "new-session",
        "-d",
        "-s",
        session.target,
        "-x",
        String(options.columns ?? 120),
        "-y",
        String(options.rows ?? 30),
        ...(options.cwd ? ["-c", options.cwd] : []),
        ...env,
        script,
      );
      session.#socketPath = (await session.tmux("display-message", "-p", "#{socket_path}")).trim();
    } catch (error) {
      await session.kill();
      throw error;
    }
    return session;
  }

  /** Runs a tmux command against this server; throws with its output if it fails. */
  async tmux(...args: string[]): Promise<string> {
    const result = await run("tmux", ["-L", this.socket, "-f", "/dev/null", ...args], {
      env: { LANG: "C.UTF-8", LC_ALL: "C.UTF-8" },
    });
    if (result.code !== 0) {
      throw new Error(`tmux ${args.join(" ")} failed (${result.code}): ${result.stderr}`);
    }
    return result.stdout;
  }

  /** Types `text` literally (no key names, no Enter). */
  async type(text: string): Promise<void> {
    await this.tmux("send-keys", "-t", this.target, "-l", text);
  }

  /** Presses keys by tmux name: `Enter`, `Tab`, `C-u`, `Left`... */
  async press(...keys: string[]): Promise<void> {
    await this.tmux("send-keys", "-t", this.target, ...keys);
  }

  /** Pastes `text` as a terminal does, bracketed if the program asked for bracketed paste. */
  async paste(text: string): Promise<void> {
    await this.tmux("set-buffer", "-b", "test-paste", "--", text);
    await this.tmux("paste-buffer", "-p", "-d", "-b", "test-paste", "-t", this.target);
  }

  /** The screen's lines, as tmux shows them (trailing spaces removed). */
  async screen(): Promise<string[]> {
    const text = await this.tmux("capture-pane", "-p", "-t", this.target);
    return text.replace(/\n$/, "").split("\n").map((line) => line.trimEnd());
  }

  /** The cursor position (0-based) and whether the cursor is shown. */
  async cursor(): Promise<{ x: number; y: number; visible: boolean }> {
    const [x, y, flag] = (await this.tmux(
      "display-message",
      "-p",
      "-t",
      this.target,
      "#{cursor_x} #{cursor_y} #{cursor_flag}",
    )).trim().split(" ").map(Number);
    return { x: x!, y: y!, visible: flag === 1 };
  }

  /**
   * Polls the screen until `check` returns a value other than undefined or false, and returns it;
   * throws with the last screen after `timeoutMs`.
   */
  async waitFor<T>(
    what: string,
    check: (lines: string[]) => T | undefined | false | Promise<T | undefined | false>,
    timeoutMs = SCREEN_WAIT_MS,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    const maxPolls = Math.ceil(timeoutMs / POLL_MS) + 1;
    let lines: string[] = [];
    for (let poll = 0; poll < maxPolls; poll++) {
      lines = await this.screen();
      const result = await check(lines);
      if (result !== undefined && result !== false) return result;
      if (Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    throw new Error(`Timed out waiting for ${what}; the screen was:\n${lines.join("\n")}`);
  }

  /** Kills the tmux server, and with it the session and its program. */
  async kill(): Promise<void> {
    if (this.#killed) return;
    this.#killed = true;
    try {
      await run("tmux", ["-L", this.socket, "kill-server"]);
    } catch {
      // Already gone.
    }
    // tmux leaves its socket file behind; it is ours alone, so remove it.
    if (this.#socketPath) await Deno.remove(this.#socketPath).catch(() => {});
  }
}

/** The last non-empty line of a screen (where the chat screen keeps its input line). */
export function lastLine(lines: string[]): string {
  for (let i = lines.length - 1; i >= 0; i--) if (lines[i] !== "") return lines[i]!;
  return "";
}
