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

type LiveMessage = Extract<ServerMessage, { type: "msg" }>;
type LiveKeys = Extract<ServerMessage, { type: "keys" }>;

/** The catch-up of one connection. */
export class CatchUp {
  /** Rooms whose log is being read: live messages held meanwhile. */
  readonly #reading = new Map<string, LiveMessage[]>();
  #inboxUpTo = 0;
  /**
   * Live key packages that came while the inbox was being read, held until it is done. Without
   * this a sender that re-keys when this device comes back (its presence) hands over the new
   * epoch before the inbox hands over the older ones it sent meanwhile, and those, with every
   * stored message sealed under them, would look like replays (the engine accepts epochs of a
   * session only in increasing order). Undefined when the inbox is not being read.
   */
  #heldKeys: LiveKeys[] | undefined;
  /** Rooms this connection has joined (and caught up on, or is catching up on). */
  readonly #joined = new Set<string>();

  constructor(private readonly cursors: Cursors) {}

  /** The first request of a connection: the inbox after what was already read. */
  async start(): Promise<ClientMessage> {
    this.#heldKeys = [];
    return { type: "inbox", after: await this.cursors.inboxCursor() };
  }

  /**
   * True when the live key package `message` is held until the inbox is read (see
   * {@linkcode CatchUp.inboxRead}). Past {@linkcode MAX_HELD_LIVE} held, the rest are handled at
   * once, as before there was an inbox.
   */
  holdKeys(message: LiveKeys): boolean {
    const held = this.#heldKeys;
    if (!held || held.length >= MAX_HELD_LIVE) return false;
    held.push(message);
    return true;
  }

  /** The live key packages held while the inbox was read, once its last batch was (else none). */
  keysAfterInbox(message: Extract<ServerMessage, { type: "inbox" }>): LiveKeys[] {
    if (!message.done) return [];
    const held = this.#heldKeys ?? [];
    this.#heldKeys = undefined;
    return held;
  }

  /**
   * A batch of the inbox was handled; on its last one, the acknowledgement to send (the
   * server then deletes what this device has read).
   */
  async inboxRead(message: Extract<ServerMessage, { type: "inbox" }>): Promise<ClientMessage[]> {
    for (const item of message.items) this.#inboxUpTo = Math.max(this.#inboxUpTo, item.seq);
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
