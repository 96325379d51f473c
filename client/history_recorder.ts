/**
 * Keeps what the chat client shows in the local history (`local_store.ts`): every `message` and
 * `dm` event it emits (live or caught up, with `seq` and `history` as given), and our own
 * messages once the server confirmed them (`queued`, then `delivered`; an `undelivered` one is
 * not history). The client calls {@linkcode HistoryRecorder.observe} with each event it emits,
 * before its listeners hear it; the store applies the writes in that order.
 *
 * @module
 */

import type { ClientEvent } from "./events.ts";
import type { DirectMessage, LocalStore, RoomMessage } from "./local_store.ts";

/** Messages of ours remembered between `queued` and `delivered`, at most. */
export const MAX_PENDING_OWN = 2_000;

type Queued = Extract<ClientEvent, { type: "queued" }>;

/** Feeds a client's events to its local store. */
export class HistoryRecorder {
  readonly #store: LocalStore;
  readonly #me: { user: string; device: string };
  readonly #onError: (message: string) => void;
  readonly #pending = new Map<string, Queued & { ts: string }>();
  #failed = false;

  /**
   * `onError` hears the first failure to store (later ones are the same problem); the chat goes
   * on without history then.
   */
  constructor(
    store: LocalStore,
    me: { user: string; device: string },
    onError: (message: string) => void,
  ) {
    this.#store = store;
    this.#me = { user: me.user, device: me.device };
    this.#onError = onError;
  }

  /** The store written to. */
  get store(): LocalStore {
    return this.#store;
  }

  /** Takes note of one event the client emits. */
  observe(event: ClientEvent): void {
    switch (event.type) {
      case "message":
      case "dm":
        return this.#add(event);
      case "queued":
        if (this.#pending.size >= MAX_PENDING_OWN) {
          this.#pending.delete(this.#pending.keys().next().value!);
        }
        this.#pending.set(event.id, { ...event, ts: event.ts ?? new Date().toISOString() });
        return;
      case "delivered": {
        const own = this.#pending.get(event.id);
        if (!own) return;
        this.#pending.delete(event.id);
        return this.#add(this.#ownMessage(own));
      }
      case "undelivered":
        this.#pending.delete(event.id);
        return;
    }
  }

  /** Our own message as recipients see it. */
  #ownMessage(own: Queued & { ts: string }): RoomMessage | DirectMessage {
    const common = {
      from: this.#me.user,
      device: this.#me.device,
      text: own.text,
      ts: own.ts,
      verified: true,
      trust: "verified" as const,
      ...(own.action ? { action: true as const } : {}),
    };
    return own.to !== undefined
      ? { type: "dm", to: own.to, ...common }
      : { type: "message", room: own.room ?? "", ...common };
  }

  #add(record: RoomMessage | DirectMessage): void {
    this.#store.add(record).catch((error) => {
      if (this.#failed) return;
      this.#failed = true;
      this.#onError(`Cannot keep the local history: ${(error as Error)?.message ?? error}`);
    });
  }
}
