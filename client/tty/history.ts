/**
 * Input history for Up/Down: the lines sent, oldest first, bounded, without empty lines or a
 * line repeated right after itself. Browsing keeps the line being written as a draft, which Down
 * past the newest entry brings back.
 *
 * @module
 */

/** Entries kept by default. */
export const DEFAULT_HISTORY_SIZE = 500;

/**
 * A bounded input history with a browsing position.
 *
 * @example
 * ```ts
 * import { History } from "./history.ts";
 * const history = new History();
 * history.add("one");
 * history.add("two");
 * history.previous("draft"); // "two"
 * history.previous("two");   // "one"
 * history.next();            // "two"
 * history.next();            // "draft"
 * ```
 */
export class History {
  readonly #entries: string[] = [];
  readonly #limit: number;
  /** Index of the entry shown, or `entries.length` when not browsing. */
  #position = 0;
  #draft = "";

  constructor(limit = DEFAULT_HISTORY_SIZE) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`History size must be a positive integer, got ${limit}`);
    }
    this.#limit = limit;
  }

  /** The entries, oldest first. */
  get entries(): readonly string[] {
    return this.#entries;
  }

  /** Whether Up has been pressed since the last line was added or browsing ended. */
  get browsing(): boolean {
    return this.#position < this.#entries.length;
  }

  /** Records a sent line (not an empty one, nor the same as the newest) and stops browsing. */
  add(line: string): void {
    if (line.trim() !== "" && this.#entries.at(-1) !== line) {
      this.#entries.push(line);
      if (this.#entries.length > this.#limit) {
        this.#entries.splice(0, this.#entries.length - this.#limit);
      }
    }
    this.reset();
  }

  /** Stops browsing: the next Up starts again from the newest entry. */
  reset(): void {
    this.#position = this.#entries.length;
    this.#draft = "";
  }

  /**
   * The entry before the one shown, or undefined at the oldest. `current` is the line in the
   * editor; when browsing starts it is kept as the draft.
   */
  previous(current: string): string | undefined {
    if (this.#position === 0) return undefined;
    if (!this.browsing) this.#draft = current;
    this.#position -= 1;
    return this.#entries[this.#position];
  }

  /** The entry after the one shown, the draft past the newest, or undefined when not browsing. */
  next(): string | undefined {
    if (!this.browsing) return undefined;
    this.#position += 1;
    return this.browsing ? this.#entries[this.#position] : this.#draft;
  }
}
