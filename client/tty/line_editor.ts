/**
 * The input line as a model, with no I/O: its text, a cursor on a character boundary, editing
 * operations (Emacs-style, like readline), history, and completion that cycles on repeated Tab.
 * {@linkcode handleKey} maps key events to these operations; the screen only draws the result.
 *
 * @module
 */

import { History } from "./history.ts";
import type { Key } from "./keys.ts";

const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/** What a completer is asked: the line, and the word that ends at the cursor. */
export interface CompletionRequest {
  readonly line: string;
  /** Where the word starts (a UTF-16 offset into `line`). */
  readonly start: number;
  /** The text from `start` to the cursor. */
  readonly word: string;
}

/** Replacements for the word, in the order Tab cycles through them. */
export interface Completions {
  readonly candidates: readonly string[];
  /** Added after a candidate (e.g. a space), unless whitespace already follows. */
  readonly suffix: string;
}

/** Finds completions for a word. */
export type Completer = (request: CompletionRequest) => Completions;

interface CompletionState {
  readonly start: number;
  end: number;
  readonly candidates: readonly string[];
  readonly suffix: string;
  index: number;
  /** The line and cursor right after the last completion: Tab cycles only if they are unchanged. */
  text: string;
  cursor: number;
}

function isSpace(char: string | undefined): boolean {
  return char !== undefined && /\s/.test(char);
}

/**
 * An editable input line.
 *
 * @example
 * ```ts
 * import { LineEditor } from "./line_editor.ts";
 * const editor = new LineEditor();
 * editor.insert("hello world");
 * editor.killWordBack();
 * editor.text; // "hello "
 * ```
 */
export class LineEditor {
  #text = "";
  #cursor = 0;
  #killed = "";
  #completion: CompletionState | undefined;
  readonly history: History;

  constructor(options: { historySize?: number } = {}) {
    this.history = new History(options.historySize);
  }

  /** The line. */
  get text(): string {
    return this.#text;
  }

  /** The cursor, as a UTF-16 offset into {@linkcode LineEditor.text} on a character boundary. */
  get cursor(): number {
    return this.#cursor;
  }

  /** Replaces the line, with the cursor at `cursor` (default: the end). */
  set(text: string, cursor = text.length): void {
    this.#text = text;
    this.#cursor = Math.max(0, Math.min(cursor, text.length));
    this.#completion = undefined;
  }

