/**
 * Who is online where, across the cluster: a key-value bucket with one record per device that
 * has a session (`USER.DEVICE` to the session id, the server it is on and its description), and
 * a bucket of server heartbeats. Each server keeps a copy of both in memory, updated as they
 * change, so that finding a session elsewhere costs no round trip.
 *
 * A record names one session per device: a login anywhere overwrites it, and the server that
 * held the older session sees its record change and closes that session (`replaced`). A
 * server's own writes are compare-and-set on the revision it last wrote, so a late update of an
 * older session can never overwrite a newer login. A server whose heartbeat has not been seen
 * for {@linkcode SERVER_TIMEOUT_MS} (while this one was connected all along) is dead: its
 * sessions count as ended.
 *
 * @module
 */

import type { KV, KvEntry } from "@nats-io/kv";
import type { NatsLink } from "./nats_link.ts";
import type { StoreNames } from "./nats_names.ts";
import { isExists } from "./nats_kv.ts";
import type { Logger } from "../log.ts";
import type { Session } from "../session.ts";

/** How often a server says it is alive. */
export const HEARTBEAT_MS = 500;
/** Silence after which a server counts as dead. */
export const SERVER_TIMEOUT_MS = 3_000;

/** One device's live session, as the directory keeps it. */
export interface PresenceRecord {
  session: string;
  server: string;
  user: string;
  device: string;
  announce?: string;
  agreement?: string;
  link?: string;
}

const NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** Parses a record as stored; anything malformed is `undefined` (and ignored). */
function parsePresence(entry: KvEntry): PresenceRecord | undefined {
  if (entry.operation !== "PUT") return undefined;
  try {
    const r = entry.json<PresenceRecord>();
    const text = (v: unknown) => v === undefined || (typeof v === "string" && v.length <= 8192);
    if (
      TOKEN.test(r.session) && TOKEN.test(r.server) && NAME.test(r.user) && NAME.test(r.device) &&
      text(r.announce) && text(r.agreement) && text(r.link)
    ) return r;
  } catch {
    // ignored below
  }
  return undefined;
}

/** What the directory tells its owner. */
export interface DirectoryEvents {
  /** The record of `key` (`user.device`) changed or went away. */
  changed(key: string, record: PresenceRecord | undefined): void;
}

/** The cluster's directory of live sessions and servers. */
export class Directory {
  readonly #records = new Map<string, { record?: PresenceRecord; revision: number }>();
  readonly #byId = new Map<string, PresenceRecord>();
  /** Server id to the monotonic time its heartbeat was last seen. */
  readonly #servers = new Map<string, number>();
  /** Revision of the record each local session last wrote. */
  readonly #own = new Map<string, number>();
  #watchingSince = performance.now();
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;
  #presence!: KV;
  #heartbeats!: KV;

  constructor(
    private readonly link: NatsLink,
    private readonly names: StoreNames,
    /** This server's id. */
    readonly serverId: string,
    private readonly log: Logger,
    private readonly events: DirectoryEvents,
  ) {}

