/**
 * Memberships in SQLite. Leaving closes the user's device intervals in the same transaction, so
 * no path ends a membership and leaves a device able to read on.
 *
 * @module
 */

import { type Db, promised } from "./sqlite_db.ts";
import { requireRoom } from "./sqlite_rooms.ts";
import type { Member, MembershipStore, Role } from "./types.ts";
import { checkName, checkRoom, checkTime } from "./validate.ts";

/**
 * Closes, in `room`, the open intervals that `where` selects (a SQL condition on the intervals
 * table with its parameters) before the room's next sequence number; intervals left empty are
 * removed. Call inside a write step.
 */
export function closeIntervals(db: Db, room: string, where: string, ...params: string[]): number {
  const next = (db.get<{ last_seq: number }>(
    "SELECT last_seq FROM room_seqs WHERE room = ?",
    room,
  )?.last_seq ?? 0) + 1;
  const closed = db.run(
    `UPDATE intervals SET to_seq = ? WHERE room = ? AND to_seq IS NULL AND ${where}`,
    next,
    room,
    ...params,
  );
  db.run("DELETE FROM intervals WHERE room = ? AND to_seq = from_seq", room);
  return closed;
}

/** The membership part of {@linkcode SqliteStore}. */
export class SqliteMembers implements MembershipStore {
  constructor(private readonly db: Db) {}

  join(room: string, user: string, now: number): Promise<boolean> {
    return promised(() => {
      checkRoom(room);
      checkName("user", user);
      checkTime("now", now);
      return this.db.step(() => {
        requireRoom(this.db, room);
        return this.db.run(
          "INSERT OR IGNORE INTO members (room, username, joined_at) VALUES (?, ?, ?)",
          room,
          user,
          now,
        ) === 1;
      });
    });
  }

  leave(room: string, user: string): Promise<boolean> {
    return promised(() => {
      checkRoom(room);
      checkName("user", user);
      return this.db.step(() => {
        const left = this.db.run(
          "DELETE FROM members WHERE room = ? AND username = ?",
          room,
          user,
        ) === 1;
        if (left) closeIntervals(this.db, room, "username = ?", user);
        return left;
      });
    });
  }

  isMember(room: string, user: string): Promise<boolean> {
    return promised(() => {
      checkRoom(room);
      checkName("user", user);
      return this.db.step(
        () =>
          this.db.get("SELECT 1 FROM members WHERE room = ? AND username = ?", room, user) !==
            undefined,
        "single",
      );
    });
  }

  membersOf(room: string): Promise<Member[]> {
    return promised(() => {
      checkRoom(room);
      const rows = this.db.step(
        () =>
          this.db.all<{ username: string; joined_at: number; role: Role | null }>(
            `SELECT m.username, m.joined_at, r.role FROM members m
           LEFT JOIN roles r ON r.room = m.room AND r.username = m.username
           WHERE m.room = ? ORDER BY m.username`,
            room,
          ),
        "single",
      );
      return rows.map((row) => ({ user: row.username, joinedAt: row.joined_at, role: row.role }));
    });
  }

  roomsOf(user: string): Promise<string[]> {
    return promised(() => {
      checkName("user", user);
      return this.db.step(
        () =>
          this.db.all<{ room: string }>(
            "SELECT room FROM members WHERE username = ? ORDER BY room",
            user,
          ),
        "single",
      ).map((row) => row.room);
    });
  }
}
