/**
 * What the user typed and has not been settled yet: messages waiting for keys or a connection,
 * and frames on their way whose ack or refusal has not come back. Every message ends in
 * exactly one `delivered` or `undelivered`; nothing vanishes silently.
 *
 * It knows nothing of keys or sockets: the chat client asks it what to send next, tells it what
 * left and what came back, and it keeps the order, the deadlines, the bound and the pace.
 *
 * @module
 */

import type { WireLimits } from "../protocol/messages.ts";
import type { Plaintext } from "./e2e/payloads.ts";

/** A typed message waits at most this long for keys or a connection before it is reported undelivered. */
export const OUTBOX_TIMEOUT_MS = 60_000;
/** Most messages waiting to be sent. */
export const MAX_OUTBOX = 500;
/** Times a room message is sealed again because membership changed on its way, before giving up. */
export const MAX_RESEALS = 10;
/** Share of the server's rate the client uses for messages, leaving room for key frames. */
export const PACE_SHARE = 0.8;

/** A message the user typed. */
export type Outgoing =
  | {
    readonly kind: "room";
    readonly id: string;
    readonly room: string;
    readonly plain: Plaintext;
    readonly queuedAt: number;
    resealed: number;
  }
  | {
    readonly kind: "dm";
    readonly id: string;
    readonly to: string;
    readonly plain: Plaintext;
    readonly queuedAt: number;
    retried: boolean;
  };

/** One frame on its way: which message it carries, and what to tell the engine when it settles. */
export type InFlight =
  | {
    readonly kind: "room";
    readonly entry: Outgoing;
    readonly room: string;
    readonly epoch: number;
  }
  | {
    readonly kind: "dm";
    readonly entry: Outgoing;
    /** The session, or offline device's address, the copy went to. */
    readonly target: string;
    readonly epoch: number;
  };

/** The copies of one direct message still on their way. */
interface DirectParts {
  readonly pending: Set<string>;
  acked: number;
  stale: boolean;
  reason?: string;
}

/** What settling a frame means for its message. */
export type Settled =
  | { readonly outcome: "delivered"; readonly id: string; readonly recipients: number }
  | { readonly outcome: "undelivered"; readonly id: string; readonly reason: string }
  | { readonly outcome: "requeued" }
  | { readonly outcome: "pending" };

/** The queue and the frames in flight. */
export class Outbox {
  readonly #queue: Outgoing[] = [];
  readonly #inflight = new Map<string, InFlight>();
  readonly #parts = new Map<string, DirectParts>();
  #tokens = 0;
  #tokensAt = 0;

  constructor(private readonly timeoutMs = OUTBOX_TIMEOUT_MS) {}

  /** Messages waiting to be sent. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** True when nothing waits and nothing is on its way. */
  get idle(): boolean {
    return this.#queue.length === 0 && this.#inflight.size === 0;
  }

  /**
   * Adds a message at the back.
   *
   * @throws {RangeError} when {@linkcode MAX_OUTBOX} messages already wait.
   */
  add(entry: Outgoing): void {
    if (this.#queue.length >= MAX_OUTBOX) {
      throw new RangeError(`Already ${MAX_OUTBOX} messages waiting; wait a moment`);
    }
    this.#queue.push(entry);
  }

  /** The waiting messages, oldest first (a copy: the caller may remove while iterating). */
  entries(): Outgoing[] {
    return [...this.#queue];
  }

  /** Takes `entry` out of the queue (it was sent, or it failed). */
  remove(entry: Outgoing): void {
    const index = this.#queue.indexOf(entry);
    if (index >= 0) this.#queue.splice(index, 1);
  }

  /** Starts the pace for a new connection with the server's limits. */
  resetPace(limits: WireLimits, now: number): void {
    this.#tokens = limits.rateBurst * PACE_SHARE;
    this.#tokensAt = now;
  }

  /** Takes one frame of pace; false when sending now would go past the server's rate. */
  pace(limits: WireLimits, now: number): boolean {
    const rate = limits.ratePerSecond * PACE_SHARE;
    const burst = Math.max(1, limits.rateBurst * PACE_SHARE);
    this.#tokens = Math.min(burst, this.#tokens + ((now - this.#tokensAt) * rate) / 1000);
    this.#tokensAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Records a room message's frame on its way. */
  sentRoom(entry: Outgoing, room: string, epoch: number): void {
    this.#inflight.set(entry.id, { kind: "room", entry, room, epoch });
  }

  /** Records the copies of a direct message on their way, one frame id each. */
  sentDirect(entry: Outgoing, copies: { id: string; target: string; epoch: number }[]): void {
    this.#parts.set(entry.id, {
      pending: new Set(copies.map((c) => c.id)),
      acked: 0,
      stale: false,
    });
    for (const copy of copies) {
      this.#inflight.set(copy.id, { kind: "dm", entry, target: copy.target, epoch: copy.epoch });
    }
  }

