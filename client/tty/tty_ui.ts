/**
 * The terminal chat screen: raw-mode input through a line editor, events printed above the input
 * line, a prompt with the room's lock state. Every line goes through the same command registry
 * as the pipe interface, so `/msg` means the same in both. The terminal is always given back as
 * it was found: cooked mode, cursor shown, bracketed paste off, even after Ctrl-C, a signal or
 * an error.
 *
 * With a local history (`../local_store.ts`): PgUp/PgDn scroll back through the current room's
 * stored messages (End or Esc returns to live), Ctrl-R searches them as you type, the prompt
 * counts unread messages in the other conversations, and switching to a room shows what came
 * since you were last there.
 *
 * Files: `keys.ts` (bytes to key events), `line_editor.ts` (the input line), `completion.ts`
 * (what Tab offers), `prompt.ts` (lock state, unread counts), `event_lines.ts` (events as
 * coloured lines), `screen.ts` (drawing), `scrollback.ts` (the scrolled-back view),
 * `reverse_search.ts` (Ctrl-R), `style.ts` (colour and `NO_COLOR`), `width.ts` (terminal
 * columns).
 *
 * @module
 */

import type { ChatClient } from "../chat_client.ts";
import { type CommandContext, commandErrorCode, commands } from "../commands/mod.ts";
import type { ClientEvent } from "../events.ts";
import { messageClock } from "../format.ts";
import {
  type Conversation,
  type LocalStore,
  roomConversation,
  type StoredMessage,
} from "../local_store.ts";
import { runPipe } from "../pipe_ui.ts";
import { completeWord } from "./completion.ts";
import { type LineContext, type PendingMessage, renderEvent, wantsBell } from "./event_lines.ts";
import { type Key, KeyParser } from "./keys.ts";
import { type Completer, handleKey, LineEditor } from "./line_editor.ts";
import { buildPrompt, type PromptSnapshot } from "./prompt.ts";
import { REVERSE_SEARCH_LIMIT, ReverseSearch } from "./reverse_search.ts";
import { Screen, type TerminalOutput } from "./screen.ts";
import { ScrollbackView } from "./scrollback.ts";
import { colourWanted, createStyle } from "./style.ts";
import { displayWidth, graphemes } from "./width.ts";

/** Input history entries kept. */
export const HISTORY_SIZE = 500;
/** How long a lone ESC waits for the rest of an escape sequence before it counts as Escape. */
export const ESCAPE_TIMEOUT_MS = 40;
/** Exit code when the user insists on quitting before queued messages were confirmed. */
export const EXIT_INTERRUPTED = 130;
/** Most unread messages shown again when switching to a room (the rest: PgUp). */
export const MAX_UNREAD_REPLAY = 20;
/** Most lines held back while scrolled back; older ones are dropped (the store has them). */
export const MAX_HELD_LINES = 1_000;

/** Shown once at the start: the keys that matter and what the prompt's symbols mean. */
export const HEADER =
  "-- /help lists commands; Tab completes; Up/Down recall; Ctrl-D or /quit leaves\n" +
  "-- prompt: 🔒 keys verified, ⚠ a key changed (/whois), … not ready, ↑N sending";
