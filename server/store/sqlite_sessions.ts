/**
 * Session descriptions in SQLite: one row per session that stored entries name, replaced when
 * the session describes itself anew (a new agreement key, a link), or put again to keep it.
 * `prune` in `sqlite_store.ts` removes the rows put longer ago than the store keeps them.
 *
 * @module
 */

import { type Db, promised } from "./sqlite_db.ts";
import { MAX_READ_BATCH } from "./limits.ts";
import type { SessionRecord, SessionStore } from "./types.ts";
import { bad, checkSessionRecord, checkTime, checkToken } from "./validate.ts";

interface SessionRow {
  session: string;
  username: string;
  device: string;
  announce: string;
  agreement: string | null;
  link: string | null;
}

/**
 * Removes the descriptions last put before `cutoff` (see `SessionStore` for why that is safe);
 * returns how many went. Call inside a write step.
 */
export function pruneSessions(db: Db, cutoff: number): number {
  return db.run("DELETE FROM sessions WHERE stored_at < ?", cutoff);
}

/** The session part of {@linkcode SqliteStore}. */
export class SqliteSessions implements SessionStore {
  constructor(private readonly db: Db) {}

  put(record: SessionRecord, now: number): Promise<void> {
    return promised(() => {
      const r = checkSessionRecord(record);
      checkTime("now", now);
      this.db.step(() => {
        this.db.run(
          `INSERT OR REPLACE INTO sessions
             (session, username, device, announce, agreement, link, stored_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
          r.session,
          r.user,
          r.device,
          r.announce,
          r.agreement,
          r.link,
          now,
        );
      }, "single");
    });
  }

  get(sessions: string[]): Promise<SessionRecord[]> {
    return promised(() => {
      if (!Array.isArray(sessions)) bad("sessions", "an array", sessions);
      if (sessions.length > MAX_READ_BATCH) {
        bad("sessions", `at most ${MAX_READ_BATCH} ids`, sessions.length);
      }
      const ids = sessions.map((id) => checkToken("session", id));
      return this.db.step(() => {
        const found: SessionRecord[] = [];
        for (const id of ids) {
          const row = this.db.get<SessionRow>(
            "SELECT session, username, device, announce, agreement, link FROM sessions WHERE session = ?",
            id,
          );
          if (!row) continue;
          found.push({
            session: row.session,
            user: row.username,
            device: row.device,
            announce: row.announce,
            agreement: row.agreement,
            link: row.link,
          });
        }
        return found;
      }, "snapshot");
    });
  }
}