  /** The frame `id` on its way, if it is one of ours. */
  inflight(id: string): InFlight | undefined {
    return this.#inflight.get(id);
  }

  /**
   * The server answered frame `id`: accepted (an `ack`), or refused with `code`. A room message
   * whose membership changed on the way is queued again at the front (up to
   * {@linkcode MAX_RESEALS} times); a direct message whose recipient's sessions changed is tried
   * once more.
   *
   * @returns the frame's record (undefined when it is not ours) and what it means for its message.
   */
  settle(
    id: string,
    answer: { accepted: true; recipients: number } | {
      accepted: false;
      code: string;
      reason: string;
    },
  ): { flight?: InFlight; settled: Settled } {
    const flight = this.#inflight.get(id);
    if (!flight) return { settled: { outcome: "pending" } };
    this.#inflight.delete(id);
    const entry = flight.entry;
    if (flight.kind === "room") {
      if (answer.accepted) {
        return { flight, settled: { outcome: "delivered", id, recipients: answer.recipients } };
      }
      if (
        answer.code === "membership_changed" && entry.kind === "room" &&
        entry.resealed < MAX_RESEALS
      ) {
        entry.resealed += 1;
        this.#queue.unshift(entry);
        return { flight, settled: { outcome: "requeued" } };
      }
      return { flight, settled: { outcome: "undelivered", id: entry.id, reason: answer.reason } };
    }
    const parts = this.#parts.get(entry.id)!;
    if (answer.accepted) {
      parts.acked += answer.recipients;
    } else {
      if (answer.code === "stale_session" || answer.code === "no_such_user") parts.stale = true;
      parts.reason = answer.reason;
    }
    return { flight, settled: this.#partDone(entry, parts, id) };
  }

  #partDone(entry: Outgoing, parts: DirectParts, id: string): Settled {
    parts.pending.delete(id);
    if (parts.pending.size > 0) return { outcome: "pending" };
    this.#parts.delete(entry.id);
    if (parts.acked > 0) return { outcome: "delivered", id: entry.id, recipients: parts.acked };
    if (parts.stale && entry.kind === "dm" && !entry.retried) {
      // The recipient's devices changed on the way: look them up again and send once more.
      entry.retried = true;
      this.#queue.unshift(entry);
      return { outcome: "requeued" };
    }
    return {
      outcome: "undelivered",
      id: entry.id,
      reason: parts.reason ?? "it could not be delivered",
    };
  }

  /** Every frame on its way (the connection is gone): each message once, with its frames. */
  dropInflight(): { entry: Outgoing; frames: InFlight[] }[] {
    const byEntry = new Map<Outgoing, InFlight[]>();
    for (const flight of this.#inflight.values()) {
      byEntry.set(flight.entry, [...(byEntry.get(flight.entry) ?? []), flight]);
    }
    this.#inflight.clear();
    this.#parts.clear();
    return [...byEntry].map(([entry, frames]) => ({ entry, frames }));
  }

  /** Takes every waiting message whose deadline has passed. */
  expired(now: number): Outgoing[] {
    const late = this.#queue.filter((entry) => now - entry.queuedAt > this.timeoutMs);
    for (const entry of late) this.remove(entry);
    return late;
  }

  /** Takes every waiting message (the client stops). */
  drain(): Outgoing[] {
    return this.#queue.splice(0);
  }

  /** The configured wait, for messages saying how long was waited. */
  get timeout(): number {
    return this.timeoutMs;
  }
}
