/**
 * Pre-keys in SQLite. Taking a one-time pre-key is one `DELETE ... RETURNING` inside a write
 * transaction, so two takers, in this process or another, never get the same key.
 *
 * @module
 */

import { type Db, promised } from "./sqlite_db.ts";
import { InvalidInputError, LimitError } from "./errors.ts";
import { MAX_ONE_TIME_PREKEYS } from "./limits.ts";
import type { OneTimePrekey, PrekeyBundle, PrekeyStore, SignedPrekey } from "./types.ts";
import { checkDevice, checkOneTimePrekeys, checkSignedPrekey } from "./validate.ts";

const countOf = (db: Db, device: string): number =>
  db.get<{ n: number }>("SELECT COUNT(*) AS n FROM one_time_prekeys WHERE device = ?", device)!
    .n;

/** The pre-key part of {@linkcode SqliteStore}. */
export class SqlitePrekeys implements PrekeyStore {
  constructor(private readonly db: Db) {}

  setSigned(device: string, prekey: SignedPrekey): Promise<void> {
    return promised(() => {
      checkDevice(device);
      const { id, payload, createdAt } = checkSignedPrekey(prekey);
      this.db.step(() => {
        this.db.run(
          `INSERT OR REPLACE INTO signed_prekeys (device, id, payload, created_at)
           VALUES (?, ?, ?, ?)`,
          device,
          id,
          payload,
          createdAt,
        );
      }, "single");
    });
  }

  addOneTime(device: string, prekeys: OneTimePrekey[]): Promise<void> {
    return promised(() => {
      checkDevice(device);
      const batch = checkOneTimePrekeys(prekeys);
      this.db.step(() => {
        const count = countOf(this.db, device);
        if (count + batch.length > MAX_ONE_TIME_PREKEYS) {
          throw new LimitError(
            `${device} holds ${count} one-time pre-keys; ${batch.length} more would pass ${MAX_ONE_TIME_PREKEYS}`,
          );
        }
        for (const { id, payload } of batch) {
          if (
            this.db.get("SELECT 1 FROM one_time_prekeys WHERE device = ? AND id = ?", device, id)
          ) {
            throw new InvalidInputError(`${device} already has a one-time pre-key ${id}`);
          }
          this.db.run(
            "INSERT INTO one_time_prekeys (device, id, payload) VALUES (?, ?, ?)",
            device,
            id,
            payload,
          );
        }
      });
    });
  }

  take(device: string): Promise<PrekeyBundle | undefined> {
    return promised(() => {
      checkDevice(device);
      return this.db.step(() => {
        const signed = this.db.get<{ id: string; payload: string; created_at: number }>(
          "SELECT id, payload, created_at FROM signed_prekeys WHERE device = ?",
          device,
        );
        if (!signed) return undefined;
        // Oldest first (rowid order), so a device's keys are used in the order it made them.
        const oneTime = this.db.get<OneTimePrekey>(
          `DELETE FROM one_time_prekeys WHERE rowid =
             (SELECT rowid FROM one_time_prekeys WHERE device = ? ORDER BY rowid LIMIT 1)
           RETURNING id, payload`,
          device,
        );
        return {
          signed: { id: signed.id, payload: signed.payload, createdAt: signed.created_at },
          oneTime: oneTime ? { id: oneTime.id, payload: oneTime.payload } : null,
        };
      });
    });
  }

  status(device: string): Promise<{ signed: boolean; oneTime: number }> {
    return promised(() => {
      checkDevice(device);
      return this.db.step(() => ({
        signed: this.db.get("SELECT 1 FROM signed_prekeys WHERE device = ?", device) !== undefined,
        oneTime: countOf(this.db, device),
      }), "snapshot");
    });
  }

  countOneTime(device: string): Promise<number> {
    return promised(() => {
      checkDevice(device);
      return this.db.step(() => countOf(this.db, device), "single");
    });
  }
}
