/**
 * Scrollback on the chat screen: a view of one conversation's messages read from the local
 * history (`../local_store.ts`), paged with PgUp/PgDn. The view is a model with no I/O of its
 * own: it loads pages from a {@linkcode ScrollbackSource} as the reader moves past what it holds,
 * wraps the rendered lines to the terminal's width, and says which rows to draw. The chat screen
 * draws them on the terminal's alternate screen, so going back to live leaves the live screen as
 * it was.
 *
 * @module
 */

import type { Conversation, StoredMessage } from "../local_store.ts";
import { clusterWidth, graphemes } from "./width.ts";

/** Messages loaded from the store at a time. */
export const SCROLLBACK_PAGE = 100;
/** Rows kept from one screenful to the next when paging. */
export const PAGE_OVERLAP = 2;

/** Where the view reads messages (a `LocalStore`). */
export interface ScrollbackSource {
  page(
    conversation: Conversation,
    options: { before?: number; after?: number; limit: number },
  ): Promise<StoredMessage[]>;
}

/** Renders one message as a (styled) block of lines; `highlighted` for a search match. */
export type RenderStored = (message: StoredMessage, highlighted: boolean) => string;

// deno-lint-ignore no-control-regex
const ANSI = /^\x1b\[[0-?]*[ -/]*[@-~]/;

/**
 * Splits a styled block into terminal rows of at most `columns` columns: at its line breaks,
 * and wherever a line is wider than the terminal. Escape sequences take no room and stay with
 * the text they style.
 *
 * @example
 * ```ts
 * import { wrapRows } from "./scrollback.ts";
 * wrapRows("abcdef\ngh", 4); // ["abcd", "ef", "gh"]
 * ```
 */
export function wrapRows(block: string, columns: number): string[] {
  const width = Math.max(1, columns);
  const rows: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    let row = "";
    let used = 0;
    let rest = line;
    while (rest.length > 0) {
      const escape = rest.match(ANSI);
      if (escape) {
        row += escape[0];
        rest = rest.slice(escape[0].length);
        continue;
      }
      const cluster = graphemes(rest.slice(0, 16))[0]!;
      const cells = clusterWidth(cluster);
      if (used + cells > width && used > 0) {
        rows.push(row);
        row = "";
        used = 0;
      }
      row += cluster;
      used += cells;
      rest = rest.slice(cluster.length);
    }
    rows.push(row);
  }
  return rows;
}

/** One terminal row of the view. */
interface Row {
  readonly text: string;
  /** Index into the loaded messages. */
  readonly message: number;
}

/** What to draw: exactly `height` rows, blank ones first when there is less. */
export interface ViewRows {
  readonly lines: string[];
  /** The oldest loaded row is shown and nothing older is stored. */
  readonly atTop: boolean;
  /** The newest stored message is shown. */
  readonly atBottom: boolean;
  /** The newest message in view. */
  readonly last?: StoredMessage;
}

/** A scrolled-back view of one conversation. */
export class ScrollbackView {
  readonly conversation: Conversation;
  readonly #source: ScrollbackSource;
  readonly #render: RenderStored;
  #messages: StoredMessage[] = [];
  #olderDone = false;
  #newerDone = true;
  /** Rows between the bottom of the view and the newest loaded row. */
  #offset = 0;
  /** The id of a message to highlight (a search match). */
  readonly #highlight: number | undefined;
  #cache: { width: number; rows: Row[] } | undefined;

  private constructor(
    source: ScrollbackSource,
    conversation: Conversation,
    render: RenderStored,
    highlight: number | undefined,
  ) {
    this.#source = source;
    this.conversation = conversation;
    this.#render = render;
    this.#highlight = highlight;
  }

