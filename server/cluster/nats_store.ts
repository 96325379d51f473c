/**
 * The cluster's store: {@linkcode ChatStore} over NATS JetStream and one key-value bucket,
 * shared by every server of a cluster (see `nats_log.ts`, `nats_inbox.ts`, `nats_records.ts`
 * for what lives where). It passes the same conformance suite as the embedded SQLite store
 * (`nats_store_test.ts`, against a real `nats-server`).
 *
 * Every call checks its input with the same rules as SQLite, and any failure of NATS (away, a
 * timeout) rejects with `StoreUnavailableError`, which the server reports as
 * `store_unavailable`; nothing half-done is reported as done.
 *
 * @module
 */

import type { KV } from "@nats-io/kv";
import type { NatsLink } from "./nats_link.ts";
import { DEFAULT_PREFIX, StoreNames } from "./nats_names.ts";
import { NatsLog } from "./nats_log.ts";
import { NatsInbox } from "./nats_inbox.ts";
import {
  NatsMembers,
  NatsModeration,
  NatsPrekeys,
  NatsRooms,
  NatsSessions,
} from "./nats_records.ts";
import { asStoreError } from "./nats_errors.ts";
import { StoreUnavailableError } from "../store/errors.ts";
import { SESSION_KEEP_FACTOR } from "../store/limits.ts";
import type { ChatStore, PruneResult, StoreOptions } from "../store/types.ts";
import { checkDevice, checkTime, type ResolvedOptions, resolveOptions } from "../store/validate.ts";

/** Options of {@linkcode NatsStore.open}. */
export interface NatsStoreOptions extends StoreOptions {
  /** Keeps this deployment's streams and bucket apart from others on the same NATS. */
  prefix?: string;
}

/**
 * Wraps every method of `part` so that a closed store refuses, and any failure becomes a store
 * error (see `nats_errors.ts`).
 */
function guarded<T extends object>(part: T, isClosed: () => boolean, link: NatsLink): T {
  return new Proxy(part, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return async (...args: unknown[]) => {
        if (isClosed()) throw new StoreUnavailableError("the store is closed");
        // Refused at once while NATS is away, rather than queued for when it returns: the
        // client is told now, and nothing it was told failed lands later.
        if (link.state !== "up") throw new StoreUnavailableError("NATS is unreachable");
        try {
          return await value.apply(target, args);
        } catch (error) {
          throw asStoreError(error, String(property));
        }
      };
    },
  });
}

/** The store of a cluster, over NATS. */
export class NatsStore implements ChatStore {
  readonly rooms: NatsRooms;
  readonly members: NatsMembers;
  readonly moderation: NatsModeration;
  readonly log: NatsLog;
  readonly inbox: NatsInbox;
  readonly prekeys: NatsPrekeys;
  readonly sessions: NatsSessions;
  /** Retention and bounds in force. */
  readonly options: Readonly<ResolvedOptions>;
  readonly names: StoreNames;
  readonly #kv: KV;
  /** The unguarded parts, for the store's own whole-store work. */
  readonly #raw: {
    log: NatsLog;
    inbox: NatsInbox;
    prekeys: NatsPrekeys;
    sessions: NatsSessions;
    moderation: NatsModeration;
  };
  #closed = false;

  private constructor(
    readonly link: NatsLink,
    kv: KV,
    names: StoreNames,
    options: ResolvedOptions,
  ) {
    this.#kv = kv;
    this.names = names;
    this.options = Object.freeze(options);
    const log = new NatsLog(link, kv, names, options.maxMessagesPerRoom);
    const inbox = new NatsInbox(link, kv, names, options.maxInboxItems);
    const prekeys = new NatsPrekeys(kv);
    const sessions = new NatsSessions(kv);
    const moderation = new NatsModeration(kv);
    this.#raw = { log, inbox, prekeys, sessions, moderation };
    const closed = () => this.#closed;
    this.log = guarded(log, closed, link);
    this.inbox = guarded(inbox, closed, link);
    this.prekeys = guarded(prekeys, closed, link);
    this.sessions = guarded(sessions, closed, link);
    this.moderation = guarded(moderation, closed, link);
    this.rooms = guarded(new NatsRooms(kv, log), closed, link);
    this.members = guarded(new NatsMembers(kv, log), closed, link);
  }

  /**
   * Opens the store on `link`, making its bucket and inbox stream if they do not exist yet
   * (room streams are made on first use). The connection stays the caller's to close.
   *
   * @throws {InvalidInputError} on a bad option.
   * @throws {StoreUnavailableError} when NATS refuses or does not answer.
   */
  static async open(link: NatsLink, options: NatsStoreOptions = {}): Promise<NatsStore> {
    const resolved = resolveOptions(options);
    const names = new StoreNames(options.prefix ?? DEFAULT_PREFIX);
    try {
      const kv = await link.kvm.create(names.bucket, { history: 1 });
      const store = new NatsStore(link, kv, names, resolved);
      await store.#raw.inbox.ensureStream();
      return store;
    } catch (error) {
      throw asStoreError(error, "open the store");
    }
  }

  async prune(now: number): Promise<PruneResult> {
    this.#check();
    checkTime("now", now);
    const cutoff = now - this.options.retentionMs; // older than this (strictly) goes
    try {
      return {
        roomEntries: await this.#raw.log.prune(cutoff),
        inboxItems: await this.#raw.inbox.prune(cutoff),
        listEntries: await this.#raw.moderation.prune(now),
        sessions: await this.#raw.sessions.prune(
          now - this.options.retentionMs * SESSION_KEEP_FACTOR,
        ),
      };
    } catch (error) {
      throw asStoreError(error, "apply retention");
    }
  }

  async forgetDevice(device: string): Promise<void> {
    this.#check();
    const { user, label } = checkDevice(device);
    try {
      // Intervals go entirely: a device enrolled again under this label is a new device.
      await this.#raw.log.forgetDevice(user, label);
      await this.#raw.inbox.forget(device);
      await this.#raw.prekeys.forget(device);
    } catch (error) {
      throw asStoreError(error, "forget a device");
    }
  }

  async version(): Promise<number> {
    this.#check();
    try {
      const status = await this.#kv.status();
      return status.streamInfo.state.last_seq;
    } catch (error) {
      throw asStoreError(error, "read the store's version");
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  /** Deletes this store's bucket and streams (tests). */
  async destroy(): Promise<void> {
    this.#closed = true;
    const jsm = this.link.jsm;
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(`${this.names.prefix}_`) || name === `KV_${this.names.bucket}`) {
        await jsm.streams.delete(name).catch(() => {});
      }
    }
  }

  #check(): void {
    if (this.#closed) throw new StoreUnavailableError("the store is closed");
  }
}
