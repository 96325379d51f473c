/**
 * The embedded store: one SQLite file (`node:sqlite`) in the server's data directory, apart from
 * the CA's `openchat.db`. Several processes may open the same file (the server, `openchat`
 * commands, a second server in tests); they see each other's writes, and {@linkcode version}
 * tells a poller when another one wrote.
 *
 * @example
 * ```ts
 * import { join } from "node:path";
 * import { SqliteStore, STORE_FILE } from "./mod.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const store = await SqliteStore.open(join(dir, STORE_FILE));
 * await store.rooms.create("lobby", "alice", Date.now());
 * await store.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { Db, promised, type Synchronous } from "./sqlite_db.ts";
import { dropThrough, SqliteInbox } from "./sqlite_inbox.ts";
import { raiseFloor, SqliteLog } from "./sqlite_log.ts";
import { SqliteMembers } from "./sqlite_members.ts";
import { SqliteModeration } from "./sqlite_moderation.ts";
import { SqlitePrekeys } from "./sqlite_prekeys.ts";
import { SqliteRooms } from "./sqlite_rooms.ts";
import { pruneSessions, SqliteSessions } from "./sqlite_sessions.ts";
import type { ChatStore, PruneResult, StoreOptions } from "./types.ts";
import { checkDevice, checkTime, type ResolvedOptions, resolveOptions } from "./validate.ts";
import { InvalidInputError } from "./errors.ts";
import { SESSION_KEEP_FACTOR } from "./limits.ts";

export type { Synchronous } from "./sqlite_db.ts";

/** Options of the SQLite store: retention and bounds, and how hard commits are kept. */
export interface SqliteStoreOptions extends StoreOptions {
  /**
   * `normal` (the default): a commit survives the process being killed (`kill -9`), and the
   * database is never corrupted; a power cut or kernel crash may lose the last commits.
   * `full`: commits survive those too, at the price of an fsync per write (about ten times
   * slower appends).
   */
  synchronous?: Synchronous;
}

/** The store in one SQLite file. */
export class SqliteStore implements ChatStore {
  readonly rooms: SqliteRooms;
  readonly members: SqliteMembers;
  readonly moderation: SqliteModeration;
  readonly log: SqliteLog;
  readonly inbox: SqliteInbox;
  readonly prekeys: SqlitePrekeys;
  readonly sessions: SqliteSessions;
  /** Retention and bounds in force, defaults filled in. */
  readonly options: Readonly<ResolvedOptions>;
  readonly #db: Db;

  private constructor(db: Db, options: ResolvedOptions) {
    this.#db = db;
    this.options = Object.freeze(options);
    this.rooms = new SqliteRooms(db);
    this.members = new SqliteMembers(db);
    this.moderation = new SqliteModeration(db);
    this.log = new SqliteLog(db, options.maxMessagesPerRoom);
    this.inbox = new SqliteInbox(db, options.maxInboxItems);
    this.prekeys = new SqlitePrekeys(db);
    this.sessions = new SqliteSessions(db);
  }

  /**
   * Opens (creating if needed) the store at `path`, usually `join(dataDir, STORE_FILE)`.
   *
   * @throws {InvalidInputError} on a bad option.
   * @throws {StoreUnavailableError} when the file is not a usable store.
   */
  static open(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    return promised(() => {
      const resolved = resolveOptions(options);
      const synchronous = options.synchronous ?? "normal";
      if (synchronous !== "normal" && synchronous !== "full") {
        throw new InvalidInputError(`synchronous must be normal or full (received ${synchronous})`);
      }
      return new SqliteStore(Db.open(path, synchronous), resolved);
    });
  }

  prune(now: number): Promise<PruneResult> {
    return promised(() => {
      checkTime("now", now);
      const cutoff = now - this.options.retentionMs; // older than this (strictly) goes
      return this.#db.step(() => {
        const result: PruneResult = {
          roomEntries: 0,
          inboxItems: 0,
          listEntries: 0,
          sessions: 0,
        };
        // Everything up to the newest expired entry goes, so a log stays one unbroken range.
        const rooms = this.#db.all<{ room: string; seq: number }>(
          "SELECT room, MAX(seq) AS seq FROM room_log WHERE ts < ? GROUP BY room",
          cutoff,
        );
        for (const { room, seq } of rooms) result.roomEntries += raiseFloor(this.#db, room, seq);
        const devices = this.#db.all<{ device: string; seq: number }>(
          "SELECT device, MAX(seq) AS seq FROM inbox WHERE ts < ? GROUP BY device",
          cutoff,
        );
        for (const { device, seq } of devices) {
          result.inboxItems += dropThrough(this.#db, device, seq);
        }
        result.listEntries = this.#db.run(
          "DELETE FROM room_lists WHERE until IS NOT NULL AND until <= ?",
          now,
        );
        result.sessions = pruneSessions(
          this.#db,
          now - this.options.retentionMs * SESSION_KEEP_FACTOR,
        );
        return result;
      });
    });
  }

  forgetDevice(device: string): Promise<void> {
    return promised(() => {
      checkDevice(device);
      this.#db.step(() => {
        // Intervals go entirely: a device enrolled again under this label is a new device and
        // must read nothing the old one could.
        this.#db.run("DELETE FROM intervals WHERE device = ?", device);
        this.#db.run("DELETE FROM inbox WHERE device = ?", device);
        // The counter stays, so inbox numbers are never reused; what was deleted counts as read.
        this.#db.run("UPDATE inbox_seqs SET acked_through = last_seq WHERE device = ?", device);
        this.#db.run("DELETE FROM signed_prekeys WHERE device = ?", device);
        this.#db.run("DELETE FROM one_time_prekeys WHERE device = ?", device);
      });
    });
  }

  version(): Promise<number> {
    return promised(() =>
      this.#db.step(
        () => Number(this.#db.get<{ data_version: number }>("PRAGMA data_version")!.data_version),
        "single",
      )
    );
  }

  close(): Promise<void> {
    return promised(() => this.#db.close());
  }
}
