/**
 * The CA's records in SQLite (`node:sqlite`): every certificate issued (the server admits only
 * those), revocations, and invites. The server and `openchat ca` run as separate processes on
 * the same file, so the database is in WAL mode with a busy timeout, and the server notices
 * another process's writes through `PRAGMA data_version` without re-reading everything.
 *
 * The database also records the fingerprint of the CA it belongs to; the authority refuses a
 * database of another CA, and a missing one is never recreated (see `authority.ts`).
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { existsSync } from "node:fs";

/** File name of the database inside the data directory. */
export const DATABASE_FILE = "openchat.db";
/** How long a writer waits for another process's lock before giving up. */
export const BUSY_TIMEOUT_MS = 5_000;
/** Version 2 added devices, invites and the CA fingerprint; version 1 files are upgraded. */
const SCHEMA_VERSION = 3;

/** One issued certificate as the CA remembers it. */
export interface CertificateRecord {
  serial: string;
  name: string;
  /** The device label in the certificate (`main` for certificates from before devices). */
  device: string;
  fingerprint: string;
  keyFingerprint: string;
  notBefore: string;
  notAfter: string;
  issuedAt: string;
  revokedAt: string | null;
  revokeReason: string | null;
  certPem: string;
  /** The device that asked for the invite this certificate was enrolled with, if one did. */
  invitedBy: string | null;
  /** The serial this certificate renewed, if it is a renewal. */
  renewedFrom: string | null;
}

/** One invite as the CA remembers it: the secret itself is never stored, only its hash. */
export interface InviteRecord {
  /** SHA-256 of the secret, lower-case hex. */
  hash: string;
  name: string;
  device: string;
  createdAt: string;
  expiresAt: string;
  /** The device that asked for it, or null when the operator made it (`ca invite`). */
  invitedBy: string | null;
  usedAt: string | null;
  usedSerial: string | null;
  cancelledAt: string | null;
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
  constructor(message: string, readonly code: "missing" | "unusable" = "unusable") {
    super(message);
    this.name = "StoreError";
  }
}

interface Row {
  serial: string;
  name: string;
  device: string;
  fingerprint: string;
  key_fingerprint: string;
  not_before: string;
  not_after: string;
  issued_at: string;
  revoked_at: string | null;
  revoke_reason: string | null;
  cert_pem: string;
  invited_by: string | null;
  renewed_from: string | null;
}

const fromRow = (row: Row): CertificateRecord => ({
  serial: row.serial,
  name: row.name,
  device: row.device,
  fingerprint: row.fingerprint,
  keyFingerprint: row.key_fingerprint,
  notBefore: row.not_before,
  notAfter: row.not_after,
  issuedAt: row.issued_at,
  revokedAt: row.revoked_at,
  revokeReason: row.revoke_reason,
  certPem: row.cert_pem,
  invitedBy: row.invited_by,
  renewedFrom: row.renewed_from,
});

interface InviteRow {
  hash: string;
  name: string;
  device: string;
  created_at: string;
  expires_at: string;
  invited_by: string | null;
  used_at: string | null;
  used_serial: string | null;
  cancelled_at: string | null;
}

const fromInviteRow = (row: InviteRow): InviteRecord => ({
  hash: row.hash,
  name: row.name,
  device: row.device,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  invitedBy: row.invited_by,
  usedAt: row.used_at,
  usedSerial: row.used_serial,
  cancelledAt: row.cancelled_at,
});

const SCHEMA_V1 = `
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
`;

const UPGRADE_TO_V2 = `
  ALTER TABLE certificates ADD COLUMN device TEXT NOT NULL DEFAULT 'main';
  ALTER TABLE certificates ADD COLUMN invited_by TEXT;
  ALTER TABLE certificates ADD COLUMN renewed_from TEXT;
  CREATE INDEX IF NOT EXISTS certificates_by_device ON certificates (name, device);
  CREATE TABLE IF NOT EXISTS invites (
    hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    device TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    invited_by TEXT,
    used_at TEXT,
    used_serial TEXT,
    cancelled_at TEXT
  );
  UPDATE meta SET value = '2' WHERE key = 'schema';
`;