  /** Opens the buckets, reads them, and follows their changes. */
  async start(): Promise<void> {
    this.#presence = await this.link.kvm.create(this.names.presenceBucket, { history: 1 });
    this.#heartbeats = await this.link.kvm.create(this.names.serversBucket, { history: 1 });
    await this.#follow(this.#presence, (entry) => this.#presenceChanged(entry));
    await this.#follow(this.#heartbeats, (entry) => {
      if (entry.operation === "PUT") this.#servers.set(entry.key, performance.now());
      else this.#servers.delete(entry.key);
    });
    await this.#beat();
    this.#timer = setInterval(() => void this.#beat(), HEARTBEAT_MS);
    this.link.onState((state) => {
      // Silence heard while we were cut off proves nothing about the others.
      if (state === "up") this.#watchingSince = performance.now();
    });
  }

  /** Stops beating and following. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#heartbeats?.delete(this.serverId).catch(() => {});
  }

  /** Watches `kv` for updates, after reading what it holds now; newer revisions win. */
  async #follow(kv: KV, apply: (entry: KvEntry) => void): Promise<void> {
    const seen = new Map<string, number>();
    const take = (entry: KvEntry) => {
      if ((seen.get(entry.key) ?? 0) >= entry.revision) return;
      seen.set(entry.key, entry.revision);
      apply(entry);
    };
    const updates = await kv.watch({ include: "updates" });
    void (async () => {
      for await (const entry of updates) {
        if (this.#stopped) break;
        take(entry);
      }
    })();
    for await (const key of await kv.keys()) {
      const entry = await kv.get(key);
      if (entry) take(entry);
    }
  }

  #presenceChanged(entry: KvEntry): void {
    const before = this.#records.get(entry.key)?.record;
    if (before) this.#byId.delete(before.session);
    const record = parsePresence(entry);
    this.#records.set(entry.key, { record, revision: entry.revision });
    if (record) this.#byId.set(record.session, record);
    this.events.changed(entry.key, record);
  }

  async #beat(): Promise<void> {
    if (this.#stopped || this.link.state !== "up") return;
    try {
      await this.#heartbeats.put(this.serverId, JSON.stringify({ at: Date.now() }));
    } catch {
      // NATS away: the link logs it; the next beat tries again.
    }
  }

  /** True while server `id` is alive (this one always is). */
  serverAlive(id: string): boolean {
    if (id === this.serverId) return true;
    const now = performance.now();
    if (now - this.#watchingSince < SERVER_TIMEOUT_MS) return true;
    const seen = this.#servers.get(id);
    return seen !== undefined && now - seen < SERVER_TIMEOUT_MS;
  }

  /** The live record of session `id` (on a server alive), if any. */
  byId(id: string): PresenceRecord | undefined {
    const record = this.#byId.get(id);
    return record && this.serverAlive(record.server) ? record : undefined;
  }

  /** The live records of `user`'s devices. */
  ofUser(user: string): PresenceRecord[] {
    const found: PresenceRecord[] = [];
    for (const [key, { record }] of this.#records) {
      if (record && key.startsWith(`${user}.`) && this.serverAlive(record.server)) {
        found.push(record);
      }
    }
    return found;
  }

  /** The record of device `user.device`, live or not. */
  ofDevice(user: string, device: string): PresenceRecord | undefined {
    return this.#records.get(`${user}.${device}`)?.record;
  }

  /**
   * Puts (or updates) the record of local `session`. A first put overwrites whatever the device
   * had (a new login replaces the old one anywhere); later puts are compare-and-set, and
   * return false when another login took the device meanwhile.
   */
  async put(session: Session): Promise<boolean> {
    const key = `${session.user}.${session.device}`;
    const record: PresenceRecord = {
      session: session.id,
      server: this.serverId,
      user: session.user,
      device: session.device,
      ...(session.announce ? { announce: session.announce } : {}),
      ...(session.agreement ? { agreement: session.agreement } : {}),
      ...(session.link ? { link: session.link } : {}),
    };
    const own = this.#own.get(session.id);
    try {
      const revision = own === undefined
        ? await this.#presence.put(key, JSON.stringify(record))
        : await this.#presence.update(key, JSON.stringify(record), own);
      this.#own.set(session.id, revision);
      return true;
    } catch (error) {
      if (isExists(error)) return false;
      throw error;
    }
  }

  /** Deletes local `session`'s record, if it still names it. */
  async remove(session: Session): Promise<void> {
    const own = this.#own.get(session.id);
    this.#own.delete(session.id);
    if (own === undefined) return;
    await this.#presence.delete(`${session.user}.${session.device}`, { previousSeq: own })
      .catch((error) => {
        if (!isExists(error)) {
          this.log.log("warn", "presence_remove_failed", { error: String(error) });
        }
      });
  }

  /** Whether local session `id` has a record of its own (it was put and not replaced). */
  owns(id: string): boolean {
    return this.#own.has(id);
  }
}
