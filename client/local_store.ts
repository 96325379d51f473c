/**
 * The client's local history: everything this device decrypted and showed (room messages and
 * direct messages, live or caught up), the catch-up cursors, and the end-to-end engine's secrets
 * (pre-key private keys), in a SQLite database in the config directory (`history-ID.db`, ID from
 * the identity's private key: {@linkcode historyPath}; mode 0600, WAL). Scrollback, search and
 * unread counts read from it.
 *
 * ## Encrypted at rest
 *
 * Every value that could say what was said, or by whom, is sealed with AES-256-GCM under a key
 * derived from the identity's private key (`local_store_crypto.ts` documents the derivation): a
 * copy of this file opens only together with the identity file, and only with the identity that
 * made it (a sealed verifier is checked on open; another identity gets
 * {@linkcode LocalStoreError} `wrong_identity`, never garbage, and nothing is overwritten).
 *
 * In clear (SECURITY.md quotes this list), for indexing:
 *
 * - `meta`: the schema version, the HKDF salt, the sealed verifier;
 * - `conversations.conv`: a room's name as `#room`; for a direct conversation, `@` and a keyed
 *   hash (HMAC) of the other user's name, never the name (which is sealed in `name`);
 * - `conversations.read_upto`, `conversations.dropped_seq`: where reading got to, and the
 *   highest room sequence number dropped by the size bound;
 * - `messages.id` (local order of arrival), `messages.conv`, `messages.seq` (the room log's
 *   sequence number, when it has one), `messages.dedupe` (a keyed hash of the message, to store
 *   it once), and the sealed value's length (padded to 32 bytes);
 * - `cursors`: per room, the last room log sequence number seen; the inbox cursor;
 * - `secrets.name`: the names of the engine's secrets (the caller picks names that say nothing,
 *   such as pre-key ids), never their values.
 *
 * Sealed: each message's text, sender user and device, recipient, time, trust, flags (action,
 * late, copy, history); a direct conversation's user name; every secret value.
 *
 * So a thief of this file without the identity file learns which rooms there are, how many
 * messages each conversation holds and in what order they came, how many direct conversations
 * there are, the room sequence numbers, and the padded sizes; not who said what, to whom, when,
 * or any text.
 *
 * ## Order and bounds
 *
 * Messages keep the order this device stored them in (`id`), which is the order it showed them.
 * Each conversation keeps at most {@linkcode MAX_MESSAGES_PER_CONVERSATION} messages: the oldest
 * go first. A search decrypts at most {@linkcode MAX_SEARCH_SCAN} messages, newest first.
 *
 * Writes are serialised: `add`, the cursor setters and the secret writers apply in call order,
 * so when `setLastSeq` resolves, every message added before it is on disk.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { setImmediate } from "node:timers";
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { decodeSinglePem } from "../crypto/pem.ts";
import { ensurePrivateDir, PRIVATE_FILE_MODE } from "../util/files.ts";
import type { ClientEvent, TrustLevel } from "./events.ts";
import type { Identity } from "./identity.ts";
import { historyFileId, HistoryKeys, SealError } from "./local_store_crypto.ts";

/** File names of histories in the config directory start with this (`history-ID.db`). */
export const HISTORY_FILE_PREFIX = "history-";
/** Most messages kept per conversation; past it the oldest are dropped. */
export const MAX_MESSAGES_PER_CONVERSATION = 10_000;
/** Most messages one search decrypts (newest first): about 0.4 s of work on a laptop. */
export const MAX_SEARCH_SCAN = 20_000;
/** Most messages one page returns. */
export const MAX_PAGE = 1_000;
/** Longest secret name. */
export const MAX_SECRET_NAME = 200;
/** How long a write waits for another process's lock before failing. */
export const BUSY_TIMEOUT_MS = 5_000;
/** Messages decrypted at once while searching. */
const SEARCH_BATCH = 500;

const SCHEMA_VERSION = "1";
const VERIFIER_TEXT = "openchat history verifier v1";

const SCHEMA = `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE conversations (
    conv TEXT PRIMARY KEY,
    name BLOB,
    read_upto INTEGER NOT NULL DEFAULT 0,
    dropped_seq INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conv TEXT NOT NULL,
    seq INTEGER,
    dedupe TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL
  );
  CREATE INDEX messages_by_conv ON messages (conv, id);
  CREATE TABLE cursors (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
  CREATE TABLE secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
`;

