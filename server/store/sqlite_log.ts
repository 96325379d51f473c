/**
 * Room logs and device intervals in SQLite. A room's log holds exactly the sequence numbers
 * `floor_seq + 1 ... last_seq` (retention only ever removes the oldest entries), so counting
 * needs no scan and a reader's missed entries are a subtraction.
 *
 * @module
 */

import { type Db, promised } from "./sqlite_db.ts";
import { NotMemberError } from "./errors.ts";
import { closeIntervals } from "./sqlite_members.ts";
import { requireRoom } from "./sqlite_rooms.ts";
import type { Interval, LogEntry, LogPage, NewLogEntry, RoomLogStore } from "./types.ts";
import { checkDevice, checkLimit, checkLogBatch, checkRoom, checkSeq } from "./validate.ts";

interface LogRow {
  room: string;
  seq: number;
  sender_user: string;
  sender_device: string;
  sender_session: string;
  version: number;
  ts: number;
  payload: string;
}

const fromRow = (row: LogRow): LogEntry => ({
  room: row.room,
  seq: row.seq,
  senderUser: row.sender_user,
  senderDevice: row.sender_device,
  senderSession: row.sender_session,
  version: row.version,
  ts: row.ts,
  payload: row.payload,
});

interface IntervalRow {
  from_seq: number;
  to_seq: number | null;
}

/** A room's counters: the last number assigned, and the last one removed by retention. */
interface Seqs {
  last_seq: number;
  floor_seq: number;
}

const seqsOf = (db: Db, room: string): Seqs =>
  db.get<Seqs>("SELECT last_seq, floor_seq FROM room_seqs WHERE room = ?", room) ??
    { last_seq: 0, floor_seq: 0 };

/**
 * Removes the room's entries up to and including `floor` and returns how many went. Closed
 * intervals that now hold nothing readable go too: every entry in them is gone, and keeping them
 * would let interval rows outgrow the log. Call inside a write step.
 */
export function raiseFloor(db: Db, room: string, floor: number): number {
  const removed = db.run("DELETE FROM room_log WHERE room = ? AND seq <= ?", room, floor);
  db.run("UPDATE room_seqs SET floor_seq = ? WHERE room = ? AND floor_seq < ?", floor, room, floor);
  db.run(
    "DELETE FROM intervals WHERE room = ? AND to_seq IS NOT NULL AND to_seq <= ?",
    room,
    floor + 1,
  );
  return removed;
}

/** The room log part of {@linkcode SqliteStore}. */
export class SqliteLog implements RoomLogStore {
  constructor(private readonly db: Db, private readonly maxMessagesPerRoom: number) {}

  append(room: string, entry: NewLogEntry): Promise<number> {
    return this.appendMany(room, [entry]).then((seqs) => seqs[0]!);
  }

  appendMany(room: string, entries: readonly NewLogEntry[]): Promise<number[]> {
    return promised(() => {
      checkRoom(room);
      const checked = checkLogBatch(entries);
      // One transaction for the whole batch: a commit (its WAL write, the pages of the room's
      // counter and indexes) costs as much as the rows themselves, so a batch of 30 messages
      // costs about as much as three single appends.
      return this.db.step(() => {
        requireRoom(this.db, room);
        const { last_seq, floor_seq } = seqsOf(this.db, room);
        const seqs: number[] = [];
        let seq = last_seq;
        for (const e of checked) {
          seq += 1;
          this.db.run(
            `INSERT INTO room_log
               (room, seq, sender_user, sender_device, sender_session, version, ts, payload)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
            room,
            seq,
            e.senderUser,
            e.senderDevice,
            e.senderSession,
            e.version,
            e.ts,
            e.payload,
          );
          seqs.push(seq);
        }
        this.db.run("UPDATE room_seqs SET last_seq = ? WHERE room = ?", seq, room);
        if (seq - floor_seq > this.maxMessagesPerRoom) {
          raiseFloor(this.db, room, seq - this.maxMessagesPerRoom);
        }
        return seqs;
      });
    });
  }

  readForDevice(room: string, device: string, afterSeq: number, limit: number): Promise<LogPage> {
    return promised(() => {
      checkRoom(room);
      checkDevice(device);
      checkSeq("afterSeq", afterSeq);
      let left = checkLimit(limit);
      return this.db.step(() => {
        const { floor_seq } = seqsOf(this.db, room);
        const entries: LogEntry[] = [];
        let missed = 0;
        for (const { from_seq, to_seq } of this.#intervalRows(room, device)) {
          const end = to_seq ?? Number.MAX_SAFE_INTEGER; // exclusive
          // Readable numbers in this interval past afterSeq that retention already removed.
          missed += Math.max(0, Math.min(end, floor_seq + 1) - Math.max(from_seq, afterSeq + 1));
          if (left === 0) continue;
          const rows = this.db.all<LogRow>(
            "SELECT * FROM room_log WHERE room = ? AND seq > ? AND seq >= ? AND seq < ? ORDER BY seq LIMIT ?",
            room,
            afterSeq,
            from_seq,
            end,
            left,
          );
          entries.push(...rows.map(fromRow));
          left -= rows.length;
        }
        return { entries, missed };
      }, "snapshot");
    });
  }

  lastSeq(room: string): Promise<number> {
    return promised(() => {
      checkRoom(room);
      return this.db.step(() => seqsOf(this.db, room).last_seq, "single");
    });
  }

  openInterval(room: string, device: string): Promise<Interval> {
    return promised(() => {
      checkRoom(room);
      const { user } = checkDevice(device);
      return this.db.step(() => {
        requireRoom(this.db, room);
        if (!this.db.get("SELECT 1 FROM members WHERE room = ? AND username = ?", room, user)) {
          throw new NotMemberError(room, user);
        }
        const open = this.db.get<IntervalRow>(
          "SELECT from_seq, to_seq FROM intervals WHERE room = ? AND device = ? AND to_seq IS NULL",
          room,
          device,
        );
        if (open) return { fromSeq: open.from_seq, toSeq: null };
        const fromSeq = seqsOf(this.db, room).last_seq + 1;
        this.db.run(
          "INSERT INTO intervals (room, device, username, from_seq) VALUES (?, ?, ?, ?)",
          room,
          device,
          user,
          fromSeq,
        );
        return { fromSeq, toSeq: null };
      });
    });
  }

  closeInterval(room: string, device: string): Promise<boolean> {
    return promised(() => {
      checkRoom(room);
      checkDevice(device);
      return this.db.step(() => closeIntervals(this.db, room, "device = ?", device) > 0);
    });
  }

  intervals(room: string, device: string): Promise<Interval[]> {
    return promised(() => {
      checkRoom(room);
      checkDevice(device);
      return this.db.step(() => this.#intervalRows(room, device), "single")
        .map((row) => ({ fromSeq: row.from_seq, toSeq: row.to_seq }));
    });
  }

  openDevices(room: string): Promise<string[]> {
    return promised(() => {
      checkRoom(room);
      return this.db.step(
        () =>
          this.db.all<{ device: string }>(
            "SELECT device FROM intervals WHERE room = ? AND to_seq IS NULL ORDER BY device",
            room,
          ),
        "single",
      ).map((row) => row.device);
    });
  }

  #intervalRows(room: string, device: string): IntervalRow[] {
    return this.db.all<IntervalRow>(
      "SELECT from_seq, to_seq FROM intervals WHERE room = ? AND device = ? ORDER BY from_seq",
      room,
      device,
    );
  }
}
