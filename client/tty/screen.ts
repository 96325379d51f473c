/**
 * Drawing the chat screen with ANSI sequences. The terminal scrolls as usual; the input line is
 * always the last line. To show an event, the input line is cleared (`\r ESC[2K`), the event is
 * written (the terminal scrolls it up), and the prompt and input are drawn again with the cursor
 * where it was, so arriving messages never clobber what is being typed. An input longer than the
 * terminal is wide scrolls sideways to keep the cursor in view.
 *
 * Scrollback is drawn on the terminal's alternate screen (`ESC[?1049h`): rows from the top, a
 * status line, and the input line last. Leaving it brings the live screen back exactly as it was.
 *
 * @module
 */

import type { Prompt } from "./prompt.ts";
import { clusterWidth, graphemes } from "./width.ts";

/** Where the screen writes, and how wide the terminal is. */
export interface TerminalOutput {
  write(text: string): void;
  /** Columns of the terminal now (it can change at any time). */
  columns(): number;
  /** Rows of the terminal now (24 when it cannot say). */
  rows?(): number;
}

/** The visible part of the input line. */
export interface InputLayout {
  /** The text to draw after the prompt (line breaks shown as `⏎`, tabs as `⇥`). */
  readonly visible: string;
  /** The cursor's column, counted from the end of the prompt. */
  readonly cursorColumn: number;
  /** The first grapheme shown; pass it back to keep scrolling steady. */
  readonly start: number;
}

/** Fewest columns the input gets; below this the prompt shrinks to `> `. */
export const MIN_INPUT_COLUMNS = 10;

/** How a grapheme of the input is drawn: line breaks and tabs get visible stand-ins. */
export function shownAs(cluster: string): string {
  if (cluster === "\n" || cluster === "\r\n") return "⏎";
  if (cluster === "\t") return "⇥";
  // deno-lint-ignore no-control-regex
  return /[\u0000-\u001f\u007f-\u009f]/.test(cluster) ? "\ufffd" : cluster;
}

/**
 * Lays out `text` with the cursor at UTF-16 offset `cursor` in `columns` columns, scrolling as
 * little as needed from `previousStart` so the cursor (and the character under it) is visible.
 *
 * @example
 * ```ts
 * import { layoutInput } from "./screen.ts";
 * layoutInput("hello world", 11, 6, 0); // { visible: "world", cursorColumn: 5, start: 6 }
 * ```
 */
export function layoutInput(
  text: string,
  cursor: number,
  columns: number,
  previousStart = 0,
): InputLayout {
  const width = Math.max(1, columns);
  const units = graphemes(text).map((cluster) => {
    const shown = shownAs(cluster);
    return { shown, width: Math.max(1, clusterWidth(shown)), length: cluster.length };
  });
  const prefix = [0];
  for (const unit of units) prefix.push(prefix.at(-1)! + unit.width);
  let cursorUnit = 0;
  for (let offset = 0; cursorUnit < units.length && offset < cursor; cursorUnit++) {
    offset += units[cursorUnit]!.length;
  }
  const cellWidth = units[cursorUnit]?.width ?? 1;
  const fits = (from: number) => prefix[cursorUnit]! - prefix[from]! + cellWidth <= width;
  let start = Math.min(Math.max(0, previousStart), units.length);
  if (cursorUnit < start) start = Math.max(0, cursorUnit - Math.floor(width / 4));
  while (start < cursorUnit && !fits(start)) start += 1;
  // Use free room on the right (after deleting at the end) to show more of the left.
  const total = prefix[units.length]!;
  while (start > 0 && total - prefix[start - 1]! + (cursorUnit === units.length ? 1 : 0) <= width) {
    start -= 1;
  }
  let visible = "";
  let used = 0;
  for (let index = start; index < units.length; index++) {
    const unit = units[index]!;
    if (used + unit.width > width) break;
    visible += unit.shown;
    used += unit.width;
  }
  return { visible, cursorColumn: prefix[cursorUnit]! - prefix[start]!, start };
}

/** The chat screen: an input line at the bottom, events printed above it. */
export class Screen {
  readonly #output: TerminalOutput;
  #prompt: Prompt = { text: "> ", width: 2 };
  #text = "";
  #cursor = 0;
  #start = 0;
  #alternate = false;

  constructor(output: TerminalOutput) {
    this.#output = output;
  }

  /** Changes the prompt (drawn on the next render). */
  setPrompt(prompt: Prompt): void {
    this.#prompt = prompt;
  }

  /** Changes the input line (drawn on the next render). */
  setInput(text: string, cursor: number): void {
    this.#text = text;
    this.#cursor = cursor;
  }

  /** Redraws the input line. */
  render(): void {
    this.#output.write(`\r\x1b[2K${this.#inputLine()}`);
  }

  /**
   * Shows `block` (already styled; lines separated by `\n`) above the input line, then redraws
   * the input line.
   */
  print(block: string): void {
    const lines = block.replace(/\r?\n/g, "\r\n");
    this.#output.write(`\r\x1b[2K${lines}\r\n${this.#inputLine()}`);
  }

  /** Clears the whole screen and draws the input line at the top. */
  clear(): void {
    this.#output.write(`\x1b[H\x1b[2J${this.#inputLine()}`);
  }

  /** Rings the terminal bell. */
  bell(): void {
    this.#output.write("\x07");
  }

  /** Rows of the terminal (at least 3: a row of text, the status line and the input line). */
  rows(): number {
    return Math.max(3, this.#output.rows?.() || 24);
  }

  /** Columns of the terminal. */
  columns(): number {
    return Math.max(1, this.#output.columns());
  }

  /** Whether the alternate screen (scrollback) is shown. */
  get alternate(): boolean {
    return this.#alternate;
  }

  /** Switches to the alternate screen (the live screen stays as it is underneath). */
  enterAlternate(): void {
    if (this.#alternate) return;
    this.#alternate = true;
    this.#output.write("\x1b[?1049h\x1b[H\x1b[2J");
  }

  /** Back to the live screen, as it was when the alternate screen was entered. */
  leaveAlternate(): void {
    if (!this.#alternate) return;
    this.#alternate = false;
    this.#output.write("\x1b[?1049l");
  }

  /**
   * Draws a full screen on the alternate screen: `lines` from the top (one row each, already
   * fitted to the width), `status` below them, and the input line on the last row.
   */
  drawView(lines: readonly string[], status: string): void {
    let out = "\x1b[?25l";
    lines.forEach((line, index) => out += `\x1b[${index + 1};1H\x1b[2K${line}\x1b[0m`);
    out += `\x1b[${lines.length + 1};1H\x1b[2K${status}\x1b[0m`;
    out += `\x1b[${lines.length + 2};1H\r\x1b[2K${this.#inputLine()}`;
    this.#output.write(out);
  }

  /** Prompt, visible input and cursor placement, with the cursor hidden while drawing. */
  #inputLine(): string {
    const columns = Math.max(1, this.#output.columns());
    let prompt = this.#prompt;
    if (columns - prompt.width - 1 < MIN_INPUT_COLUMNS) prompt = { text: "> ", width: 2 };
    const room = Math.max(1, columns - prompt.width - 1);
    const layout = layoutInput(this.#text, this.#cursor, room, this.#start);
    this.#start = layout.start;
    const column = prompt.width + layout.cursorColumn + 1;
    return `\x1b[?25l${prompt.text}${layout.visible}\x1b[${column}G\x1b[?25h`;
  }
}