/**
 * Version 3: device links. An enrolment by an invite a device asked for leaves that device a
 * request (opaque to the server), and the link it signs in answer is kept here and handed to
 * peers with the new device's sessions.
 */
const UPGRADE_TO_V3 = `
  CREATE TABLE IF NOT EXISTS device_links (
    name TEXT NOT NULL,
    device TEXT NOT NULL,
    key_fingerprint TEXT NOT NULL,
    invited_by TEXT NOT NULL,
    request TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    link TEXT,
    linked_at TEXT,
    PRIMARY KEY (name, device, key_fingerprint)
  );
  UPDATE meta SET value = '3' WHERE key = 'schema';
`;

/** A device waiting to be vouched for by the device that invited it. */
export interface PendingLink {
  readonly device: string;
  readonly keyFingerprint: string;
  readonly request: string;
}

/** Options of {@linkcode CaStore.open}. */
export interface OpenOptions {
  /** Create the file when it does not exist (only when a CA is being made). Default false. */
  create?: boolean;
}

/** One write to the records, as a cluster's journal carries it (`server/cluster/ca_journal.ts`). */
export interface CaOp {
  /** The write method. */
  m: WriteMethod;
  /** Its arguments, dates as `{ $date: ISO }`. */
  a: unknown[];
}

/** The methods that write. */
const WRITE_METHODS = [
  "setCaFingerprint",
  "recordIssued",
  "recordInvite",
  "claimInvite",
  "cancelInvite",
  "forget",
  "revoke",
  "recordLinkRequest",
  "storeLink",
  "importRow",
] as const;
type WriteMethod = typeof WRITE_METHODS[number];

/**
 * Where a replica's writes go (a cluster's journal): published only if the journal has not
 * moved past `base` since, then applied to every replica in order.
 */
export interface CaJournal {
  /** The journal position this replica has applied. */
  readonly applied: number;
  /** Catches up with the journal as it is now. */
  settle(): Promise<void>;
  /** Publishes `ops` after position `base`; throws a conflict when the journal moved. */
  append(ops: CaOp[], base: number): Promise<number>;
  /** Resolves once position `seq` has been applied here. */
  until(seq: number): Promise<void>;
  /** True when `error` is the conflict `append` throws. */
  isConflict(error: unknown): boolean;
}

/** Most attempts of one commit against a journal that keeps moving. */
const MAX_COMMIT_ATTEMPTS = 32;
/** Tables a whole database is copied through (seeding a cluster from a data directory). */
const TABLES = ["meta", "certificates", "invites", "device_links"] as const;

const encodeArg = (value: unknown) =>
  value instanceof Date ? { $date: value.toISOString() } : value;
const decodeArg = (value: unknown) =>
  typeof value === "object" && value !== null && "$date" in value
    ? new Date(String((value as { $date: unknown }).$date))
    : value;

/**
 * The certificate records of one CA. Reads are synchronous: every call is a short local
 * transaction. Writes go through {@linkcode CaStore.commit}: a local transaction for the file
 * of one data directory, or, for a cluster's replica (in memory), an entry in the cluster's
 * journal that every replica applies in the same order.
 */
export class CaStore {
  readonly #db: DatabaseSync;
  #journal: CaJournal | undefined;
  /** Writes captured by a commit in progress (journal mode). */
  #capture: CaOp[] | undefined;
  #applying = false;
  #applied = 0;

  private constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /**
   * An empty replica in memory, written only by applying `journal`'s entries (see
   * {@linkcode CaStore.apply}); its own writes become journal entries.
   */
  static replica(): CaStore {
    const db = new DatabaseSync(":memory:");
    db.exec(SCHEMA_V1);
    db.prepare("INSERT INTO meta (key, value) VALUES ('schema', '1')").run();
    db.exec(UPGRADE_TO_V2);
    db.exec(UPGRADE_TO_V3);
    return new CaStore(db);
  }

  /** Sends this replica's writes to `journal` from now on. */
  useJournal(journal: CaJournal): void {
    this.#journal = journal;
  }

  /** Applies a journal entry's writes, in one transaction. */
  apply(ops: CaOp[]): void {
    this.#applying = true;
    try {
      this.transaction(() => {
        for (const op of ops) {
          if (!WRITE_METHODS.includes(op?.m) || !Array.isArray(op.a)) continue;
          const method = this[op.m] as (...args: unknown[]) => unknown;
          method.apply(this, op.a.map(decodeArg));
        }
      });
      this.#applied += 1;
    } finally {
      this.#applying = false;
    }
  }

