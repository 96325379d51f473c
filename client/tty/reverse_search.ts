/**
 * Ctrl-R on the chat screen: an interactive search of the local history, newest match first,
 * like a shell's reverse search. This is its state with no I/O: the query, the matches of the
 * latest search, and which one is shown. The chat screen runs the searches (a generation number
 * drops the answers of queries typed over) and draws {@linkcode ReverseSearch.label} as the
 * prompt with the query and a preview of the match as the input line.
 *
 * @module
 */

import type { StoredMessage } from "../local_store.ts";
import { graphemes } from "./width.ts";

/** Matches asked for per query; Ctrl-R steps through them. */
export const REVERSE_SEARCH_LIMIT = 200;

/** One Ctrl-R session. */
export class ReverseSearch {
  /** The input line as it was, given back on Esc. */
  readonly saved: { readonly text: string; readonly cursor: number };
  #query = "";
  #matches: StoredMessage[] = [];
  #index = 0;
  #generation = 0;
  #answered = 0;
  #complete = true;

  constructor(saved: { text: string; cursor: number }) {
    this.saved = saved;
  }

  /** The text searched for. */
  get query(): string {
    return this.#query;
  }

  /** The match shown, if any. */
  get current(): StoredMessage | undefined {
    return this.#matches[this.#index];
  }

  /** Whether the latest query has no answer yet. */
  get searching(): boolean {
    return this.#answered !== this.#generation;
  }

  /** Adds typed text to the query; returns the generation its search must answer for. */
  type(text: string): number {
    this.#query += text.replace(/[\r\n]+/g, " ");
    return this.#changed();
  }

  /** Removes the query's last character; returns the new generation, or undefined if empty. */
  backspace(): number | undefined {
    if (this.#query === "") return undefined;
    this.#query = graphemes(this.#query).slice(0, -1).join("");
    return this.#changed();
  }

  /** The search for `generation` found `matches` (newest first); stale answers are ignored. */
  answer(generation: number, matches: StoredMessage[], complete: boolean): boolean {
    if (generation !== this.#generation) return false;
    this.#answered = generation;
    this.#matches = matches;
    this.#complete = complete;
    this.#index = 0;
    return true;
  }

  /** Shows the next older match (Ctrl-R again); false when there is none. */
  older(): boolean {
    if (this.#index + 1 >= this.#matches.length) return false;
    this.#index += 1;
    return true;
  }

  /** The prompt: `(search 2/7)`, `(search: no match)`, or `(search)` while typing. */
  label(): string {
    if (this.#query === "" || this.searching) return "(search) ";
    if (this.#matches.length === 0) {
      return this.#complete ? "(search: no match) " : "(search: no match in the newest) ";
    }
    const more = this.#complete ? "" : "+";
    return `(search ${this.#index + 1}/${this.#matches.length}${more}) `;
  }

  #changed(): number {
    this.#generation += 1;
    return this.#generation;
  }
}