/** A room message as the client shows it. */
export type RoomMessage = Extract<ClientEvent, { type: "message" }>;
/** A direct message as the client shows it. */
export type DirectMessage = Extract<ClientEvent, { type: "dm" }>;

/**
 * What {@linkcode LocalStore.add} takes: a `message` or `dm` event, optionally with `key`, a
 * caller's unique name for it (e.g. `session|scope|epoch|n`). Without `key`, a message is known
 * by its conversation, sender, device, recipient, time (milliseconds), action flag and text,
 * and by its room `seq` when it has one: a copy stored without `seq` and one with it are the
 * same message; two with the same content and different `seq` are two.
 */
export type HistoryRecord = (RoomMessage | DirectMessage) & { readonly key?: string };

/** A room (`#lobby`) or a direct conversation with another user (`@bob`). */
export type Conversation = `#${string}` | `@${string}`;

/** The conversation of `room`. */
export function roomConversation(room: string): Conversation {
  return `#${room}`;
}

/** The direct conversation with `user`. */
export function directConversation(user: string): Conversation {
  return `@${user}`;
}

/** Where `record` belongs, for the user `me`: its room, or the other user of a direct message. */
export function conversationOf(record: RoomMessage | DirectMessage, me: string): Conversation {
  if (record.type === "message") return roomConversation(record.room);
  return directConversation(record.from === me ? record.to : record.from);
}

/** A message read back from the store. */
export interface StoredMessage {
  /** Local order of arrival (increasing; never reused). */
  readonly id: number;
  readonly conversation: Conversation;
  /** The event as it was stored (with `seq` and `history` if it had them). */
  readonly event: RoomMessage | DirectMessage;
}

/** What a search found. */
export interface SearchResult {
  /** Matches, newest first. */
  readonly matches: StoredMessage[];
  /** Messages decrypted. */
  readonly scanned: number;
  /** False when the scan stopped at {@linkcode MAX_SEARCH_SCAN} before the oldest message. */
  readonly complete: boolean;
}

/** Why the store cannot be used. */
export type LocalStoreErrorCode =
  | "wrong_identity"
  | "not_history"
  | "schema"
  | "unusable"
  | "damaged"
  | "closed";

/** The history database cannot be opened or used; the message says why and what to do. */
export class LocalStoreError extends Error {
  constructor(message: string, readonly code: LocalStoreErrorCode, options?: ErrorOptions) {
    super(message, options);
    this.name = "LocalStoreError";
  }
}

/** Options of {@linkcode LocalStore.open}. */
export interface LocalStoreOptions {
  /** Messages kept per conversation (default {@linkcode MAX_MESSAGES_PER_CONVERSATION}). */
  maxPerConversation?: number;
}

/** The parts of an identity the store needs. */
export type StoreIdentity = Pick<Identity, "user" | "device" | "privateKeyPem">;

/**
 * The history of `identity` in the config directory `dir`: `history-ID.db`, ID derived from its
 * private key (`local_store_crypto.ts`), so each identity has its own file.
 */
export async function historyPath(
  dir: string,
  identity: Pick<StoreIdentity, "privateKeyPem">,
): Promise<string> {
  const der = decodeSinglePem(identity.privateKeyPem, "PRIVATE KEY");
  try {
    return join(dir, `${HISTORY_FILE_PREFIX}${await historyFileId(der)}.db`);
  } finally {
    der.fill(0);
  }
}

interface MessageRow {
  id: number;
  conv: string;
  seq: number | null;
  dedupe: string;
  body: Uint8Array;
}

/** The local history of one identity. */
export class LocalStore {
  readonly #db: DatabaseSync;
  readonly #keys: HistoryKeys;
  readonly #statements = new Map<string, StatementSync>();
  readonly #max: number;
  /** Conversation to its `conv` column, and back (direct ones are blinded on disk). */
  readonly #convIds = new Map<Conversation, string>();
  readonly #convNames = new Map<string, Conversation>();
  /** Unread messages per `conv` column, kept as they change (counting on each ask is slow). */
  readonly #unread = new Map<string, number>();
  /**
   * Messages per `conv` column as this store counted them (counting at every insertion made a
   * catch-up of N messages cost N^2/2 index steps); past the bound, the trim counts for real.
   */
  readonly #stored = new Map<string, number>();
  /** Cursor values as set (the disk write may still be queued). */
  readonly #cursors = new Map<string, number>();
  readonly #listeners = new Set<(message: StoredMessage) => void>();
  #tail: Promise<unknown> = Promise.resolve();
  /**
   * The commit of the writes of this turn of the event loop (group commit): one transaction
   * takes every write queued in a turn, so a catch-up of thousands of messages costs a commit
   * per turn, not one per message. A write's promise resolves once its commit is done.
   */
  #commit:
    | { done: Promise<void>; resolve: () => void; reject: (error: unknown) => void }
    | undefined;
  #open = true;

