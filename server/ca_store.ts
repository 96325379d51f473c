/**
 * The CA's records in SQLite (`node:sqlite`): every certificate issued, and revocations. The
 * server and `openchat ca` run as separate processes on the same file, so the database is in
 * WAL mode with a busy timeout, and the server notices another process's writes through
 * `PRAGMA data_version` without re-reading everything.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";

/** File name of the database inside the data directory. */
export const DATABASE_FILE = "openchat.db";
/** How long a writer waits for another process's lock before giving up. */
export const BUSY_TIMEOUT_MS = 5_000;
const SCHEMA_VERSION = 1;

/** One issued certificate as the CA remembers it. */
export interface CertificateRecord {
  serial: string;
  name: string;
  fingerprint: string;
  keyFingerprint: string;
  notBefore: string;
  notAfter: string;
  issuedAt: string;
  revokedAt: string | null;
  revokeReason: string | null;
  certPem: string;
}

/** The state of a certificate at a moment. */
export type CertificateStatus = "valid" | "revoked" | "expired";

/** Status of `record` at `now`. */
export function statusOf(record: CertificateRecord, now = new Date()): CertificateStatus {
  if (record.revokedAt) return "revoked";
  return Date.parse(record.notAfter) < now.getTime() ? "expired" : "valid";
}

/** The database could not be opened or is not openchat's. */
export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StoreError";
  }
}

interface Row {
  serial: string;
  name: string;
  fingerprint: string;
  key_fingerprint: string;
  not_before: string;
  not_after: string;
  issued_at: string;
  revoked_at: string | null;
  revoke_reason: string | null;
  cert_pem: string;
}

const fromRow = (row: Row): CertificateRecord => ({
  serial: row.serial,
  name: row.name,
  fingerprint: row.fingerprint,
  keyFingerprint: row.key_fingerprint,
  notBefore: row.not_before,
  notAfter: row.not_after,
  issuedAt: row.issued_at,
  revokedAt: row.revoked_at,
  revokeReason: row.revoke_reason,
  certPem: row.cert_pem,
});

/** The certificate records of one CA. Synchronous: every call is a short local transaction. */
export class CaStore {
  readonly #db: DatabaseSync;

  private constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /**
   * Opens (creating if needed) the database at `path`.
   *
   * @throws {StoreError} when the file is not a SQLite database or has another schema.
   */
  static open(path: string): CaStore {
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(path);
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.exec("PRAGMA journal_mode = WAL");
      db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS certificates (
          serial TEXT PRIMARY KEY,
          name TEXT NOT NULL,
          fingerprint TEXT NOT NULL,
          key_fingerprint TEXT NOT NULL,
          not_before TEXT NOT NULL,
          not_after TEXT NOT NULL,
          issued_at TEXT NOT NULL,
          revoked_at TEXT,
          revoke_reason TEXT,
          cert_pem TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS certificates_by_name ON certificates (name);
      `);
      db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)").run(
        String(SCHEMA_VERSION),
      );
      const schema = db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as
        | { value: string }
        | undefined;
      if (schema?.value !== String(SCHEMA_VERSION)) {
        throw new StoreError(`${path} has schema ${schema?.value}, expected ${SCHEMA_VERSION}`);
      }
      return new CaStore(db);
    } catch (error) {
      db?.close();
      if (error instanceof StoreError) throw error;
      throw new StoreError(
        `${path} is not a usable openchat database (${(error as Error).message})`,
      );
    }
  }

  /** Closes the database. */
  close(): void {
    this.#db.close();
  }

  /** Runs `fn` in a transaction: all of its writes land, or none do. */
  transaction<T>(fn: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  /** Records a newly issued certificate. */
  recordIssued(record: Omit<CertificateRecord, "revokedAt" | "revokeReason">): void {
    this.#db.prepare(`
      INSERT INTO certificates
        (serial, name, fingerprint, key_fingerprint, not_before, not_after, issued_at, cert_pem)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    `).run(
      record.serial,
      record.name,
      record.fingerprint,
      record.keyFingerprint,
      record.notBefore,
      record.notAfter,
      record.issuedAt,
      record.certPem,
    );
  }

  /** Deletes the record of `serial`; only for undoing an issue whose identity file failed. */
  forget(serial: string): void {
    this.#db.prepare("DELETE FROM certificates WHERE serial = ? AND revoked_at IS NULL").run(
      serial,
    );
  }

  /** Every certificate, oldest first. */
  list(): CertificateRecord[] {
    return (this.#db.prepare("SELECT * FROM certificates ORDER BY issued_at, serial")
      .all() as unknown as Row[]).map(fromRow);
  }

  /** The certificates issued to `name`, oldest first. */
  byName(name: string): CertificateRecord[] {
    return (this.#db.prepare(
      "SELECT * FROM certificates WHERE name = ? ORDER BY issued_at, serial",
    ).all(name) as unknown as Row[]).map(fromRow);
  }

  /** The certificate with `serial` (lower-case hex), if any. */
  bySerial(serial: string): CertificateRecord | undefined {
    const row = this.#db.prepare("SELECT * FROM certificates WHERE serial = ?").get(serial) as
      | Row
      | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** Marks `serial` revoked; returns false if it was unknown or already revoked. */
  revoke(serial: string, reason: string | null, at: Date): boolean {
    const result = this.#db.prepare(
      "UPDATE certificates SET revoked_at = ?, revoke_reason = ? WHERE serial = ? AND revoked_at IS NULL",
    ).run(at.toISOString(), reason, serial);
    return Number(result.changes) === 1;
  }

  /** True when `serial` has been revoked. Unknown serials are not revoked by this check. */
  isRevoked(serial: string): boolean {
    return this.#db.prepare(
      "SELECT 1 FROM certificates WHERE serial = ? AND revoked_at IS NOT NULL",
    ).get(serial) !== undefined;
  }

  /** Every revoked serial. */
  revokedSerials(): Set<string> {
    const rows = this.#db.prepare(
      "SELECT serial FROM certificates WHERE revoked_at IS NOT NULL",
    ).all() as unknown as { serial: string }[];
    return new Set(rows.map((row) => row.serial));
  }

  /**
   * A number that changes whenever another connection (another process) commits a write. Cheap
   * enough to poll: it reads no table.
   */
  dataVersion(): number {
    const row = this.#db.prepare("PRAGMA data_version").get() as { data_version: number };
    return Number(row.data_version);
  }
}