  /**
   * Opens a view of `conversation` one screenful (`height` rows of `width` columns) back from
   * its newest message; or, with `anchor`, with that message in the middle, highlighted.
   * Undefined when the conversation has no stored message.
   */
  static async open(
    source: ScrollbackSource,
    conversation: Conversation,
    render: RenderStored,
    size: { width: number; height: number },
    anchor?: number,
  ): Promise<ScrollbackView | undefined> {
    const view = new ScrollbackView(source, conversation, render, anchor);
    if (anchor === undefined) {
      view.#messages = await source.page(conversation, { limit: SCROLLBACK_PAGE });
      view.#olderDone = view.#messages.length < SCROLLBACK_PAGE;
      if (view.#messages.length === 0) return undefined;
      await view.up(size);
      return view;
    }
    const before = await source.page(conversation, { before: anchor + 1, limit: SCROLLBACK_PAGE });
    const after = await source.page(conversation, { after: anchor, limit: SCROLLBACK_PAGE });
    view.#messages = [...before, ...after];
    view.#olderDone = before.length < SCROLLBACK_PAGE;
    view.#newerDone = after.length < SCROLLBACK_PAGE;
    const index = view.#messages.findIndex((message) => message.id === anchor);
    if (index < 0) return undefined;
    const rows = view.#rows(size.width);
    const first = rows.findIndex((row) => row.message === index);
    const top = Math.max(0, first - Math.floor(size.height / 2));
    view.#offset = Math.max(0, rows.length - size.height - top);
    await view.#fill(size);
    return view;
  }

  /** Moves one screenful towards older messages (loading them as needed). */
  async up(size: { width: number; height: number }): Promise<void> {
    const step = Math.max(1, size.height - PAGE_OVERLAP);
    while (!this.#olderDone && this.#rows(size.width).length < this.#offset + step + size.height) {
      await this.#loadOlder();
    }
    const rows = this.#rows(size.width).length;
    this.#offset = Math.min(this.#offset + step, Math.max(0, rows - size.height));
  }

  /**
   * Moves one screenful towards newer messages. Resolves false, without moving, when that
   * would reach the newest message: the reader is back to live.
   */
  async down(size: { width: number; height: number }): Promise<boolean> {
    const step = Math.max(1, size.height - PAGE_OVERLAP);
    while (!this.#newerDone && this.#offset < step) await this.#loadNewer(size.width);
    if (this.#offset <= step && this.#newerDone) return false;
    this.#offset = Math.max(0, this.#offset - step);
    return true;
  }

  /** The rows to draw in `height` rows of `width` columns. */
  rows(size: { width: number; height: number }): ViewRows {
    const rows = this.#rows(size.width);
    const maxOffset = Math.max(0, rows.length - size.height);
    this.#offset = Math.min(this.#offset, maxOffset);
    const end = rows.length - this.#offset;
    const start = Math.max(0, end - size.height);
    const shown = rows.slice(start, end);
    const lines = [
      ...Array.from({ length: size.height - shown.length }, () => ""),
      ...shown.map((row) => row.text),
    ];
    const lastRow = shown.at(-1);
    return {
      lines,
      atTop: start === 0 && this.#olderDone,
      atBottom: this.#offset === 0 && this.#newerDone,
      ...(lastRow ? { last: this.#messages[lastRow.message] } : {}),
    };
  }

  /** Makes sure a screenful is loaded above the bottom of the view. */
  async #fill(size: { width: number; height: number }): Promise<void> {
    while (!this.#olderDone && this.#rows(size.width).length < this.#offset + size.height) {
      await this.#loadOlder();
    }
  }

  async #loadOlder(): Promise<void> {
    const oldest = this.#messages[0];
    const older = await this.#source.page(this.conversation, {
      ...(oldest ? { before: oldest.id } : {}),
      limit: SCROLLBACK_PAGE,
    });
    if (older.length < SCROLLBACK_PAGE) this.#olderDone = true;
    this.#messages = [...older, ...this.#messages];
    this.#cache = undefined;
  }

  async #loadNewer(width: number): Promise<void> {
    const newest = this.#messages.at(-1);
    const newer = await this.#source.page(this.conversation, {
      ...(newest ? { after: newest.id } : {}),
      limit: SCROLLBACK_PAGE,
    });
    if (newer.length < SCROLLBACK_PAGE) this.#newerDone = true;
    const before = this.#rows(width).length;
    this.#messages = [...this.#messages, ...newer];
    this.#cache = undefined;
    // The offset counts from the newest row: what was added lies below the view.
    this.#offset += this.#rows(width).length - before;
  }

  #rows(width: number): Row[] {
    if (this.#cache?.width === width) return this.#cache.rows;
    const rows: Row[] = [];
    this.#messages.forEach((message, index) => {
      const block = this.#render(message, message.id === this.#highlight);
      for (const text of wrapRows(block, width)) rows.push({ text, message: index });
    });
    this.#cache = { width, rows };
    return rows;
  }
}