  /** The database file. */
  readonly path: string;
  /** The user whose history this is. */
  readonly user: string;

  private constructor(
    path: string,
    db: DatabaseSync,
    keys: HistoryKeys,
    user: string,
    max: number,
  ) {
    this.path = path;
    this.#db = db;
    this.#keys = keys;
    this.user = user;
    this.#max = max;
  }

  /**
   * Opens the history at `path` for `identity`, creating it (mode 0600, in a 0700 directory) if
   * there is none.
   *
   * @throws {LocalStoreError} `wrong_identity` when the file was made with another identity's
   *   key, `not_history` when it is some other SQLite file, `schema` for a newer schema,
   *   `unusable` when it cannot be opened at all. The file is left untouched in each case.
   */
  static async open(
    path: string,
    identity: StoreIdentity,
    options: LocalStoreOptions = {},
  ): Promise<LocalStore> {
    const max = options.maxPerConversation ?? MAX_MESSAGES_PER_CONVERSATION;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new RangeError(`maxPerConversation must be a positive integer, got ${max}`);
    }
    const der = decodeSinglePem(identity.privateKeyPem, "PRIVATE KEY");
    // Made before the transaction (no await may happen inside it); used if the file is new.
    const freshSalt = HistoryKeys.newSalt();
    const freshKeys = await HistoryKeys.derive(der, freshSalt);
    const freshVerifier = await freshKeys.seal(
      new TextEncoder().encode(VERIFIER_TEXT),
      "meta",
      "verifier",
    );
    let db: DatabaseSync | undefined;
    try {
      await ensurePrivateDir(dirname(path));
      await createPrivateFile(path);
      db = new DatabaseSync(path);
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.exec("BEGIN IMMEDIATE");
      let meta: { salt: string; verifier: string };
      try {
        meta = checkOrCreateSchema(db, path, {
          salt: freshSalt.toBase64(),
          verifier: freshVerifier.toBase64(),
        });
        db.exec("COMMIT");
      } catch (error) {
        db.exec("ROLLBACK");
        throw error;
      }
      const salt = Uint8Array.fromBase64(meta.salt);
      const keys = salt.toBase64() === freshSalt.toBase64()
        ? freshKeys
        : await HistoryKeys.derive(der, salt);
      try {
        await keys.open(Uint8Array.fromBase64(meta.verifier), "meta", "verifier");
      } catch (error) {
        if (!(error instanceof SealError)) throw error;
        throw new LocalStoreError(
          `${path} holds the history of another identity: it does not open with the key of ` +
            `${identity.user}/${identity.device}. It was left as it is: open it with the identity ` +
            `that made it, or move it aside to start a new history`,
          "wrong_identity",
        );
      }
      // Only once the file is known to be ours: a foreign file is left exactly as it was.
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      const store = new LocalStore(path, db, keys, identity.user, max);
      await store.#loadConversations();
      store.#loadCursors();
      store.#countUnread();
      store.#countStored();
      return store;
    } catch (error) {
      db?.close();
      if (error instanceof LocalStoreError) throw error;
      throw new LocalStoreError(
        `${path} is not a usable history database (${(error as Error).message})`,
        "unusable",
        { cause: error },
      );
    } finally {
      der.fill(0);
    }
  }

  // ---- messages ----------------------------------------------------------------------------

  /**
   * Stores a message unless it is already stored (see {@linkcode HistoryRecord} for what makes
   * two the same); resolves true when it was new. A message of our own marks its conversation
   * read up to it.
   */
  add(record: HistoryRecord): Promise<boolean> {
    return this.#serial(() => this.#add(record));
  }

  async #add(record: HistoryRecord): Promise<boolean> {
    const conversation = conversationOf(record, this.user);
    const conv = await this.#conversationId(conversation, true);
    const { key, ...event } = record;
    const seq = event.type === "message" && event.seq !== undefined ? event.seq : undefined;
    if (seq !== undefined && (!Number.isSafeInteger(seq) || seq < 0)) {
      throw new RangeError(`seq must be a non-negative integer, got ${seq}`);
    }
    const base = key !== undefined ? `key\0${key}` : `content\0${contentKey(event)}`;
    const first = await this.#keys.blind(`message\0${conv}\0${base}`);
    const found = this.#get<{ id: number; seq: number | null }>(
      "SELECT id, seq FROM messages WHERE dedupe = ?",
      first,
    );
    let dedupe = first;
    if (found) {
      // Only needed for a message that looks like one already stored (blinding costs an HMAC).
      const withSeq = seq !== undefined && key === undefined
        ? await this.#keys.blind(`message\0${conv}\0${base}\0${seq}`)
        : undefined;
      if (withSeq === undefined || found.seq === null || found.seq === seq) {
        if (found.seq === null && seq !== undefined) {
          this.#run("UPDATE messages SET seq = ? WHERE id = ?", seq, found.id);
        }
        return false;
      }
      if (this.#get("SELECT id FROM messages WHERE dedupe = ?", withSeq)) return false;
      dedupe = withSeq;
    }
    if (seq !== undefined) {
      const dropped = this.#get<{ dropped_seq: number }>(
        "SELECT dropped_seq FROM conversations WHERE conv = ?",
        conv,
      );
      // Older than what the size bound already dropped: storing it would make it the newest.
      if (dropped && seq <= dropped.dropped_seq) return false;
    }
    const body = await this.#keys.sealJson(event, "message", `${conv}\0${dedupe}`);
    const id = this.#transactionFor(conv, () => {
      const changes = this.#run(
        "INSERT OR IGNORE INTO messages (conv, seq, dedupe, body) VALUES (?, ?, ?, ?)",
        conv,
        seq ?? null,
        dedupe,
        body,
      );
      if (changes === 0) return undefined;
      const id = this.#get<{ id: number }>("SELECT last_insert_rowid() AS id")!.id;
      this.#unread.set(conv, (this.#unread.get(conv) ?? 0) + 1);
      this.#stored.set(conv, (this.#stored.get(conv) ?? 0) + 1);
      if (this.#stored.get(conv)! > this.#max) this.#trim(conv);
      if (event.from === this.user) {
        this.#run(
          "UPDATE conversations SET read_upto = MAX(read_upto, ?) WHERE conv = ?",
          id,
          conv,
        );
        this.#unread.set(conv, 0);
      }
      return id;
    });
    if (id === undefined) return false;
    const stored: StoredMessage = { id, conversation, event };
    for (const listener of this.#listeners) {
      try {
        listener(stored);
      } catch {
        // A broken listener must not break storing.
      }
    }
    return true;
  }

  /** Drops the oldest messages of `conv` past the bound (inside the caller's transaction). */
  #trim(conv: string): void {
    const { n } = this.#get<{ n: number }>(
      "SELECT COUNT(*) AS n FROM messages WHERE conv = ?",
      conv,
    )!;
    this.#stored.set(conv, n);
    const excess = n - this.#max;
    if (excess <= 0) return;
    this.#stored.set(conv, this.#max);
    const last = this.#get<{ id: number; seq: number | null }>(
      "SELECT MAX(id) AS id, MAX(seq) AS seq FROM (SELECT id, seq FROM messages WHERE conv = ? ORDER BY id LIMIT ?)",
      conv,
      excess,
    )!;
    const unreadDropped = this.#get<{ n: number }>(
      "SELECT COUNT(*) AS n FROM messages WHERE conv = ? AND id <= ? AND id > (SELECT read_upto FROM conversations WHERE conv = ?)",
      conv,
      last.id,
      conv,
    )!.n;
    this.#unread.set(conv, Math.max(0, (this.#unread.get(conv) ?? 0) - unreadDropped));
    this.#run("DELETE FROM messages WHERE conv = ? AND id <= ?", conv, last.id);
    if (last.seq !== null) {
      this.#run(
        "UPDATE conversations SET dropped_seq = MAX(dropped_seq, ?) WHERE conv = ?",
        last.seq,
        conv,
      );
    }
  }

  /**
   * Up to `limit` messages of `conversation`, oldest first: the newest ones, or those just
   * before the id `before`, or those just after the id `after`.
   */
  async page(
    conversation: Conversation,
    options: { before?: number; after?: number; limit: number },
  ): Promise<StoredMessage[]> {
    this.#check();
    const limit = Math.max(0, Math.min(MAX_PAGE, Math.floor(options.limit)));
    const conv = this.#convIds.get(conversation);
    if (conv === undefined || limit === 0) return [];
    let rows: MessageRow[];
    if (options.after !== undefined) {
      rows = this.#all<MessageRow>(
        "SELECT id, conv, seq, dedupe, body FROM messages WHERE conv = ? AND id > ? ORDER BY id LIMIT ?",
        conv,
        options.after,
        limit,
      );
    } else {
      rows = this.#all<MessageRow>(
        "SELECT id, conv, seq, dedupe, body FROM messages WHERE conv = ? AND id < ? ORDER BY id DESC LIMIT ?",
        conv,
        options.before ?? Number.MAX_SAFE_INTEGER,
        limit,
      ).reverse();
    }
    return await Promise.all(rows.map((row) => this.#decode(row)));
  }

  /** The message with local id `id`, if it is still stored. */
  async get(id: number): Promise<StoredMessage | undefined> {
    this.#check();
    const row = this.#get<MessageRow>(
      "SELECT id, conv, seq, dedupe, body FROM messages WHERE id = ?",
      id,
    );
    return row ? await this.#decode(row) : undefined;
  }

  /**
   * Messages whose text contains `text` (case-insensitive), newest first, at most `limit`, in
   * `conversation` or in all of them. At most {@linkcode MAX_SEARCH_SCAN} messages (or
   * `maxScan`) are decrypted; `complete` says whether that reached the oldest.
   */
  async search(
    text: string,
    options: { limit: number; conversation?: Conversation; maxScan?: number },
  ): Promise<SearchResult> {
    this.#check();
    const needle = text.toLocaleLowerCase();
    const maxScan = Math.min(options.maxScan ?? MAX_SEARCH_SCAN, MAX_SEARCH_SCAN);
    const matches: StoredMessage[] = [];
    if (needle === "" || options.limit <= 0) return { matches, scanned: 0, complete: true };
    let conv: string | undefined;
    if (options.conversation !== undefined) {
      conv = this.#convIds.get(options.conversation);
      if (conv === undefined) return { matches, scanned: 0, complete: true };
    }
    let before = Number.MAX_SAFE_INTEGER;
    let scanned = 0;
    while (scanned < maxScan) {
      const batch = Math.min(SEARCH_BATCH, maxScan - scanned);
      const rows = conv === undefined
        ? this.#all<MessageRow>(
          "SELECT id, conv, seq, dedupe, body FROM messages WHERE id < ? ORDER BY id DESC LIMIT ?",
          before,
          batch,
        )
        : this.#all<MessageRow>(
          "SELECT id, conv, seq, dedupe, body FROM messages WHERE conv = ? AND id < ? ORDER BY id DESC LIMIT ?",
          conv,
          before,
          batch,
        );
      if (rows.length === 0) return { matches, scanned, complete: true };
      scanned += rows.length;
      before = rows.at(-1)!.id;
      for (const message of await Promise.all(rows.map((row) => this.#decode(row)))) {
        if (!message.event.text.toLocaleLowerCase().includes(needle)) continue;
        matches.push(message);
        if (matches.length >= options.limit) return { matches, scanned, complete: false };
      }
      if (rows.length < batch) return { matches, scanned, complete: true };
    }
    const older = conv === undefined
      ? this.#get("SELECT id FROM messages WHERE id < ? LIMIT 1", before)
      : this.#get("SELECT id FROM messages WHERE conv = ? AND id < ? LIMIT 1", conv, before);
    return { matches, scanned, complete: older === undefined };
  }

  /** How many messages of `conversation` came after it was last read. */
  unread(conversation: Conversation): number {
    this.#check();
    const conv = this.#convIds.get(conversation);
    return conv === undefined ? 0 : this.#unread.get(conv) ?? 0;
  }

  /** Marks `conversation` read up to the message `upto` (default: its newest). */
  markRead(conversation: Conversation, upto?: number): void {
    this.#check();
    const conv = this.#convIds.get(conversation);
    if (conv === undefined) return;
    this.#run(
      "UPDATE conversations SET read_upto = MAX(read_upto, COALESCE(?, (SELECT MAX(id) FROM messages WHERE conv = ?), 0)) WHERE conv = ?",
      upto ?? null,
      conv,
      conv,
    );
    this.#countUnread(conv);
  }

  /** Every conversation with unread messages, and how many. */
  unreadCounts(): Map<Conversation, number> {
    this.#check();
    const counts = new Map<Conversation, number>();
    for (const [conv, count] of this.#unread) {
      const name = this.#convNames.get(conv);
      if (name !== undefined && count > 0) counts.set(name, count);
    }
    return counts;
  }

  /** The conversations with stored messages. */
  conversations(): Conversation[] {
    return [...this.#convIds.keys()];
  }

  /** Calls `listener` after each message is stored; returns the unsubscribe function. */
  onAdded(listener: (message: StoredMessage) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // ---- catch-up cursors --------------------------------------------------------------------

  /** The last room log sequence number seen in `room` (0 when none). */
  lastSeq(room: string): number {
    this.#check();
    return this.#cursors.get(`room:${room}`) ?? 0;
  }

  /**
   * Records the last room log sequence number seen in `room`. It is written after every
   * message added before this call: once it resolves, those messages are stored.
   */
  setLastSeq(room: string, seq: number): Promise<void> {
    return this.#setCursor(`room:${room}`, seq);
  }

  /** The inbox cursor: the last inbox sequence number processed and stored (0 when none). */
  inboxCursor(): number {
    this.#check();
    return this.#cursors.get("inbox") ?? 0;
  }

  /** Records the inbox cursor, after every message added before this call (see `setLastSeq`). */
  setInboxCursor(seq: number): Promise<void> {
    return this.#setCursor("inbox", seq);
  }

  #setCursor(name: string, seq: number): Promise<void> {
    this.#check();
    if (!Number.isSafeInteger(seq) || seq < 0) {
      return Promise.reject(new RangeError(`A cursor must be a non-negative integer, got ${seq}`));
    }
    this.#cursors.set(name, seq);
    return this.#serial(() => {
      this.#run(
        "INSERT INTO cursors (name, seq) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
        name,
        seq,
      );
    });
  }

  // ---- secrets -----------------------------------------------------------------------------

  /** Stores `bytes` as the secret `name` (replacing one of that name), sealed. */
  putSecret(name: string, bytes: Uint8Array): Promise<void> {
    checkSecretName(name);
    const copy = bytes.slice();
    return this.#serial(async () => {
      const value = await this.#keys.seal(copy, "secret", name);
      copy.fill(0);
      this.#run(
        "INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        name,
        value,
      );
    });
  }

  /** The secret `name`, or undefined. */
  getSecret(name: string): Promise<Uint8Array | undefined> {
    checkSecretName(name);
    // Behind queued writes, so a secret put just before is found.
    return this.#serial(async () => {
      const row = this.#get<{ value: Uint8Array }>(
        "SELECT value FROM secrets WHERE name = ?",
        name,
      );
      if (!row) return undefined;
      try {
        return await this.#keys.open(row.value, "secret", name);
      } catch (error) {
        throw this.#damaged(error);
      }
    });
  }

  /** Deletes the secret `name`; resolves true if there was one. */
  deleteSecret(name: string): Promise<boolean> {
    checkSecretName(name);
    return this.#serial(() => this.#run("DELETE FROM secrets WHERE name = ?", name) > 0);
  }

  /** Names of the secrets that start with `prefix`, sorted. */
  secretNames(prefix = ""): string[] {
    this.#check();
    return this.#all<{ name: string }>(
      "SELECT name FROM secrets WHERE substr(name, 1, length(?)) = ? ORDER BY name",
      prefix,
      prefix,
    ).map((row) => row.name);
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  /** Resolves once every write queued so far is done (and committed). */
  async flush(): Promise<void> {
    await this.#tail.catch(() => {});
    this.#commitNow();
    await this.#committed().catch(() => {});
  }

  /** Finishes queued writes and closes the database; later calls fail. */
  async close(): Promise<void> {
    if (!this.#open) return;
    await this.flush();
    if (!this.#open) return;
    this.#open = false;
    this.#statements.clear();
    this.#listeners.clear();
    this.#db.close();
  }

  // ---- internals ---------------------------------------------------------------------------

  #serial<T>(task: () => Promise<T> | T): Promise<T> {
    try {
      this.#check();
    } catch (error) {
      return Promise.reject(error);
    }
    const run = this.#tail.catch(() => {}).then(() => {
      this.#check();
      return task();
    });
    this.#tail = run;
    // The next task does not wait for the commit; the caller does.
    return run.then(async (result) => {
      await this.#committed();
      return result;
    });
  }

  /** Resolves once what was written so far is committed. */
  #committed(): Promise<void> {
    return this.#commit?.done ?? Promise.resolve();
  }

  /** Commits the open transaction, if any, now. */
  #commitNow(): void {
    const commit = this.#commit;
    if (!commit) return;
    this.#commit = undefined;
    if (!this.#db.isTransaction) return commit.resolve();
    try {
      this.#db.exec("COMMIT");
      commit.resolve();
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      this.#countUnread();
      this.#countStored();
      commit.reject(error);
    }
  }

  #check(): void {
    if (!this.#open) throw new LocalStoreError(`${this.path} is closed`, "closed");
  }

  /** The `conv` column of `conversation`, recording the conversation when `create`. */
  async #conversationId(conversation: Conversation, create: boolean): Promise<string> {
    const known = this.#convIds.get(conversation);
    if (known !== undefined) return known;
    const conv = conversation.startsWith("#")
      ? conversation
      : `@${await this.#keys.blind(`conversation\0${conversation}`)}`;
    if (create) {
      const name = conv === conversation
        ? null
        : await this.#keys.sealJson(conversation, "conversation", conv);
      this.#run("INSERT OR IGNORE INTO conversations (conv, name) VALUES (?, ?)", conv, name);
      this.#convIds.set(conversation, conv);
      this.#convNames.set(conv, conversation);
    }
    return conv;
  }

  async #loadConversations(): Promise<void> {
    const rows = this.#all<{ conv: string; name: Uint8Array | null }>(
      "SELECT conv, name FROM conversations",
    );
    for (const row of rows) {
      let conversation: Conversation;
      if (row.name === null) {
        if (!row.conv.startsWith("#")) throw this.#damaged(`conversation ${row.conv} has no name`);
        conversation = row.conv as Conversation;
      } else {
        let name: unknown;
        try {
          name = await this.#keys.openJson(row.name, "conversation", row.conv);
        } catch (error) {
          throw this.#damaged(error);
        }
        if (typeof name !== "string" || !name.startsWith("@")) {
          throw this.#damaged(`conversation ${row.conv} has a bad name`);
        }
        conversation = name as Conversation;
      }
      this.#convIds.set(conversation, row.conv);
      this.#convNames.set(row.conv, conversation);
    }
  }

  /** Counts unread messages from the database: of `conv`, or of every conversation. */
  #countUnread(conv?: string): void {
    const rows = this.#all<{ conv: string; n: number }>(
      "SELECT c.conv AS conv, (SELECT COUNT(*) FROM messages m WHERE m.conv = c.conv AND m.id > c.read_upto) AS n FROM conversations c WHERE ? IS NULL OR c.conv = ?",
      conv ?? null,
      conv ?? null,
    );
    for (const row of rows) this.#unread.set(row.conv, row.n);
  }

  #loadCursors(): void {
    for (const row of this.#all<{ name: string; seq: number }>("SELECT name, seq FROM cursors")) {
      this.#cursors.set(row.name, row.seq);
    }
  }

  async #decode(row: MessageRow): Promise<StoredMessage> {
    const conversation = this.#convNames.get(row.conv);
    if (conversation === undefined) throw this.#damaged(`message ${row.id} has no conversation`);
    let value: unknown;
    try {
      value = await this.#keys.openJson(row.body, "message", `${row.conv}\0${row.dedupe}`);
    } catch (error) {
      throw this.#damaged(error);
    }
    const event = parseEvent(value);
    if (!event) throw this.#damaged(`message ${row.id} is not a message`);
    // The clear seq column may have been filled in after the message was stored.
    const withSeq = event.type === "message" && row.seq !== null && event.seq === undefined
      ? { ...event, seq: row.seq }
      : event;
    return { id: row.id, conversation, event: withSeq };
  }

  #damaged(cause: unknown): LocalStoreError {
    const detail = cause instanceof Error ? cause.message : String(cause);
    return new LocalStoreError(
      `${this.path} is damaged or was changed outside openchat (${detail})`,
      "damaged",
      { cause },
    );
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #run(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.#statement(sql).run(...params).changes);
  }

  #get<T>(sql: string, ...params: SQLInputValue[]): T | undefined {
    return this.#statement(sql).get(...params) as T | undefined;
  }

  #all<T>(sql: string, ...params: SQLInputValue[]): T[] {
    return this.#statement(sql).all(...params) as T[];
  }

  /** Counts the stored messages of `conv`, or of every conversation, from the database. */
  #countStored(conv?: string): void {
    const rows = this.#all<{ conv: string; n: number }>(
      "SELECT conv, COUNT(*) AS n FROM messages WHERE ? IS NULL OR conv = ? GROUP BY conv",
      conv ?? null,
      conv ?? null,
    );
    if (conv !== undefined) this.#stored.set(conv, 0);
    for (const row of rows) this.#stored.set(row.conv, row.n);
  }

  /**
   * A transaction that changes the messages of `conv` (its unread and stored counts are redone
   * if it fails).
   */
  #transactionFor<T>(conv: string, fn: () => T): T {
    try {
      return this.#transaction(fn);
    } catch (error) {
      this.#countUnread(conv);
      this.#countStored(conv);
      throw error;
    }
  }

  /**
   * Runs `fn` as one unit inside this turn's transaction (opened here if none is: see
   * {@linkcode LocalStore.#commit}); if `fn` throws, only its own changes are undone.
   */
  #transaction<T>(fn: () => T): T {
    if (!this.#db.isTransaction) {
      this.#db.exec("BEGIN IMMEDIATE");
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const done = new Promise<void>((yes, no) => {
        resolve = yes;
        reject = no;
      });
      done.catch(() => {}); // each write's caller sees the failure
      this.#commit = { done, resolve, reject };
      setImmediate(() => this.#commitNow());
    }
    this.#db.exec("SAVEPOINT one_write");
    try {
      const result = fn();
      this.#db.exec("RELEASE one_write");
      return result;
    } catch (error) {
      this.#db.exec("ROLLBACK TO one_write");
      this.#db.exec("RELEASE one_write");
      throw error;
    }
  }
}

