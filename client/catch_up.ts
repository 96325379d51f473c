/**
 * Catching up after being offline, for one connection: first this device's inbox (the chain keys
 * and direct messages sent to it while it was away), then each room's log from the last
 * sequence number it has read, then live traffic, with no gap and no duplicate. It decides what
 * to ask for and what to hold back; the chat client sends, and the engine verifies and opens.
 *
 * Live messages of a room whose log is still being read are held, then released in order, and
 * anything at or below the last sequence already read is dropped as a duplicate.
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

/** Most live messages held per room while its log is read (the rest arrive in the log too). */
export const MAX_HELD_LIVE = 1000;
/** Most frames held while the inbox is read (it is read first, and quickly). */
export const MAX_HELD_DURING_INBOX = 10_000;

type LiveMessage = Extract<ServerMessage, { type: "msg" }>;

/** The catch-up of one connection. */
export class CatchUp {
  /** Rooms whose log is being read: live messages held meanwhile. */
  readonly #reading = new Map<string, LiveMessage[]>();
  #inboxUpTo = 0;
  /**
   * Everything else the server sent while the inbox was being read, in order: what waited in
   * the inbox is older than what comes live (a sender's live key package for an epoch after the
   * one it left in the inbox), so the inbox goes first. Undefined once the inbox was read (or
   * when none is read).
   */
  #held: ServerMessage[] | undefined;
  #inboxDone = false;
  /** Rooms this connection has joined (and caught up on, or is catching up on). */
  readonly #joined = new Set<string>();

  constructor(private readonly cursors: Cursors) {}

  /** The first request of a connection: the inbox after what was already read. */
  async start(): Promise<ClientMessage> {
    this.#held = [];
    return { type: "inbox", after: await this.cursors.inboxCursor() };
  }

  /**
   * A batch of the inbox was handled; on its last one, the acknowledgement to send (the
   * server then deletes what this device has read).
   */
  async inboxRead(message: Extract<ServerMessage, { type: "inbox" }>): Promise<ClientMessage[]> {
    for (const item of message.items) this.#inboxUpTo = Math.max(this.#inboxUpTo, item.seq);
    if (message.done) this.#inboxDone = true;
    if (!message.done || this.#inboxUpTo === 0) return [];
    await this.cursors.setInboxCursor(this.#inboxUpTo);
    return [{ type: "inbox_ack", upto: this.#inboxUpTo }];
  }

  /**
   * True when `message` is held until the inbox has been read (every frame but the inbox's own);
   * {@linkcode releaseHeld} hands them back then, in order. At most
   * {@linkcode MAX_HELD_DURING_INBOX} are held; past that they are handled at once.
   */
  holdForInbox(message: ServerMessage): boolean {
    const held = this.#held;
    if (!held || this.#inboxDone || message.type === "inbox") return false;
    // A refusal (the inbox could not be read: store_unavailable) ends the wait: nothing is
    // held for an answer that will not come.
    if (message.type === "error") {
      this.#inboxDone = true;
      return false;
    }
    if (held.length >= MAX_HELD_DURING_INBOX) return false;
    held.push(message);
    return true;
  }

  /** Once the inbox was read: what the server sent meanwhile, in the order it came. */
  releaseHeld(): ServerMessage[] {
    if (!this.#inboxDone) return [];
    const held = this.#held ?? [];
    this.#held = undefined;
    return held;
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
   * True when `message` is held: its room's log is being read. (Outside catch-up a live message
   * is always handled, even one at a sequence already read: only a replay can be that, and the
   * engine refuses and reports it.)
   */
  hold(message: LiveMessage): boolean {
    const held = this.#reading.get(message.room);
    if (!held) return false;
    if (held.length < MAX_HELD_LIVE) held.push(message);
    return true;
  }

  /** A batch of `room`'s log was read; on its last one, the live messages held meanwhile. */
  async historyRead(message: Extract<ServerMessage, { type: "history" }>): Promise<LiveMessage[]> {
    const last = message.entries.at(-1);
    if (last) await this.cursors.setLastSeq(message.room, last.seq);
    if (!message.done) return [];
    const held = this.#reading.get(message.room) ?? [];
    this.#reading.delete(message.room);
    const after = await this.cursors.lastSeq(message.room);
    return held.filter((live) => live.seq > after);
  }

  /** A message of `room` with `seq` was read (or sent by us): it is not read again. */
  async seen(room: string, seq: number): Promise<void> {
    if (seq > 0) await this.cursors.setLastSeq(room, seq);
  }
}
