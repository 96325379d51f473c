/**
 * Catching up after being offline, for one connection: first this device's inbox (the chain keys
 * and direct messages sent to it while it was away), then each room's log from the last
 * sequence number it has read, then live traffic, with no gap and no duplicate. It decides what
 * to ask for and what to hold back; the chat client sends, and the engine verifies and opens.
 *
 * Live traffic is held, in arrival order, while what came before it is still being read:
 * - while the inbox is read, every frame the server sends but the inbox's own: a sender that
 *   re-keys when this device comes back hands over its new epoch live before the inbox hands over
 *   the older ones it sent meanwhile, and those (with everything sealed under them) would look
 *   like replays, since a session's epochs are accepted only in increasing order; holding all of
 *   it keeps membership changes in their place among the messages;
 * - while a room's log is read, that room's live messages and key packages: a new chain's package
 *   says how many messages the chain before it carried, and those are in the log, not missing.
 * Then the held frames are handled in order, and a room message at or below the last sequence
 * already read is dropped as a duplicate.
 *
 * @module
 */

import type { ClientMessage, ServerMessage } from "../protocol/messages.ts";

/** Where a device remembers how far it has read (its local store; memory in tests). */
export interface Cursors {
  lastSeq(room: string): Promise<number>;
  setLastSeq(room: string, seq: number): Promise<void>;
  inboxCursor(): Promise<number>;
  setInboxCursor(seq: number): Promise<void>;
}

/** Cursors kept in memory: they last as long as the process. */
export class MemoryCursors implements Cursors {
  readonly #rooms = new Map<string, number>();
  #inbox = 0;
  lastSeq(room: string): Promise<number> {
    return Promise.resolve(this.#rooms.get(room) ?? 0);
  }
  setLastSeq(room: string, seq: number): Promise<void> {
    this.#rooms.set(room, Math.max(seq, this.#rooms.get(room) ?? 0));
    return Promise.resolve();
  }
  inboxCursor(): Promise<number> {
    return Promise.resolve(this.#inbox);
  }
  setInboxCursor(seq: number): Promise<void> {
    this.#inbox = Math.max(seq, this.#inbox);
    return Promise.resolve();
  }
}

/**
 * Most live frames held while the inbox is read, and per room while its log is read. Past it a
 * frame is handled at once (a room message would come in the log too).
 */
export const MAX_HELD_LIVE = 1000;
/** Most frames held while the inbox is read (it is read first, and quickly); past it, at once. */
export const MAX_HELD_DURING_INBOX = 10_000;

/** Live traffic that catch-up may hold: room and direct messages, key packages. */
export type LiveFrame = Extract<ServerMessage, { type: "msg" | "keys" | "dm" }>;

/** The catch-up of one connection. */
export class CatchUp {
  /** Rooms whose log is being read: their live frames held meanwhile. */
  readonly #reading = new Map<string, LiveFrame[]>();
  /** Frames held while the inbox is read; undefined when it is not being read. */
  #inboxHeld: ServerMessage[] | undefined;
  /** Frames no longer held, for the caller to handle in this order (see `releaseHeld`). */
  readonly #released: ServerMessage[] = [];
  #inboxUpTo = 0;
  /** Rooms this connection has joined (and caught up on, or is catching up on). */
  readonly #joined = new Set<string>();

  constructor(private readonly cursors: Cursors) {}

  /** The first request of a connection: the inbox after what was already read. */
  async start(): Promise<ClientMessage> {
    this.#inboxHeld = [];
    return { type: "inbox", after: await this.cursors.inboxCursor() };
  }

  /**
   * A batch of the inbox was handled; on its last one, the acknowledgement to send (the
   * server then deletes what this device has read).
   */
  async inboxRead(message: Extract<ServerMessage, { type: "inbox" }>): Promise<ClientMessage[]> {
    for (const item of message.items) this.#inboxUpTo = Math.max(this.#inboxUpTo, item.seq);
    if (message.done) this.#inboxDone();
    if (!message.done || this.#inboxUpTo === 0) return [];
    await this.cursors.setInboxCursor(this.#inboxUpTo);
    return [{ type: "inbox_ack", upto: this.#inboxUpTo }];
  }

  /**
   * The session joined `room`, whose log reached `seq`: asks for what this device missed, if
   * anything, and holds live messages until it has read it.
   */
  async joined(room: string, seq: number): Promise<ClientMessage | undefined> {
    // The server answers a `join` of a room the session is in with `joined` again: once is enough.
    if (this.#joined.has(room)) return undefined;
    this.#joined.add(room);
    const after = await this.cursors.lastSeq(room);
    if (after >= seq) return undefined;
    this.#reading.set(room, []);
    return { type: "history", room, after };
  }

  /**
   * The server could not give the inbox (`store_unavailable`): what was held goes on without it.
   */
  inboxFailed(): void {
    this.#inboxDone();
  }

  /** The inbox was read (or refused): what was held meanwhile goes on. */
  #inboxDone(): void {
    this.#released.push(...this.#inboxHeld ?? []);
    this.#inboxHeld = undefined;
  }

  /**
   * True when `message` is held until the inbox has been read: every frame but the inbox's own
   * and errors (one may be the inbox's refusal). At most {@linkcode MAX_HELD_DURING_INBOX}.
   */
  holdForInbox(message: ServerMessage): boolean {
    const held = this.#inboxHeld;
    if (!held || message.type === "inbox" || message.type === "error") return false;
    if (held.length >= MAX_HELD_DURING_INBOX) return false;
    held.push(message);
    return true;
  }

  /** What was held while the inbox was read, once it was (or was refused), in arrival order. */
  releaseHeld(): ServerMessage[] {
    return this.#released.splice(0);
  }

  /**
   * True when the live `message` is held: its room's log is being read. (Outside catch-up a live
   * message is always handled, even one at a sequence already read: only a replay can be that,
   * and the engine refuses and reports it.)
   */
  hold(message: LiveFrame): boolean {
    const room = "room" in message ? message.room : undefined;
    const held = room === undefined ? undefined : this.#reading.get(room);
    if (!held) return false;
    if (held.length < MAX_HELD_LIVE) held.push(message);
    else if (message.type !== "msg") return false; // a room message past it comes in the log
    return true;
  }

  /** A batch of `room`'s log was read; on its last one, the live frames held meanwhile. */
  async historyRead(
    message: Extract<ServerMessage, { type: "history" }>,
  ): Promise<LiveFrame[]> {
    const last = message.entries.at(-1);
    if (last) await this.cursors.setLastSeq(message.room, last.seq);
    if (!message.done) return [];
    const held = this.#reading.get(message.room) ?? [];
    this.#reading.delete(message.room);
    const after = await this.cursors.lastSeq(message.room);
    return held.filter((live) => live.type !== "msg" || live.seq > after);
  }

  /** A message of `room` with `seq` was read (or sent by us): it is not read again. */
  async seen(room: string, seq: number): Promise<void> {
    if (seq > 0) await this.cursors.setLastSeq(room, seq);
  }
}
