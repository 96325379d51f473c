/**
 * Group commit: the room messages that arrive in one turn of the event loop are stored together.
 * A store's commit costs far more than a row (for SQLite, about 90 µs of CPU for the commit
 * against 10 µs per row here), and a busy room gets many messages per turn, one from each
 * sending session (each session's next frame waits for its last to be handled). So the first
 * message of a turn opens a batch for its room, the rest of that turn's messages join it, and
 * the batch is handed over once the turn's I/O callbacks have run ({@linkcode endOfTurn}).
 *
 * Every caller's promise settles with its batch: nothing is acknowledged or relayed before the
 * whole batch is stored.
 *
 * @module
 */

import { setImmediate } from "node:timers";

/**
 * Resolves once the I/O callbacks of the current turn of the event loop have run (Node's
 * `setImmediate`, which Deno runs after the poll phase): whatever arrived on other sockets in
 * the same turn has been read by then. A `setTimeout(0)` would wait for the next turn's timers.
 */
export function endOfTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

interface Batch<T> {
  readonly items: T[];
  readonly done: Promise<void>;
}

/** Open batches by key (a room name), each taking items until it is handed over. */
export class TurnBatches<T> {
  readonly #open = new Map<string, Batch<T>>();

  /** @param maxItems the most items one batch takes; the next item opens another batch. */
  constructor(private readonly maxItems: number) {}

  /**
   * Adds `item` to `key`'s open batch, or opens one: then `schedule` is called once with a
   * `take` function, and must call it when the batch is to be handled (it closes the batch and
   * returns its items, in the order they were added). Resolves or rejects as the promise
   * `schedule` returned does.
   */
  add(key: string, item: T, schedule: (take: () => T[]) => Promise<void>): Promise<void> {
    const open = this.#open.get(key);
    if (open) {
      open.items.push(item);
      if (open.items.length >= this.maxItems) this.#open.delete(key);
      return open.done;
    }
    const items = [item];
    const take = () => {
      if (this.#open.get(key)?.items === items) this.#open.delete(key);
      return items;
    };
    // Open before scheduling, so that a schedule that takes at once finds the item there.
    const batch: { items: T[]; done?: Promise<void> } = { items };
    if (this.maxItems > 1) this.#open.set(key, batch as Batch<T>);
    batch.done = schedule(take);
    return batch.done;
  }

  /** How many batches are open (for tests). */
  get open(): number {
    return this.#open.size;
  }
}
