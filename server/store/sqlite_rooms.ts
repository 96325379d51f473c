/**
 * Rooms in SQLite: create, read, list, delete, topic and modes.
 *
 * @module
 */

import { type Db, promised } from "./sqlite_db.ts";
import { RoomExistsError, UnknownRoomError } from "./errors.ts";
import { MAX_ROOM_PAGE } from "./limits.ts";
import type { RoomRecord, RoomStore } from "./types.ts";
import {
  checkLimit,
  checkName,
  checkRoom,
  checkTime,
  checkTopic,
  normalizeModes,
} from "./validate.ts";

interface RoomRow {
  name: string;
  created_at: number;
  created_by: string;
  topic: string;
  modes: string;
}

const fromRow = (row: RoomRow): RoomRecord => ({
  name: row.name,
  createdAt: row.created_at,
  createdBy: row.created_by,
  topic: row.topic,
  modes: row.modes,
});

/** Throws {@linkcode UnknownRoomError} unless `room` exists. Call inside a step. */
export function requireRoom(db: Db, room: string): void {
  if (!db.get("SELECT 1 FROM rooms WHERE name = ?", room)) throw new UnknownRoomError(room);
}

/** The room part of {@linkcode SqliteStore}. */
export class SqliteRooms implements RoomStore {
  constructor(private readonly db: Db) {}

  create(name: string, createdBy: string, now: number): Promise<RoomRecord> {
    return promised(() => {
      const record: RoomRecord = {
        name: checkRoom(name),
        createdAt: checkTime("now", now),
        createdBy: checkName("createdBy", createdBy),
        topic: "",
        modes: "",
      };
      return this.db.step(() => {
        if (this.db.get("SELECT 1 FROM rooms WHERE name = ?", name)) {
          throw new RoomExistsError(name);
        }
        this.db.run(
          "INSERT INTO rooms (name, created_at, created_by) VALUES (?, ?, ?)",
          name,
          now,
          createdBy,
        );
        // A room created again under an old name keeps its counter: numbers are never reused.
        this.db.run(
          "INSERT OR IGNORE INTO room_seqs (room, last_seq, floor_seq) VALUES (?, 0, 0)",
          name,
        );
        this.db.run(
          "INSERT OR REPLACE INTO roles (room, username, role) VALUES (?, ?, 'owner')",
          name,
          createdBy,
        );
        return record;
      });
    });
  }

  get(name: string): Promise<RoomRecord | undefined> {
    return promised(() => {
      checkRoom(name);
      const row = this.db.step(
        () => this.db.get<RoomRow>("SELECT * FROM rooms WHERE name = ?", name),
        "single",
      );
      return row && fromRow(row);
    });
  }

  list(options: { after?: string; limit?: number } = {}): Promise<RoomRecord[]> {
    return promised(() => {
      const after = options.after === undefined ? "" : checkRoom(options.after);
      const limit = checkLimit(options.limit ?? MAX_ROOM_PAGE, MAX_ROOM_PAGE);
      return this.db.step(
        () =>
          this.db.all<RoomRow>(
            "SELECT * FROM rooms WHERE name > ? ORDER BY name LIMIT ?",
            after,
            limit,
          ),
        "single",
      ).map(fromRow);
    });
  }

  delete(name: string): Promise<boolean> {
    return promised(() => {
      checkRoom(name);
      return this.db.step(() => {
        if (this.db.run("DELETE FROM rooms WHERE name = ?", name) === 0) return false;
        for (const table of ["members", "roles", "room_lists", "intervals", "room_log"]) {
          this.db.run(`DELETE FROM ${table} WHERE room = ?`, name);
        }
        this.db.run("UPDATE room_seqs SET floor_seq = last_seq WHERE room = ?", name);
        return true;
      });
    });
  }

  setTopic(name: string, topic: string): Promise<void> {
    return promised(() => {
      checkRoom(name);
      checkTopic(topic);
      this.db.step(() => {
        if (this.db.run("UPDATE rooms SET topic = ? WHERE name = ?", topic, name) === 0) {
          throw new UnknownRoomError(name);
        }
      }, "single");
    });
  }

  setModes(name: string, modes: string): Promise<string> {
    return promised(() => {
      checkRoom(name);
      const normal = normalizeModes(modes);
      this.db.step(() => {
        if (this.db.run("UPDATE rooms SET modes = ? WHERE name = ?", normal, name) === 0) {
          throw new UnknownRoomError(name);
        }
      }, "single");
      return normal;
    });
  }
}
