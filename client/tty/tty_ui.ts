/**
 * The terminal chat screen: raw-mode input through a line editor, events printed above the input
 * line, a prompt with the room's lock state. Every line goes through the same command registry
 * as the pipe interface, so `/msg` means the same in both. The terminal is always given back as
 * it was found: cooked mode, cursor shown, bracketed paste off, even after Ctrl-C, a signal or
 * an error.
 *
 * Files: `keys.ts` (bytes to key events), `line_editor.ts` (the input line), `completion.ts`
 * (what Tab offers), `prompt.ts` (lock state), `event_lines.ts` (events as coloured lines),
 * `screen.ts` (drawing), `style.ts` (colour and `NO_COLOR`), `width.ts` (terminal columns).
 *
 * @module
 */

import type { ChatClient } from "../chat_client.ts";
import { type CommandContext, commands } from "../commands/mod.ts";
import type { ClientEvent } from "../events.ts";
import { runPipe } from "../pipe_ui.ts";
import { completeWord } from "./completion.ts";
import { type PendingMessage, renderEvent, wantsBell } from "./event_lines.ts";
import { type Key, KeyParser } from "./keys.ts";
import { type Completer, handleKey, LineEditor } from "./line_editor.ts";
import { buildPrompt, type PromptSnapshot } from "./prompt.ts";
import { Screen, type TerminalOutput } from "./screen.ts";
import { colourWanted, createStyle } from "./style.ts";

/** Input history entries kept. */
export const HISTORY_SIZE = 500;
/** How long a lone ESC waits for the rest of an escape sequence before it counts as Escape. */
export const ESCAPE_TIMEOUT_MS = 40;
/** Exit code when the user insists on quitting before queued messages were confirmed. */
export const EXIT_INTERRUPTED = 130;

/** Shown once at the start: the keys that matter and what the prompt's symbols mean. */
export const HEADER =
  "-- /help lists commands; Tab completes; Up/Down recall; Ctrl-D or /quit leaves\n" +
  "-- prompt: 🔒 keys verified, ⚠ a key changed (/whois), … not ready, ↑N sending";

const ENABLE_PASTE = "\x1b[?2004h";
const DISABLE_PASTE = "\x1b[?2004l";
const SHOW_CURSOR = "\x1b[?25h";
const QUIT_SIGNALS: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];

const encoder = new TextEncoder();

