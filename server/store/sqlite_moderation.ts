/**
 * Roles and the ban, mute and invite lists in SQLite. Expiry is evaluated at read time against
 * the caller's `now`; `prune` deletes what has expired.
 *
 * @module
 */

import { type Db, promised } from "./sqlite_db.ts";
import { LimitError } from "./errors.ts";
import { MAX_LIST_ENTRIES } from "./limits.ts";
import { requireRoom } from "./sqlite_rooms.ts";
import type { ListEntry, ListEntryInput, ListKind, ModerationStore, Role } from "./types.ts";
import {
  checkListEntry,
  checkListKind,
  checkName,
  checkRole,
  checkRoom,
  checkTime,
} from "./validate.ts";

interface ListRow {
  room: string;
  kind: ListKind;
  username: string;
  by_user: string;
  reason: string;
  at: number;
  until: number | null;
}

const fromRow = (row: ListRow): ListEntry => ({
  room: row.room,
  kind: row.kind,
  user: row.username,
  by: row.by_user,
  reason: row.reason,
  at: row.at,
  until: row.until,
});

/** An entry is in force while it has no end or its end is still to come. */
const IN_FORCE = "(until IS NULL OR until > ?)";

/** The moderation part of {@linkcode SqliteStore}. */
export class SqliteModeration implements ModerationStore {
  constructor(private readonly db: Db) {}

  setRole(room: string, user: string, role: Role | null): Promise<void> {
    return promised(() => {
      checkRoom(room);
      checkName("user", user);
      checkRole(role);
      this.db.step(() => {
        requireRoom(this.db, room);
        if (role === null) {
          this.db.run("DELETE FROM roles WHERE room = ? AND username = ?", room, user);
        } else {
          this.db.run(
            "INSERT OR REPLACE INTO roles (room, username, role) VALUES (?, ?, ?)",
            room,
            user,
            role,
          );
        }
      });
    });
  }

  roleOf(room: string, user: string): Promise<Role | null> {
    return promised(() => {
      checkRoom(room);
      checkName("user", user);
      return this.db.step(
        () =>
          this.db.get<{ role: Role }>(
            "SELECT role FROM roles WHERE room = ? AND username = ?",
            room,
            user,
          ),
        "single",
      )?.role ?? null;
    });
  }

  putListEntry(
    room: string,
    kind: ListKind,
    user: string,
    entry: ListEntryInput,
  ): Promise<void> {
    return promised(() => {
      checkRoom(room);
      checkListKind(kind);
      checkName("user", user);
      const { by, reason, at, until } = checkListEntry(entry);
      this.db.step(() => {
        requireRoom(this.db, room);
        // Entries that have lifted do not count against the bound (`at` is the caller's now).
        const others = this.db.get<{ n: number }>(
          `SELECT COUNT(*) AS n FROM room_lists
           WHERE room = ? AND kind = ? AND username != ? AND ${IN_FORCE}`,
          room,
          kind,
          user,
          at,
        )!.n;
        if (others >= MAX_LIST_ENTRIES) {
          throw new LimitError(
            `the ${kind} list of ${room} already holds ${MAX_LIST_ENTRIES} entries`,
          );
        }
        this.db.run(
          `INSERT OR REPLACE INTO room_lists (room, kind, username, by_user, reason, at, until)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
          room,
          kind,
          user,
          by,
          reason,
          at,
          until,
        );
      });
    });
  }

  removeListEntry(room: string, kind: ListKind, user: string): Promise<boolean> {
    return promised(() => {
      checkRoom(room);
      checkListKind(kind);
      checkName("user", user);
      return this.db.step(
        () =>
          this.db.run(
            "DELETE FROM room_lists WHERE room = ? AND kind = ? AND username = ?",
            room,
            kind,
            user,
          ) === 1,
        "single",
      );
    });
  }

  getListEntry(
    room: string,
    kind: ListKind,
    user: string,
    now: number,
  ): Promise<ListEntry | undefined> {
    return promised(() => {
      checkRoom(room);
      checkListKind(kind);
      checkName("user", user);
      checkTime("now", now);
      const row = this.db.step(
        () =>
          this.db.get<ListRow>(
            `SELECT * FROM room_lists WHERE room = ? AND kind = ? AND username = ? AND ${IN_FORCE}`,
            room,
            kind,
            user,
            now,
          ),
        "single",
      );
      return row && fromRow(row);
    });
  }

  listEntries(room: string, kind: ListKind, now: number): Promise<ListEntry[]> {
    return promised(() => {
      checkRoom(room);
      checkListKind(kind);
      checkTime("now", now);
      return this.db.step(
        () =>
          this.db.all<ListRow>(
            `SELECT * FROM room_lists WHERE room = ? AND kind = ? AND ${IN_FORCE}
             ORDER BY username`,
            room,
            kind,
            now,
          ),
        "single",
      ).map(fromRow);
    });
  }
}
