/**
 * One queue of tasks per key (a room name): a task starts only once every task queued before it
 * under the same key has settled, so the appends to a room's log, the changes to its intervals
 * and memberships, and the frames the server broadcasts about them happen in one order, whatever
 * the store's engine. The embedded SQLite store happens to finish every call before it returns;
 * a store over the network (NATS, issue 15) does not, and without this queue two appends could
 * be broadcast in the other order than they were numbered, or a joiner could be told a `seq`
 * that a message relayed before its `joined` already passed.
 *
 * A task queued under a key with nothing pending starts at once (in the same task as the
 * caller), so the common case costs no extra turn of the event loop.
 *
 * @module
 */

/** Runs tasks one at a time per key, in the order they were queued. */
export class Sequencer {
  readonly #tails = new Map<string, Promise<void>>();

  /** How many keys have tasks pending (for tests). */
  get pending(): number {
    return this.#tails.size;
  }

  /** Queues `task` under `key`; resolves or rejects as the task does. */
  run<T>(key: string, task: () => T | Promise<T>): Promise<T> {
    const previous = this.#tails.get(key);
    let result: Promise<T>;
    if (previous) {
      result = previous.then(task);
    } else {
      try {
        result = Promise.resolve(task());
      } catch (error) {
        result = Promise.reject(error);
      }
    }
    const tail = result.then(() => {}, () => {});
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}