/** Standard output as a terminal; a failed write (the terminal went away) is remembered. */
function stdoutTerminal(onBroken: () => void): TerminalOutput {
  let broken = false;
  return {
    write(text) {
      if (broken) return;
      const bytes = encoder.encode(text);
      try {
        let offset = 0;
        while (offset < bytes.length) offset += Deno.stdout.writeSync(bytes.subarray(offset));
      } catch {
        broken = true;
        onBroken();
      }
    },
    columns() {
      try {
        return Deno.consoleSize().columns || 80;
      } catch {
        return 80;
      }
    },
  };
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Runs the chat screen until the client stops; returns its exit code. */
export async function runTerminal(client: ChatClient, options: { room: string }): Promise<number> {
  // A terminal that cannot move the cursor gets the line interface instead.
  if (readEnv("TERM") === "dumb") return await runPipe(client, { json: false, room: options.room });
  return await new ChatScreen(client, options.room).run();
}

/** One run of the chat screen. */
class ChatScreen {
  readonly #client: ChatClient;
  readonly #style = createStyle(colourWanted(readEnv));
  readonly #editor = new LineEditor({ historySize: HISTORY_SIZE });
  readonly #parser = new KeyParser();
  readonly #pending = new Map<string, PendingMessage>();
  readonly #output: TerminalOutput;
  readonly #screen: Screen;
  readonly #context: CommandContext;
  readonly #completer: Completer;
  readonly #cleanups: (() => void)[] = [];
  #room: string | undefined;
  #closed = false;
  #quitting = false;
  #restored = false;
  #commandsDone: Promise<void> = Promise.resolve();
  #escapeTimer: ReturnType<typeof setTimeout> | undefined;
  #forceQuit!: () => void;
  readonly #forced = new Promise<number>((resolve) => {
    this.#forceQuit = () => resolve(EXIT_INTERRUPTED);
  });

  constructor(client: ChatClient, room: string) {
    this.#client = client;
    this.#room = room;
    this.#output = stdoutTerminal(() => this.#quit());
    this.#screen = new Screen(this.#output);
    this.#context = {
      client,
      currentRoom: () => this.#room,
      setCurrentRoom: (next) => {
        this.#room = next;
        this.#refresh();
      },
      notice: (message) => this.#show({ type: "notice", message }),
      quit: () => this.#quit(),
    };
    this.#completer = (request) =>
      completeWord(request, {
        commands: (prefix) => commands.complete(prefix),
        users: () => client.knownUsers(),
        rooms: () => client.rooms,
      });
  }

  async run(): Promise<number> {
    const restore = () => this.#restore();
    globalThis.addEventListener("unload", restore);
    try {
      Deno.stdin.setRaw(true);
      this.#cleanups.push(() => Deno.stdin.setRaw(false));
      this.#screen.render();
      this.#listenForSignals();
      this.#cleanups.push(this.#client.on((event) => this.#onEvent(event)));
      this.#write(ENABLE_PASTE);
      this.#print(this.#style.dim(HEADER));
      this.#refresh();
      void this.#readInput();
      return await Promise.race([this.#client.finished, this.#forced]);
    } finally {
      this.#restore();
      globalThis.removeEventListener("unload", restore);
    }
  }

  // ---- input -----------------------------------------------------------------------------

  async #readInput(): Promise<void> {
    const buffer = new Uint8Array(4096);
    try {
      while (!this.#restored) {
        const count = await Deno.stdin.read(buffer);
        if (count === null) {
          // The terminal is gone: deliver what is queued and stop.
          this.#quit();
          return;
        }
        clearTimeout(this.#escapeTimer);
        for (const key of this.#parser.feed(buffer.subarray(0, count))) this.#onKey(key);
        if (this.#parser.pending) {
          this.#escapeTimer = setTimeout(() => {
            for (const key of this.#parser.flush()) this.#onKey(key);
          }, ESCAPE_TIMEOUT_MS);
        }
      }
    } catch (error) {
      if (this.#restored) return;
      this.#show({ type: "error", code: "input", message: `Cannot read the terminal: ${error}` });
      this.#quit();
    }
  }

  #onKey(key: Key): void {
    if (this.#restored) return;
    const result = handleKey(this.#editor, key, this.#completer);
    switch (result.type) {
      case "edit":
        if (result.changed) this.#drawInput();
        return;
      case "redraw":
        this.#screen.clear();
        return;
      case "quit":
        this.#context.quit();
        return;
      case "submit":
        this.#drawInput();
        this.#submit(result.line);
        return;
    }
  }

  #submit(line: string): void {
    // A pasted block often ends with a line break nobody meant to send.
    const text = line.replace(/[\r\n]+$/, "");
    if (text.trim() === "") return;
    this.#commandsDone = this.#commandsDone.then(async () => {
      try {
        await commands.execute(this.#context, text);
      } catch (error) {
        this.#show({ type: "error", code: "command", message: (error as Error).message });
      }
      this.#refresh();
    });
  }

  /**
   * Quits: the first time, after delivering what is queued (the client waits a few seconds for
   * confirmations); the second time, at once.
   */
  #quit(): void {
    if (this.#closed) return;
    if (this.#quitting) {
      const lost = this.#pending.size;
      if (lost > 0) {
        this.#print(this.#style.error(
          `!! quitting now: ${lost} message${lost === 1 ? "" : "s"} not confirmed as delivered`,
        ));
      }
      this.#forceQuit();
      return;
    }
    this.#quitting = true;
    if (this.#pending.size > 0) {
      this.#show({
        type: "notice",
        message: `Delivering ${this.#pending.size} queued message${
          this.#pending.size === 1 ? "" : "s"
        } before quitting (Ctrl-C again to quit now)`,
      });
    }
    void this.#client.quit();
  }

  #listenForSignals(): void {
    const quit = () => this.#quit();
    for (const signal of QUIT_SIGNALS) {
      try {
        Deno.addSignalListener(signal, quit);
        this.#cleanups.push(() => Deno.removeSignalListener(signal, quit));
      } catch {
        // Not every platform has every signal.
      }
    }
    const resize = () => this.#drawInput();
    try {
      Deno.addSignalListener("SIGWINCH", resize);
      this.#cleanups.push(() => Deno.removeSignalListener("SIGWINCH", resize));
    } catch {
      // No SIGWINCH (Windows): the width is read again on every redraw anyway.
    }
  }

  // ---- output ----------------------------------------------------------------------------

  #onEvent(event: ClientEvent): void {
    try {
      if (event.type === "queued") {
        this.#pending.set(event.id, {
          ...(event.room !== undefined ? { room: event.room } : {}),
          ...(event.to !== undefined ? { to: event.to } : {}),
          text: event.text,
          ...(event.action ? { action: true as const } : {}),
        });
      }
      this.#show(event);
      if (event.type === "delivered" || event.type === "undelivered") {
        this.#pending.delete(event.id);
      }
      if (event.type === "status" && event.state === "closed") this.#closed = true;
      if (wantsBell(event, this.#client.user)) this.#screen.bell();
      if (this.#room !== undefined && !this.#client.rooms.includes(this.#room)) {
        this.#room = this.#client.rooms[0];
      }
      this.#refresh();
    } catch (error) {
      this.#print(this.#style.error(`!! cannot show an event: ${(error as Error).message}`));
    }
  }

  #show(event: ClientEvent): void {
    const text = renderEvent(event, {
      style: this.#style,
      me: this.#client.user,
      pending: this.#pending,
    });
    if (text !== undefined) this.#print(text);
  }

  #print(text: string): void {
    if (this.#restored) return;
    this.#screen.print(text);
  }

  /** Recomputes the prompt (room, lock state, messages on their way) and redraws the input. */
  #refresh(): void {
    this.#screen.setPrompt(buildPrompt(this.#snapshot(), this.#style));
    this.#drawInput();
  }

  #drawInput(): void {
    if (this.#restored) return;
    this.#screen.setInput(this.#editor.text, this.#editor.cursor);
    this.#screen.render();
  }

  #snapshot(): PromptSnapshot {
    const room = this.#room;
    const state = room === undefined ? undefined : this.#client.roomState(room);
    return {
      room,
      connected: !this.#closed && this.#client.sessionId !== undefined,
      ready: state?.ready ?? false,
      members: state
        ? state.members.map((member) => ({
          user: member.user,
          status: member.verified === null ? "failed" : "ready",
          verified: member.verified,
        }))
        : [],
      sending: this.#pending.size,
    };
  }

  #write(text: string): void {
    if (!this.#restored) this.#output.write(text);
  }

  /** Gives the terminal back: input left visible if any, bracketed paste off, cursor on, cooked. */
  #restore(): void {
    if (this.#restored) return;
    clearTimeout(this.#escapeTimer);
    const keep = this.#editor.text !== "";
    try {
      this.#screen.setInput(this.#editor.text, this.#editor.text.length);
      if (keep) this.#screen.render();
      this.#write(`${keep ? "\r\n" : "\r\x1b[2K"}${DISABLE_PASTE}${SHOW_CURSOR}`);
    } catch {
      // The terminal may be gone; still undo the rest.
    }
    this.#restored = true;
    for (const cleanup of this.#cleanups.splice(0).reverse()) {
      try {
        cleanup();
      } catch {
        // Best effort: one failed cleanup must not keep the others from running.
      }
    }
  }
}