  /** Inserts `text` at the cursor. */
  insert(text: string): boolean {
    if (!text) return false;
    this.#edit(
      this.#text.slice(0, this.#cursor) + text + this.#text.slice(this.#cursor),
      this.#cursor + text.length,
    );
    return true;
  }

  /** Deletes the character before the cursor. */
  backspace(): boolean {
    if (this.#cursor === 0) return false;
    const from = this.#previousBoundary();
    this.#edit(this.#text.slice(0, from) + this.#text.slice(this.#cursor), from);
    return true;
  }

  /** Deletes the character under the cursor. */
  deleteForward(): boolean {
    if (this.#cursor === this.#text.length) return false;
    const to = this.#nextBoundary();
    this.#edit(this.#text.slice(0, this.#cursor) + this.#text.slice(to), this.#cursor);
    return true;
  }

  /** Moves one character left. */
  left(): boolean {
    return this.#move(this.#cursor === 0 ? 0 : this.#previousBoundary());
  }

  /** Moves one character right. */
  right(): boolean {
    return this.#move(this.#cursor === this.#text.length ? this.#cursor : this.#nextBoundary());
  }

  /** Moves to the start of the line. */
  home(): boolean {
    return this.#move(0);
  }

  /** Moves to the end of the line. */
  end(): boolean {
    return this.#move(this.#text.length);
  }

  /** Moves to the start of the word before the cursor. */
  wordLeft(): boolean {
    return this.#move(this.#wordStartBefore());
  }

  /** Moves past the end of the word after the cursor. */
  wordRight(): boolean {
    return this.#move(this.#wordEndAfter());
  }

  /** Cuts from the start of the line to the cursor (Ctrl-U). */
  killToStart(): boolean {
    return this.#kill(0, this.#cursor);
  }

  /** Cuts from the cursor to the end of the line (Ctrl-K). */
  killToEnd(): boolean {
    return this.#kill(this.#cursor, this.#text.length);
  }

  /** Cuts the word before the cursor, and the spaces after it (Ctrl-W). */
  killWordBack(): boolean {
    return this.#kill(this.#wordStartBefore(), this.#cursor);
  }

  /** Cuts the word after the cursor (Alt-D). */
  killWordForward(): boolean {
    return this.#kill(this.#cursor, this.#wordEndAfter());
  }

  /** Inserts the text cut last (Ctrl-Y). */
  yank(): boolean {
    return this.insert(this.#killed);
  }

  /** Shows the previous history entry (Up). */
  historyPrevious(): boolean {
    const entry = this.history.previous(this.#text);
    if (entry === undefined) return false;
    this.set(entry);
    return true;
  }

  /** Shows the next history entry, or the draft after the newest (Down). */
  historyNext(): boolean {
    const entry = this.history.next();
    if (entry === undefined) return false;
    this.set(entry);
    return true;
  }

  /**
   * Completes the word before the cursor with the first candidate; pressed again right away, it
   * replaces that with the next candidate, cycling.
   */
  complete(completer: Completer): boolean {
    const state = this.#completion;
    if (state && state.text === this.#text && state.cursor === this.#cursor) {
      if (state.candidates.length < 2) return false;
      state.index = (state.index + 1) % state.candidates.length;
      this.#applyCompletion(state);
      return true;
    }
    const start = this.#completionStart();
    const word = this.#text.slice(start, this.#cursor);
    const { candidates, suffix } = completer({ line: this.#text, start, word });
    if (candidates.length === 0) return false;
    const next: CompletionState = {
      start,
      end: this.#cursor,
      candidates: [...candidates],
      suffix: isSpace(this.#text[this.#cursor]) ? "" : suffix,
      index: 0,
      text: "",
      cursor: 0,
    };
    this.#applyCompletion(next);
    return true;
  }

  /** Takes the line to send: records it in history and empties the editor. */
  submit(): string {
    const line = this.#text;
    this.history.add(line);
    this.set("");
    return line;
  }

  #applyCompletion(state: CompletionState): void {
    const replacement = state.candidates[state.index]! + state.suffix;
    const text = this.#text.slice(0, state.start) + replacement + this.#text.slice(state.end);
    this.#text = text;
    this.#cursor = state.start + replacement.length;
    state.end = this.#cursor;
    state.text = text;
    state.cursor = this.#cursor;
    this.#completion = state;
  }

  #edit(text: string, cursor: number): void {
    this.#text = text;
    this.#cursor = cursor;
    this.#completion = undefined;
  }

  #move(cursor: number): boolean {
    this.#completion = undefined;
    if (cursor === this.#cursor) return false;
    this.#cursor = cursor;
    return true;
  }

  #kill(from: number, to: number): boolean {
    if (from === to) return false;
    this.#killed = this.#text.slice(from, to);
    this.#edit(this.#text.slice(0, from) + this.#text.slice(to), from);
    return true;
  }

  #previousBoundary(): number {
    let last = 0;
    for (const part of segmenter.segment(this.#text.slice(0, this.#cursor))) last = part.index;
    return last;
  }

  #nextBoundary(): number {
    const first = segmenter.segment(this.#text.slice(this.#cursor))[Symbol.iterator]().next();
    return this.#cursor + (first.done ? 0 : first.value.segment.length);
  }

  #wordStartBefore(): number {
    let index = this.#cursor;
    while (index > 0 && isSpace(this.#text[index - 1])) index -= 1;
    while (index > 0 && !isSpace(this.#text[index - 1])) index -= 1;
    return index;
  }

  #wordEndAfter(): number {
    let index = this.#cursor;
    while (index < this.#text.length && isSpace(this.#text[index])) index += 1;
    while (index < this.#text.length && !isSpace(this.#text[index])) index += 1;
    return index;
  }

  /** Start of the word that ends at the cursor (no skipping of spaces: an empty word is fine). */
  #completionStart(): number {
    let index = this.#cursor;
    while (index > 0 && !isSpace(this.#text[index - 1])) index -= 1;
    return index;
  }
}

/** What a key did to the editor. */
export type EditResult =
  /** The line or cursor changed (or not): redraw the input line if so. */
  | { type: "edit"; changed: boolean }
  /** Enter: send this line. */
  | { type: "submit"; line: string }
  /** Ctrl-C, or Ctrl-D on an empty line. */
  | { type: "quit" }
  /** Ctrl-L: clear and redraw the screen. */
  | { type: "redraw" };

function edited(changed: boolean): EditResult {
  return { type: "edit", changed };
}

/**
 * Applies one key to `editor` with readline's bindings: Left/Right (with Ctrl or Alt: by word),
 * Home/End, Ctrl-A/E/B/F, Backspace/Delete, Ctrl-U/K/W/Y, Alt-Backspace/D/B/F, Up/Down or
 * Ctrl-P/N for history, Tab to complete, Alt-Enter for a line break, Enter to send.
 */
export function handleKey(editor: LineEditor, key: Key, completer?: Completer): EditResult {
  if (key.kind === "text" || key.kind === "paste") return edited(editor.insert(key.text));
  const { name, ctrl, alt } = key;
  if (ctrl && !alt) {
    switch (name) {
      case "a":
        return edited(editor.home());
      case "e":
        return edited(editor.end());
      case "b":
        return edited(editor.left());
      case "f":
        return edited(editor.right());
      case "u":
        return edited(editor.killToStart());
      case "k":
        return edited(editor.killToEnd());
      case "w":
        return edited(editor.killWordBack());
      case "y":
        return edited(editor.yank());
      case "p":
        return edited(editor.historyPrevious());
      case "n":
        return edited(editor.historyNext());
      case "c":
        return { type: "quit" };
      case "d":
        return editor.text === "" ? { type: "quit" } : edited(editor.deleteForward());
      case "l":
        return { type: "redraw" };
      case "backspace":
        return edited(editor.backspace());
      case "delete":
        return edited(editor.killWordForward());
      case "left":
        return edited(editor.wordLeft());
      case "right":
        return edited(editor.wordRight());
      case "home":
        return edited(editor.home());
      case "end":
        return edited(editor.end());
    }
    return edited(false);
  }
  if (alt) {
    switch (name) {
      case "b":
      case "left":
        return edited(editor.wordLeft());
      case "f":
      case "right":
        return edited(editor.wordRight());
      case "d":
        return edited(editor.killWordForward());
      case "backspace":
        return edited(editor.killWordBack());
      case "enter":
        return edited(editor.insert("\n"));
    }
    return edited(false);
  }
  switch (name) {
    case "enter":
      return { type: "submit", line: editor.submit() };
    case "tab":
      return edited(!key.shift && completer !== undefined && editor.complete(completer));
    case "backspace":
      return edited(editor.backspace());
    case "delete":
      return edited(editor.deleteForward());
    case "left":
      return edited(editor.left());
    case "right":
      return edited(editor.right());
    case "home":
      return edited(editor.home());
    case "end":
      return edited(editor.end());
    case "up":
      return edited(editor.historyPrevious());
    case "down":
      return edited(editor.historyNext());
  }
  return edited(false);
}