  /**
   * Runs `fn`, which reads and writes, as one unit: a transaction here, or, with a journal,
   * one journal entry published only if no other entry came first (else `fn` runs again on the
   * newer records). Resolves with `fn`'s result once the writes are in place.
   */
  async commit<T>(fn: () => T): Promise<T> {
    const journal = this.#journal;
    if (!journal) return this.transaction(fn);
    for (let attempt = 0; attempt < MAX_COMMIT_ATTEMPTS; attempt++) {
      await journal.settle();
      const base = journal.applied;
      this.#capture = [];
      let result: T;
      let ops: CaOp[];
      // Run against the records as they are, then undo: the journal decides what lands.
      this.#db.exec("SAVEPOINT journal_commit");
      try {
        result = fn();
      } finally {
        ops = this.#capture;
        this.#capture = undefined;
        this.#db.exec("ROLLBACK TO journal_commit");
        this.#db.exec("RELEASE journal_commit");
      }
      if (ops.length === 0) return result;
      try {
        await journal.until(await journal.append(ops, base));
        return result;
      } catch (error) {
        if (!journal.isConflict(error)) throw error;
      }
    }
    throw new StoreError("the CA's records changed too often to commit; try again");
  }

  /** Records a write of a journal-backed replica (and refuses one outside a commit). */
  #write(method: WriteMethod, args: unknown[]): void {
    if (this.#capture) this.#capture.push({ m: method, a: args.map(encodeArg) });
    else if (this.#journal && !this.#applying) {
      throw new StoreError(`${method} outside a commit would bypass the cluster's journal`);
    }
  }

  /** Every row of the records, as writes that copy them into a replica. */
  exportOps(): CaOp[] {
    const ops: CaOp[] = [];
    for (const table of TABLES) {
      for (const row of this.#db.prepare(`SELECT * FROM ${table}`).all()) {
        ops.push({ m: "importRow", a: [table, { ...row }] });
      }
    }
    return ops;
  }

