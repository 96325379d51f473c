/**
 * One server's copy of one room's position, kept by following the room's stream from where it
 * started: every record (message or event) is handed to the owner in stream order, once, and
 * whoever waits for a stream sequence (a turn that just published) is woken when it has been
 * applied. The ordered consumer of the NATS client recreates itself after a reconnect, from
 * the last record it delivered, so a replica never skips one.
 *
 * @module
 */

import { DeliverPolicy } from "@nats-io/jetstream";
import type { ConsumerMessages } from "@nats-io/jetstream";
import type { NatsLink } from "./nats_link.ts";
import { parseRecord, type RoomRecord } from "./nats_log.ts";
import { StoreUnavailableError } from "../store/errors.ts";

/** How long a turn waits for its own record to come back from the stream. */
export const APPLY_TIMEOUT_MS = 5_000;

/** The position of a room as this server has applied it. */
export class Replica {
  /** Stream sequence of the last record applied. */
  streamSeq: number;
  /** The room's log sequence after it. */
  log: number;
  /** The room's membership version after it. */
  ver: number;
  /** Turns running on this room (it is not dropped while any runs). */
  turns = 0;
  /**
   * Moderators' events applied so far: a check made against the store before a turn still
   * holds in the turn if this has not moved since (`ClusterDelivery.relay`).
   */
  moderated = 0;
  #waiters: { seq: number; resolve: () => void }[] = [];
  #messages: ConsumerMessages | undefined;
  #stopped = false;

  constructor(readonly room: string, start: { streamSeq: number; log: number; ver: number }) {
    this.streamSeq = start.streamSeq;
    this.log = start.log;
    this.ver = start.ver;
  }

  /**
   * Follows `stream` after the start position, handing each record to `apply` (in order; a
   * record that does not parse is handed as `undefined`).
   */
  async follow(
    link: NatsLink,
    stream: string,
    apply: (seq: number, record: RoomRecord | undefined) => void,
  ): Promise<void> {
    const consumer = await link.js.consumers.get(stream, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.streamSeq + 1,
    });
    if (this.#stopped) return;
    const messages = await consumer.consume();
    this.#messages = messages;
    void (async () => {
      for await (const message of messages) {
        if (this.#stopped) break;
        if (message.seq <= this.streamSeq) continue;
        apply(message.seq, parseRecord(message.data));
      }
    })();
  }

  /** Marks `seq` applied and wakes whoever waited for it. */
  applied(seq: number): void {
    this.streamSeq = seq;
    const ready = this.#waiters.filter((w) => w.seq <= seq);
    this.#waiters = this.#waiters.filter((w) => w.seq > seq);
    for (const waiter of ready) waiter.resolve();
  }

  /**
   * Resolves once stream sequence `seq` has been applied here.
   *
   * @throws {StoreUnavailableError} after {@linkcode APPLY_TIMEOUT_MS} (NATS away or slow).
   */
  until(seq: number): Promise<void> {
    if (this.streamSeq >= seq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new StoreUnavailableError(`room ${this.room} did not reach ${seq} in time`));
      }, APPLY_TIMEOUT_MS);
      const waiter = {
        seq,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** Stops following. */
  stop(): void {
    this.#stopped = true;
    void this.#messages?.close().catch(() => {});
    for (const waiter of this.#waiters.splice(0)) waiter.resolve();
  }
}