/** Creates `path` empty with mode 0600 if missing, and takes group and other access away. */
async function createPrivateFile(path: string): Promise<void> {
  try {
    const file = await Deno.open(path, { createNew: true, write: true, mode: PRIVATE_FILE_MODE });
    file.close();
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
  await Deno.chmod(path, PRIVATE_FILE_MODE);
}

/**
 * Creates the schema in an empty file, or checks that the file holds it; returns the salt and
 * verifier (the `fresh` ones for a new file). A file with other tables is refused untouched.
 */
function checkOrCreateSchema(
  db: DatabaseSync,
  path: string,
  fresh: { salt: string; verifier: string },
): { salt: string; verifier: string } {
  const tables = db.prepare("SELECT COUNT(*) AS n FROM sqlite_master").get() as { n: number };
  if (tables.n === 0) {
    db.exec(SCHEMA);
    const insert = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
    insert.run("history_schema", SCHEMA_VERSION);
    insert.run("salt", fresh.salt);
    insert.run("verifier", fresh.verifier);
    return fresh;
  }
  let meta: Map<string, string>;
  try {
    const rows = db.prepare("SELECT key, value FROM meta").all() as {
      key: string;
      value: string;
    }[];
    meta = new Map(rows.map((row) => [row.key, row.value]));
  } catch {
    meta = new Map(); // no meta table: not ours
  }
  const version = meta.get("history_schema");
  if (version === undefined) {
    throw new LocalStoreError(
      `${path} is a SQLite database but not an openchat history; move it aside`,
      "not_history",
    );
  }
  if (version !== SCHEMA_VERSION) {
    throw new LocalStoreError(
      `${path} has history schema ${version}, this openchat reads ${SCHEMA_VERSION}`,
      "schema",
    );
  }
  const salt = meta.get("salt");
  const verifier = meta.get("verifier");
  if (salt === undefined || verifier === undefined) {
    throw new LocalStoreError(`${path} has no key salt or verifier`, "damaged");
  }
  return { salt, verifier };
}

/** What identifies a message's content (see {@linkcode HistoryRecord}). */
function contentKey(event: RoomMessage | DirectMessage): string {
  const to = event.type === "dm" ? event.to : "";
  return [
    event.type,
    event.from,
    event.device,
    to,
    String(Date.parse(event.ts)),
    event.action ? "1" : "0",
    event.text,
  ]
    .join("\0");
}

const TRUST_LEVELS: ReadonlySet<string> = new Set<TrustLevel>([
  "verified",
  "vouched",
  "first_seen",
  "not_accepted",
]);

/** A stored event read back (sealed, so only a shape check against our own bugs). */
function parseEvent(value: unknown): RoomMessage | DirectMessage | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const event = value as Record<string, unknown>;
  const strings = ["from", "device", "text", "ts"].every((name) => typeof event[name] === "string");
  if (!strings || typeof event.verified !== "boolean") return undefined;
  if (typeof event.trust !== "string" || !TRUST_LEVELS.has(event.trust)) return undefined;
  if (event.type === "message" && typeof event.room === "string") return event as RoomMessage;
  if (event.type === "dm" && typeof event.to === "string") return event as DirectMessage;
  return undefined;
}

function checkSecretName(name: string): void {
  // deno-lint-ignore no-control-regex
  if (name.length === 0 || name.length > MAX_SECRET_NAME || /[\u0000-\u001f\u007f]/.test(name)) {
    throw new RangeError(`A secret name is 1 to ${MAX_SECRET_NAME} printable characters`);
  }
}