  /** Copies one row in (seeding a cluster); rows already there are kept. */
  importRow(table: string, row: Record<string, unknown>): void {
    this.#write("importRow", [table, row]);
    if (!(TABLES as readonly string[]).includes(table)) return;
    const columns = Object.keys(row).filter((c) => /^[a-z_]+$/.test(c));
    if (columns.length === 0) return;
    this.#db.prepare(
      `INSERT OR IGNORE INTO ${table} (${columns.join(", ")}) VALUES (${
        columns.map(() => "?").join(", ")
      })`,
    ).run(...columns.map((c) => row[c] as string | number | null));
  }

  /**
   * Opens the database at `path`, upgrading a version 1 file. It is created only with
   * `create: true`: a missing database must never silently become an empty one.
   *
   * @throws {StoreError} `missing` when the file does not exist (and `create` is not set), or
   *   when the file is not a SQLite database or has another schema.
   */
  static open(path: string, options: OpenOptions = {}): CaStore {
    if (!options.create && !existsSync(path)) {
      throw new StoreError(`${path} is missing`, "missing");
    }
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(path);
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("BEGIN IMMEDIATE");
      try {
        db.exec(SCHEMA_V1);
        db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', '1')").run();
        const before = db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as
          | { value: string }
          | undefined;
        if (before?.value === "1") db.exec(UPGRADE_TO_V2);
        const middle = db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as
          | { value: string }
          | undefined;
        if (middle?.value === "2") db.exec(UPGRADE_TO_V3);
        db.exec("COMMIT");
      } catch (error) {
        db.exec("ROLLBACK");
        throw error;
      }
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

  /** The fingerprint of the CA this database belongs to, if recorded (not before version 2). */
  caFingerprint(): string | undefined {
    const row = this.#db.prepare("SELECT value FROM meta WHERE key = 'ca_fingerprint'").get() as
      | { value: string }
      | undefined;
    return row?.value;
  }

  /** Records the fingerprint of the CA this database belongs to (once; it never changes). */
  setCaFingerprint(fingerprint: string): void {
    this.#write("setCaFingerprint", [fingerprint]);
    this.#db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('ca_fingerprint', ?)").run(
      fingerprint,
    );
  }

  /** Records a newly issued certificate. */
  recordIssued(
    record:
      & Omit<CertificateRecord, "revokedAt" | "revokeReason" | "invitedBy" | "renewedFrom">
      & Partial<Pick<CertificateRecord, "invitedBy" | "renewedFrom">>,
  ): void {
    this.#write("recordIssued", [record]);
    this.#db.prepare(`
      INSERT INTO certificates
        (serial, name, device, fingerprint, key_fingerprint, not_before, not_after, issued_at,
         cert_pem, invited_by, renewed_from)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    `).run(
      record.serial,
      record.name,
      record.device,
      record.fingerprint,
      record.keyFingerprint,
      record.notBefore,
      record.notAfter,
      record.issuedAt,
      record.certPem,
      record.invitedBy ?? null,
      record.renewedFrom ?? null,
    );
  }

  /** The certificates of `name`'s `device`, oldest first. */
  byDevice(name: string, device: string): CertificateRecord[] {
    return (this.#db.prepare(
      "SELECT * FROM certificates WHERE name = ? AND device = ? ORDER BY issued_at, serial",
    ).all(name, device) as unknown as Row[]).map(fromRow);
  }

  /** Device labels of `name` with a certificate neither revoked nor expired at `now`. */
  activeDevices(name: string, now: Date): string[] {
    const rows = this.#db.prepare(
      "SELECT DISTINCT device FROM certificates WHERE name = ? AND revoked_at IS NULL AND not_after > ?",
    ).all(name, now.toISOString()) as unknown as { device: string }[];
    return rows.map((row) => row.device);
  }

  /** Records a new invite. */
  recordInvite(invite: Omit<InviteRecord, "usedAt" | "usedSerial" | "cancelledAt">): void {
    this.#write("recordInvite", [invite]);
    this.#db.prepare(`
      INSERT INTO invites (hash, name, device, created_at, expires_at, invited_by)
      VALUES (?, ?, ?, ?, ?, ?)
    `).run(
      invite.hash,
      invite.name,
      invite.device,
      invite.createdAt,
      invite.expiresAt,
      invite.invitedBy,
    );
  }

  /** The invite whose secret hashes to `hash`, if any. */
  invite(hash: string): InviteRecord | undefined {
    const row = this.#db.prepare("SELECT * FROM invites WHERE hash = ?").get(hash) as
      | InviteRow
      | undefined;
    return row ? fromInviteRow(row) : undefined;
  }

  /** Invites neither used, cancelled nor expired at `now` (of `name` only, if given), oldest first. */
  pendingInvites(now: Date, name?: string): InviteRecord[] {
    const rows = this.#db.prepare(`
      SELECT * FROM invites
      WHERE used_at IS NULL AND cancelled_at IS NULL AND expires_at > ? AND (? IS NULL OR name = ?)
      ORDER BY created_at, hash
    `).all(now.toISOString(), name ?? null, name ?? null) as unknown as InviteRow[];
    return rows.map(fromInviteRow);
  }

  /** Invites whose hash starts with `prefix` (lower-case hex). */
  invitesByPrefix(prefix: string): InviteRecord[] {
    const rows = this.#db.prepare(
      "SELECT * FROM invites WHERE substr(hash, 1, ?) = ? ORDER BY created_at",
    ).all(prefix.length, prefix) as unknown as InviteRow[];
    return rows.map(fromInviteRow);
  }

  /**
   * Marks a pending invite used by certificate `serial`. Returns false, changing nothing, if it
   * was used, cancelled or expired meanwhile: an invite is redeemed at most once.
   */
  claimInvite(hash: string, serial: string, now: Date): boolean {
    this.#write("claimInvite", [hash, serial, now]);
    const result = this.#db.prepare(`
      UPDATE invites SET used_at = ?, used_serial = ?
      WHERE hash = ? AND used_at IS NULL AND cancelled_at IS NULL AND expires_at > ?
    `).run(now.toISOString(), serial, hash, now.toISOString());
    return Number(result.changes) === 1;
  }

  /** Cancels a pending invite; returns false if it was not pending. */
  cancelInvite(hash: string, now: Date): boolean {
    this.#write("cancelInvite", [hash, now]);
    const result = this.#db.prepare(`
      UPDATE invites SET cancelled_at = ?
      WHERE hash = ? AND used_at IS NULL AND cancelled_at IS NULL AND expires_at > ?
    `).run(now.toISOString(), hash, now.toISOString());
    return Number(result.changes) === 1;
  }

  /** Deletes the record of `serial`; only for undoing an issue whose identity file failed. */
  forget(serial: string): void {
    this.#write("forget", [serial]);
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
    this.#write("revoke", [serial, reason, at]);
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

  /**
   * Whether the certificate with `serial` and SHA-256 `fingerprint` is recorded and not revoked:
   * both must match the record, so a certificate made with the CA key outside this database
   * (even one reusing a recorded serial) is `unknown`.
   */
  recordStatus(serial: string, fingerprint: string): "issued" | "revoked" | "unknown" {
    const row = this.#db.prepare(
      "SELECT revoked_at FROM certificates WHERE serial = ? AND fingerprint = ?",
    ).get(serial, fingerprint) as { revoked_at: string | null } | undefined;
    if (!row) return "unknown";
    return row.revoked_at ? "revoked" : "issued";
  }

  /** Records that `name`'s `device` (key `keyFingerprint`) asks `invitedBy` to vouch for it. */
  recordLinkRequest(
    name: string,
    device: string,
    keyFingerprint: string,
    invitedBy: string,
    request: string,
    at: Date,
  ): void {
    this.#write("recordLinkRequest", [name, device, keyFingerprint, invitedBy, request, at]);
    this.#db.prepare(`
      INSERT OR REPLACE INTO device_links
        (name, device, key_fingerprint, invited_by, request, requested_at)
      VALUES (?, ?, ?, ?, ?, ?)
    `).run(name, device, keyFingerprint, invitedBy, request, at.toISOString());
  }

  /** Devices of `name` that `invitedBy` invited and has not vouched for yet. */
  pendingLinks(name: string, invitedBy: string): PendingLink[] {
    const rows = this.#db.prepare(`
      SELECT device, key_fingerprint, request FROM device_links
      WHERE name = ? AND invited_by = ? AND link IS NULL ORDER BY requested_at
    `).all(name, invitedBy) as unknown as {
      device: string;
      key_fingerprint: string;
      request: string;
    }[];
    return rows.map((row) => ({
      device: row.device,
      keyFingerprint: row.key_fingerprint,
      request: row.request,
    }));
  }

  /**
   * Stores the link `invitedBy` signed for `name`'s `device` (its latest request).
   *
   * @returns false when no request of that device waits for `invitedBy`.
   */
  storeLink(name: string, device: string, invitedBy: string, link: string, at: Date): boolean {
    this.#write("storeLink", [name, device, invitedBy, link, at]);
    const result = this.#db.prepare(`
      UPDATE device_links SET link = ?, linked_at = ?
      WHERE name = ? AND device = ? AND invited_by = ? AND requested_at = (
        SELECT MAX(requested_at) FROM device_links WHERE name = ? AND device = ?
      )
    `).run(link, at.toISOString(), name, device, invitedBy, name, device);
    return Number(result.changes) === 1;
  }

  /** The latest link for `name`'s `device`, if one was made. */
  linkOf(name: string, device: string): string | undefined {
    const row = this.#db.prepare(`
      SELECT link FROM device_links WHERE name = ? AND device = ? AND link IS NOT NULL
      ORDER BY linked_at DESC LIMIT 1
    `).get(name, device) as { link: string } | undefined;
    return row?.link;
  }

  /** True when the latest link request of `name`'s `device` has no link yet. */
  awaitsLink(name: string, device: string): boolean {
    const row = this.#db.prepare(`
      SELECT link FROM device_links WHERE name = ? AND device = ?
      ORDER BY requested_at DESC LIMIT 1
    `).get(name, device) as { link: string | null } | undefined;
    return row !== undefined && row.link === null;
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
    // A replica changes only by applying journal entries; the count says when it did.
    if (this.#journal) return this.#applied;
    const row = this.#db.prepare("PRAGMA data_version").get() as { data_version: number };
    return Number(row.data_version);
  }
}
