/**
 * The SQLite file behind {@linkcode SqliteStore}: its schema, and a small wrapper that caches
 * prepared statements, runs transactions, and turns SQLite failures into store errors.
 *
 * The server and `openchat` CLI commands may open the same file from several processes, so the
 * database is in WAL mode with a busy timeout, and every change that takes several statements
 * runs in `BEGIN IMMEDIATE` (the write lock is taken at the start, so two writers never read the
 * same last sequence number).
 *
 * @module
 */

import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { BUSY_TIMEOUT_MS } from "../ca_store.ts";
import { StoreError, StoreUnavailableError } from "./errors.ts";

/**
 * Version 2 added session descriptions, version 3 an index of closed intervals; older files are
 * upgraded in place.
 */
const SCHEMA_VERSION = 3;

// Sequence counters live apart from the rows they number (room_seqs, inbox_seqs) so that deleting
// rows, or a whole room, never lets a number be assigned twice. Rows between `floor_seq` and
// `last_seq` are exactly what a log holds, so counts need no scan.
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS rooms (
    name TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    topic TEXT NOT NULL DEFAULT '',
    modes TEXT NOT NULL DEFAULT ''
  );
  CREATE TABLE IF NOT EXISTS room_seqs (
    room TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    floor_seq INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS members (
    room TEXT NOT NULL,
    username TEXT NOT NULL,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (room, username)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS members_by_user ON members (username, room);
  CREATE TABLE IF NOT EXISTS roles (
    room TEXT NOT NULL,
    username TEXT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (room, username)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS room_lists (
    room TEXT NOT NULL,
    kind TEXT NOT NULL,
    username TEXT NOT NULL,
    by_user TEXT NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL,
    until INTEGER,
    PRIMARY KEY (room, kind, username)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS room_lists_by_until ON room_lists (until) WHERE until IS NOT NULL;
  CREATE TABLE IF NOT EXISTS intervals (
    room TEXT NOT NULL,
    device TEXT NOT NULL,
    username TEXT NOT NULL,
    from_seq INTEGER NOT NULL,
    to_seq INTEGER,
    PRIMARY KEY (room, device, from_seq)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS intervals_by_device ON intervals (device);
  CREATE TABLE IF NOT EXISTS room_log (
    room TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sender_user TEXT NOT NULL,
    sender_device TEXT NOT NULL,
    sender_session TEXT NOT NULL,
    version INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (room, seq)
  );
  CREATE INDEX IF NOT EXISTS room_log_by_ts ON room_log (ts);
  CREATE TABLE IF NOT EXISTS inbox_seqs (
    device TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    acked_through INTEGER NOT NULL,
    dropped_through INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS inbox (
    device TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    from_user TEXT NOT NULL,
    from_device TEXT NOT NULL,
    from_session TEXT NOT NULL,
    room TEXT,
    ts INTEGER NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (device, seq)
  );
  CREATE INDEX IF NOT EXISTS inbox_by_ts ON inbox (ts);
  CREATE TABLE IF NOT EXISTS signed_prekeys (
    device TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS one_time_prekeys (
    device TEXT NOT NULL,
    id TEXT NOT NULL,
    payload TEXT NOT NULL,
    UNIQUE (device, id)
  );
`;

// Version 2: descriptions of the sessions that stored entries name. Nothing indexes the log or
// the inbox by session (it would cost every append a page): a description is kept for a time
// bound instead (see `SessionStore`).
const SCHEMA_V2 = `
  CREATE TABLE IF NOT EXISTS sessions (
    session TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    device TEXT NOT NULL,
    announce TEXT NOT NULL,
    agreement TEXT,
    link TEXT,
    stored_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS sessions_by_stored_at ON sessions (stored_at);
`;

// Retention removes a room's closed intervals that hold nothing readable any more, in the same
// transaction as the oldest entries it removes, on every append past the room's bound; without
// this index that meant reading every interval of the room (one per member device) each time.
const SCHEMA_V3 = `
  CREATE INDEX IF NOT EXISTS intervals_closed ON intervals (room, to_seq) WHERE to_seq IS NOT NULL;
`;

/** What each version adds, applied in order from the file's version up. */
const UPGRADES: Readonly<Record<number, string>> = { 2: SCHEMA_V2, 3: SCHEMA_V3 };

/**
 * Creates the schema in an empty file, or checks that a file holds this schema. A file with other
 * tables (the CA's `openchat.db` given by mistake, a newer store) is refused untouched.
 */
function checkOrCreateSchema(db: DatabaseSync, path: string): void {
  const tables = db.prepare("SELECT COUNT(*) AS n FROM sqlite_master").get() as { n: number };
  if (tables.n === 0) {
    db.exec(SCHEMA);
    for (let version = 2; version <= SCHEMA_VERSION; version++) db.exec(UPGRADES[version]!);
    db.prepare("INSERT INTO meta (key, value) VALUES ('store_schema', ?)").run(
      String(SCHEMA_VERSION),
    );
    return;
  }
  let found: string | undefined;
  try {
    found = (db.prepare("SELECT value FROM meta WHERE key = 'store_schema'").get() as
      | { value: string }
      | undefined)?.value;
  } catch {
    found = undefined; // no meta table: not ours
  }
  if (found === undefined) {
    throw new StoreUnavailableError(`${path} is a SQLite database but not an openchat store`);
  }
  const from = Number(found);
  if (Number.isInteger(from) && from >= 1 && from < SCHEMA_VERSION) {
    for (let version = from + 1; version <= SCHEMA_VERSION; version++) db.exec(UPGRADES[version]!);
    db.prepare("UPDATE meta SET value = ? WHERE key = 'store_schema'").run(String(SCHEMA_VERSION));
    return;
  }
  if (found !== String(SCHEMA_VERSION)) {
    throw new StoreUnavailableError(
      `${path} has store schema ${found}, expected ${SCHEMA_VERSION}`,
    );
  }
}

/** How hard SQLite works to keep a commit through a crash. */
export type Synchronous = "normal" | "full";

/**
 * How a step runs: `write` in `BEGIN IMMEDIATE` (all its writes land or none do, and no other
 * writer runs in between), `snapshot` in a read transaction (several reads that agree),
 * `single` as is (one statement is already atomic).
 */
export type StepMode = "write" | "snapshot" | "single";

/** An open store database: cached statements, transactions, errors mapped to store errors. */
export class Db {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  #open = true;

  private constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /**
   * Opens (creating if needed) the database at `path`.
   *
   * @throws {StoreUnavailableError} when the file is not usable or has another schema.
   */
  static open(path: string, synchronous: Synchronous): Db {
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(path);
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      // Several processes may create the schema at once; the write lock makes that one step.
      db.exec("BEGIN IMMEDIATE");
      try {
        checkOrCreateSchema(db, path);
        db.exec("COMMIT");
      } catch (error) {
        db.exec("ROLLBACK");
        throw error;
      }
      // Only once the file is known to be ours: a foreign file is left exactly as it was.
      db.exec("PRAGMA journal_mode = WAL");
      db.exec(`PRAGMA synchronous = ${synchronous === "full" ? "FULL" : "NORMAL"}`);
      return new Db(db);
    } catch (error) {
      db?.close();
      if (error instanceof StoreError) throw error;
      throw new StoreUnavailableError(
        `${path} is not a usable openchat store (${(error as Error).message})`,
        { cause: error },
      );
    }
  }

  /** The prepared statement for `sql`, prepared once. */
  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Runs a write statement; returns how many rows it changed. */
  run(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.#statement(sql).run(...params).changes);
  }

  /** The first row of a query, if any. */
  get<T>(sql: string, ...params: SQLInputValue[]): T | undefined {
    return this.#statement(sql).get(...params) as T | undefined;
  }

  /** Every row of a query. */
  all<T>(sql: string, ...params: SQLInputValue[]): T[] {
    return this.#statement(sql).all(...params) as T[];
  }

  /**
   * Runs `fn` as one unit (see {@linkcode StepMode}). Anything SQLite throws becomes a
   * {@linkcode StoreUnavailableError}; store errors pass through, after the rollback.
   */
  step<T>(fn: () => T, mode: StepMode = "write"): T {
    if (!this.#open) throw new StoreUnavailableError("the store is closed");
    try {
      if (mode === "single") return fn();
      this.#db.exec(mode === "write" ? "BEGIN IMMEDIATE" : "BEGIN");
      try {
        const result = fn();
        this.#db.exec("COMMIT");
        return result;
      } catch (error) {
        if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
        throw error;
      }
    } catch (error) {
      if (error instanceof StoreError) throw error;
      throw new StoreUnavailableError(`store failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /** Closes the database; later steps reject. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#statements.clear();
    this.#db.close();
  }
}

/**
 * Runs `fn` now and returns its result as a promise (a throw becomes a rejection). The SQLite
 * engine is synchronous: when a write's promise exists, the write is already committed.
 */
export function promised<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}
