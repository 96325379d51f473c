/**
 * Device inboxes in SQLite. Per device, `inbox_seqs` keeps the last number assigned, how far the
 * device acknowledged, and how far items were dropped unread (inbox full, or retention). The
 * inbox holds exactly the numbers above both marks, so dropped items are a subtraction, and
 * the report repeats until the device acknowledges past them (a lost reply loses nothing).
 *
 * @module
 */

import { type Db, promised } from "./sqlite_db.ts";
import { InvalidInputError } from "./errors.ts";
import type { InboxItem, InboxPage, InboxStore, NewInboxItem } from "./types.ts";
import { checkDevice, checkInboxItem, checkLimit, checkSeq } from "./validate.ts";

interface InboxRow {
  seq: number;
  kind: string;
  from_user: string;
  from_device: string;
  from_session: string;
  room: string | null;
  ts: number;
  payload: string;
}

const fromRow = (row: InboxRow): InboxItem => ({
  seq: row.seq,
  kind: row.kind,
  fromUser: row.from_user,
  fromDevice: row.from_device,
  fromSession: row.from_session,
  room: row.room,
  ts: row.ts,
  payload: row.payload,
});

interface Marks {
  last_seq: number;
  acked_through: number;
  dropped_through: number;
}

const marksOf = (db: Db, device: string): Marks =>
  db.get<Marks>(
    "SELECT last_seq, acked_through, dropped_through FROM inbox_seqs WHERE device = ?",
    device,
  ) ?? { last_seq: 0, acked_through: 0, dropped_through: 0 };

/**
 * Drops the device's unread items up to and including `through` and returns how many went.
 * Call inside a write step.
 */
export function dropThrough(db: Db, device: string, through: number): number {
  const dropped = db.run("DELETE FROM inbox WHERE device = ? AND seq <= ?", device, through);
  db.run(
    "UPDATE inbox_seqs SET dropped_through = ? WHERE device = ? AND dropped_through < ?",
    through,
    device,
    through,
  );
  return dropped;
}

/** The inbox part of {@linkcode SqliteStore}. */
export class SqliteInbox implements InboxStore {
  constructor(private readonly db: Db, private readonly maxItems: number) {}

  append(device: string, item: NewInboxItem): Promise<number> {
    return promised(() => {
      checkDevice(device);
      const i = checkInboxItem(item);
      return this.db.step(() => {
        const marks = marksOf(this.db, device);
        const seq = marks.last_seq + 1;
        this.db.run(
          `INSERT INTO inbox_seqs (device, last_seq, acked_through, dropped_through)
           VALUES (?, ?, 0, 0) ON CONFLICT (device) DO UPDATE SET last_seq = excluded.last_seq`,
          device,
          seq,
        );
        this.db.run(
          `INSERT INTO inbox
             (device, seq, kind, from_user, from_device, from_session, room, ts, payload)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          device,
          seq,
          i.kind,
          i.fromUser,
          i.fromDevice,
          i.fromSession,
          i.room,
          i.ts,
          i.payload,
        );
        const held = seq - Math.max(marks.acked_through, marks.dropped_through);
        if (held > this.maxItems) dropThrough(this.db, device, seq - this.maxItems);
        return seq;
      });
    });
  }

  read(device: string, afterSeq: number, limit: number): Promise<InboxPage> {
    return promised(() => {
      checkDevice(device);
      checkSeq("afterSeq", afterSeq);
      const max = checkLimit(limit);
      return this.db.step(() => {
        const marks = marksOf(this.db, device);
        const items = this.db.all<InboxRow>(
          "SELECT * FROM inbox WHERE device = ? AND seq > ? ORDER BY seq LIMIT ?",
          device,
          afterSeq,
          max,
        ).map(fromRow);
        const seen = Math.max(afterSeq, marks.acked_through);
        return { items, dropped: Math.max(0, marks.dropped_through - seen) };
      }, "snapshot");
    });
  }

  ack(device: string, uptoSeq: number): Promise<number> {
    return promised(() => {
      checkDevice(device);
      checkSeq("uptoSeq", uptoSeq);
      return this.db.step(() => {
        const marks = marksOf(this.db, device);
        if (uptoSeq > marks.last_seq) {
          // Acknowledging a number not yet assigned would swallow the next item unread.
          throw new InvalidInputError(
            `uptoSeq ${uptoSeq} is past the last item of ${device} (${marks.last_seq})`,
          );
        }
        if (uptoSeq <= marks.acked_through) return 0;
        const deleted = this.db.run(
          "DELETE FROM inbox WHERE device = ? AND seq <= ?",
          device,
          uptoSeq,
        );
        this.db.run("UPDATE inbox_seqs SET acked_through = ? WHERE device = ?", uptoSeq, device);
        return deleted;
      });
    });
  }
}