/** The second part of the header, when there is a local history. */
export const HISTORY_HEADER =
  "-- PgUp/PgDn scroll back, Ctrl-R or /search searches; prompt: · dev 2 = 2 unread in dev";

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
    rows() {
      try {
        return Deno.consoleSize().rows || 24;
      } catch {
        return 24;
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
  /** The local history, if the client keeps one. */
  readonly #store: LocalStore | undefined;
  /** The scrolled-back view, while scrolled back. */
  #view: ScrollbackView | undefined;
  /** Lines that arrived while scrolled back, shown on return to live. */
  readonly #held: string[] = [];
  #heldDropped = 0;
  /** Conversations whose messages arrived while scrolled back (read on return to live). */
  readonly #heldConversations = new Set<Conversation>();
  /** Ctrl-R, while searching. */
  #search: ReverseSearch | undefined;
  /** Scrollback and search steps wait for the store; they run one after another. */
  #steps: Promise<void> = Promise.resolve();
  #forceQuit!: () => void;
  readonly #forced = new Promise<number>((resolve) => {
    this.#forceQuit = () => resolve(EXIT_INTERRUPTED);
  });

  constructor(client: ChatClient, room: string) {
    this.#client = client;
    this.#room = room;
    this.#store = client.localStore;
    this.#output = stdoutTerminal(() => this.#quit());
    this.#screen = new Screen(this.#output);
    this.#context = {
      client,
      currentRoom: () => this.#room,
      setCurrentRoom: (next) => {
        const previous = this.#room;
        this.#room = next;
        this.#refresh();
        if (next !== undefined && next !== previous) {
          this.#step(() => this.#arrive([roomConversation(next)]));
        }
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
      if (this.#store) {
        this.#cleanups.push(this.#store.onAdded((message) => this.#onStored(message)));
      }
      this.#write(ENABLE_PASTE);
      this.#print(this.#style.dim(this.#store ? `${HEADER}\n${HISTORY_HEADER}` : HEADER));
      this.#refresh();
      const store = this.#store;
      if (store && this.#room !== undefined) {
        // What came since this device last showed it: the room, and direct conversations.
        const direct = [...store.unreadCounts().keys()].filter((c) => c.startsWith("@"));
        this.#step(() => this.#arrive([roomConversation(this.#room!), ...direct]));
      }
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
    if (this.#search) return this.#searchKey(key);
    if (key.kind === "key") {
      const plain = !key.ctrl && !key.alt;
      if (key.name === "page-up") return this.#step(() => this.#scrollUp());
      if (key.name === "page-down") return this.#step(() => this.#scrollDown());
      if (this.#view && (key.name === "end" || (key.name === "escape" && plain))) {
        return this.#step(() => this.#toLive());
      }
      if (key.name === "r" && key.ctrl && !key.alt) return this.#startSearch();
    }
    const result = handleKey(this.#editor, key, this.#completer);
    switch (result.type) {
      case "edit":
        if (result.changed) this.#drawInput();
        return;
      case "redraw":
        if (this.#view) this.#drawView();
        else this.#screen.clear();
        return;
      case "quit":
        this.#context.quit();
        return;
      case "submit":
        // What is sent shows on the live screen.
        if (this.#view) this.#toLive();
        this.#drawInput();
        this.#submit(result.line);
        return;
    }
  }

  // ---- scrollback, search, unread --------------------------------------------------------

  /** Runs a step that waits for the store after the ones before it; a failure is shown. */
  #step(task: () => Promise<void> | void): void {
    this.#steps = this.#steps.then(task).catch((error) => {
      this.#show({ type: "error", code: "history", message: (error as Error).message });
    });
  }

  /** Rows and columns of the scrolled-back view (the last two rows: status and input). */
  #viewSize(): { width: number; height: number } {
    return { width: this.#screen.columns(), height: this.#screen.rows() - 2 };
  }

  #renderStored = (message: StoredMessage, highlighted: boolean): string => {
    const line = renderEvent(message.event, { ...this.#lineContext(), dated: true })!;
    return highlighted ? `${this.#style.bold("»")} ${line}` : line;
  };

  async #scrollUp(): Promise<void> {
    if (this.#restored) return;
    if (this.#view) {
      await this.#view.up(this.#viewSize());
      return this.#drawView();
    }
    if (!this.#store) {
      return this.#show({
        type: "notice",
        message: "No local history to scroll back through (started with --no-history)",
      });
    }
    if (this.#room === undefined) {
      return this.#show({ type: "notice", message: "In no room: nothing to scroll back through" });
    }
    await this.#openView(roomConversation(this.#room));
  }

  async #scrollDown(): Promise<void> {
    if (this.#restored || !this.#view) return;
    if (await this.#view.down(this.#viewSize())) this.#drawView();
    else this.#toLive();
  }

  /** Opens the scrolled-back view of `conversation` (at `anchor`, a search match, if given). */
  async #openView(conversation: Conversation, anchor?: number): Promise<void> {
    const view = await ScrollbackView.open(
      this.#store!,
      conversation,
      this.#renderStored,
      this.#viewSize(),
      anchor,
    );
    if (this.#restored) return;
    if (!view) {
      return this.#show({ type: "notice", message: `Nothing stored in ${conversation} yet` });
    }
    this.#view = view;
    this.#screen.enterAlternate();
    this.#drawView();
  }

  #drawView(): void {
    const view = this.#view;
    if (!view || this.#restored) return;
    const size = this.#viewSize();
    const { lines, atTop, last } = view.rows(size);
    const parts = [`scrolled back in ${view.conversation}`];
    if (last) parts.push(`at ${messageClock(last.event.ts)}`);
    if (atTop) parts.push("oldest kept");
    parts.push("PgUp older · PgDn newer · End live");
    const waiting = this.#held.length + this.#heldDropped;
    if (waiting > 0) parts.push(`${waiting} new below`);
    let status = `── ${parts.join(" · ")} ──`;
    while (displayWidth(status) > size.width && status.length > 1) {
      status = graphemes(status).slice(0, -2).join("") + "…";
    }
    this.#screen.setPrompt(this.#prompt());
    this.#screen.setInput(this.#editor.text, this.#editor.cursor);
    this.#screen.drawView(lines, this.#style.bold(status));
  }

  /** Back to the live screen: what arrived meanwhile is shown, and counts as read. */
  #toLive(): void {
    if (!this.#view) return;
    this.#view = undefined;
    this.#screen.leaveAlternate();
    if (this.#heldDropped > 0) {
      this.#print(this.#style.dim(
        `-- ${this.#heldDropped} earlier lines were not kept while you scrolled back`,
      ));
      this.#heldDropped = 0;
    }
    for (const block of this.#held.splice(0)) this.#print(block);
    for (const conversation of this.#heldConversations) {
      if (this.#isCurrent(conversation)) this.#store?.markRead(conversation);
    }
    this.#heldConversations.clear();
    this.#refresh();
  }

  /** Whether a message in `conversation` is read when it shows: the room's, or a direct one. */
  #isCurrent(conversation: Conversation): boolean {
    return conversation.startsWith("@") ||
      (this.#room !== undefined && conversation === roomConversation(this.#room));
  }

  /** A message was stored: it is read if it showed live where the reader is. */
  #onStored(message: StoredMessage): void {
    if (this.#restored) return;
    if (this.#view) this.#heldConversations.add(message.conversation);
    else if (this.#isCurrent(message.conversation)) {
      this.#store?.markRead(message.conversation, message.id);
    }
    this.#refresh();
  }

  /**
   * Shows what came in `conversations` since they were last read (under a line saying how
   * much), then counts them read.
   */
  async #arrive(conversations: Conversation[]): Promise<void> {
    const store = this.#store;
    if (!store) return;
    for (const conversation of conversations) {
      const unread = store.unread(conversation);
      if (unread === 0) continue;
      const shown = await store.page(conversation, { limit: Math.min(unread, MAX_UNREAD_REPLAY) });
      if (this.#restored) return;
      const where = conversation.startsWith("#") ? `in ${conversation}` : `from ${conversation}`;
      const rest = shown.length < unread
        ? ` (the last ${shown.length} below; PgUp for the rest)`
        : "";
      this.#print(this.#style.bold(`── ${unread} new ${where} since you were here${rest} ──`));
      for (const message of shown) this.#print(this.#renderStored(message, false));
      store.markRead(conversation);
    }
    this.#refresh();
  }

  #startSearch(): void {
    if (!this.#store) {
      return this.#show({
        type: "notice",
        message: "No local history to search (started with --no-history)",
      });
    }
    this.#search = new ReverseSearch({ text: this.#editor.text, cursor: this.#editor.cursor });
    this.#drawSearch();
  }

  #searchKey(key: Key): void {
    const search = this.#search!;
    if (key.kind === "text" || key.kind === "paste") return this.#runSearch(search.type(key.text));
    const { name, ctrl, alt } = key;
    if (name === "backspace") {
      const generation = search.backspace();
      if (generation !== undefined) this.#runSearch(generation);
      return;
    }
    if (ctrl && !alt && name === "r") {
      search.older();
      return this.#drawSearch();
    }
    if (name === "escape" || (ctrl && (name === "g" || name === "c"))) return this.#endSearch();
    if (name === "enter") {
      const match = search.current;
      this.#endSearch();
      if (match) {
        this.#step(() => this.#openView(match.conversation, match.id));
      }
    }
  }

  #runSearch(generation: number): void {
    const search = this.#search!;
    this.#drawSearch();
    if (search.query === "") {
      search.answer(generation, [], true);
      return this.#drawSearch();
    }
    void this.#store!.search(search.query, { limit: REVERSE_SEARCH_LIMIT }).then(
      (result) => {
        if (this.#search === search && search.answer(generation, result.matches, result.complete)) {
          this.#drawSearch();
        }
      },
      (error) => this.#show({ type: "error", code: "history", message: (error as Error).message }),
    );
  }

  /** The search as the input line: the label as prompt, the query, and the match after it. */
  #drawSearch(): void {
    const search = this.#search;
    if (!search || this.#restored) return;
    const label = search.label();
    this.#screen.setPrompt({ text: this.#style.yellow(label), width: displayWidth(label) });
    const match = search.current;
    const preview = match
      ? renderEvent(match.event, {
        style: createStyle(false),
        me: this.#client.user,
        pending: this.#pending,
        dated: true,
      })!
      : "";
    this.#screen.setInput(
      preview ? `${search.query}  ▸ ${preview}` : search.query,
      search.query.length,
    );
    this.#screen.render();
  }

  /** Leaves the search, giving the input line back as it was. */
  #endSearch(): void {
    const search = this.#search;
    if (!search) return;
    this.#search = undefined;
    this.#editor.set(search.saved.text, search.saved.cursor);
    this.#refresh();
  }

  #submit(line: string): void {
    // A pasted block often ends with a line break nobody meant to send.
    const text = line.replace(/[\r\n]+$/, "");
    if (text.trim() === "") return;
    this.#commandsDone = this.#commandsDone.then(async () => {
      try {
        await commands.execute(this.#context, text);
      } catch (error) {
        this.#show({
          type: "error",
          code: commandErrorCode(error),
          message: (error as Error).message,
        });
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
    const resize = () => this.#view ? this.#drawView() : this.#refresh();
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
    const text = renderEvent(event, this.#lineContext());
    if (text !== undefined) this.#print(text);
  }

  #lineContext(): LineContext {
    const store = this.#store;
    return {
      style: this.#style,
      me: this.#client.user,
      pending: this.#pending,
      ...(store ? { unreadIn: (room: string) => store.unread(roomConversation(room)) } : {}),
    };
  }

  /** Shows `text` above the input line; while scrolled back, it waits for the return to live. */
  #print(text: string): void {
    if (this.#restored) return;
    if (this.#view) {
      this.#held.push(text);
      if (this.#held.length > MAX_HELD_LINES) {
        this.#held.shift();
        this.#heldDropped += 1;
      }
      return this.#drawView();
    }
    this.#screen.print(text);
  }

  /** Recomputes the prompt (room, lock state, messages on their way) and redraws the input. */
  #refresh(): void {
    if (this.#search) return this.#drawSearch();
    this.#screen.setPrompt(this.#prompt());
    this.#drawInput();
  }

  #prompt() {
    return buildPrompt(this.#snapshot(), this.#style);
  }

  #drawInput(): void {
    if (this.#restored || this.#search) return;
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
      unread: this.#unread(),
    };
  }

  /**
   * Conversations other than the current room with unread messages, rooms first (rooms we are
   * still in: a room we left stops counting).
   */
  #unread(): { name: string; count: number }[] {
    if (!this.#store) return [];
    const current = this.#room === undefined ? undefined : roomConversation(this.#room);
    const rooms = new Set(this.#client.rooms.map(roomConversation));
    return [...this.#store.unreadCounts()]
      .filter(([conversation]) =>
        conversation !== current && (conversation.startsWith("@") || rooms.has(conversation))
      )
      .map(([conversation, count]) => ({
        name: conversation.startsWith("#") ? conversation.slice(1) : conversation,
        count,
      }))
      .sort((a, b) =>
        Number(a.name.startsWith("@")) - Number(b.name.startsWith("@")) ||
        a.name.localeCompare(b.name)
      );
  }

  #write(text: string): void {
    if (!this.#restored) this.#output.write(text);
  }

  /** Gives the terminal back: input left visible if any, bracketed paste off, cursor on, cooked. */
  #restore(): void {
    if (this.#restored) return;
    clearTimeout(this.#escapeTimer);
    try {
      // What arrived while scrolled back (the reason for quitting, say) is shown on the way out.
      this.#toLive();
    } catch {
      // The terminal may be gone.
    }
    const keep = this.#editor.text !== "";
    try {
      this.#screen.leaveAlternate();
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
