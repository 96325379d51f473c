/**
 * The server's store: persistent rooms, memberships and moderation, the room logs and device
 * inboxes of ciphertext, the intervals in which each device was a member, and pre-keys. One
 * async interface, made of small parts, with an embedded SQLite implementation
 * (`sqlite_store.ts`); a cluster implementation (NATS JetStream) implements the same interface
 * and passes the same suite (`store_suite.ts`).
 *
 * Conventions shared by every method:
 * - Times are milliseconds since the Unix epoch, passed in by the caller (`now`, `ts`), so that
 *   tests and several servers agree on one clock: the store never reads the clock itself.
 * - Names (rooms, users, device labels) match `[a-z0-9][a-z0-9_-]{0,31}`; a device address is
 *   `user/device`. Payloads are opaque strings (ciphertext) that the store never parses.
 * - A refusal rejects with a `StoreError` subclass and changes nothing.
 *
 * @module
 */

/** A device address, `user/device`, e.g. `alice/laptop`. */
export type DeviceAddress = string;

/** A persistent room. */
export interface RoomRecord {
  name: string;
  /** When it was created (ms since epoch). */
  createdAt: number;
  /** The user who created it (and was made its owner). */
  createdBy: string;
  /** Free text; empty when none was set. */
  topic: string;
  /** The room's mode letters, sorted and without repeats (e.g. `"imt"`); empty when none. */
  modes: string;
}

/** A role a user holds in a room beyond plain membership. Plain members have none. */
export type Role = "owner" | "operator" | "voiced";

/** Every role, for validation and tests. */
export const ROLES: readonly Role[] = ["owner", "operator", "voiced"];

/** A user who is a member of a room. */
export interface Member {
  user: string;
  /** When the user (last) joined. */
  joinedAt: number;
  /** The user's role in the room, or null for a plain member. */
  role: Role | null;
}

/** The per-room lists a moderator keeps: who is banned, muted, or invited. */
export type ListKind = "ban" | "mute" | "invite";

/** Every list kind, for validation and tests. */
export const LIST_KINDS: readonly ListKind[] = ["ban", "mute", "invite"];

/** What a moderator records when putting a user on a list. */
export interface ListEntryInput {
  /** The user who did it. */
  by: string;
  /** Why (may be empty). */
  reason: string;
  /** When (ms since epoch). */
  at: number;
  /** When it lifts by itself (ms since epoch), or null for never. */
  until: number | null;
}

/** One user on one of a room's lists. */
export interface ListEntry extends ListEntryInput {
  room: string;
  kind: ListKind;
  user: string;
}

/**
 * A range of a room's log sequence numbers during which a device was a member: `[fromSeq,
 * toSeq)`, with `toSeq` null while it still is.
 */
export interface Interval {
  fromSeq: number;
  toSeq: number | null;
}

/** A sealed room message as the server appends it. */
export interface NewLogEntry {
  senderUser: string;
  /** The sender's device label (not the full address). */
  senderDevice: string;
  /** The sender's session id (an opaque token). */
  senderSession: string;
  /** The room's membership version the message was sealed for. */
  version: number;
  /** When the server accepted it (ms since epoch); retention counts from here. */
  ts: number;
  /** Opaque ciphertext. */
  payload: string;
}

/** A stored room message. */
export interface LogEntry extends NewLogEntry {
  room: string;
  /** Its sequence number in the room: 1, 2, 3... never reused. */
  seq: number;
}

/** One read of a room's log for one device. */
export interface LogPage {
  /** Entries after the asked sequence, in order, all inside the device's intervals. */
  entries: LogEntry[];
  /**
   * How many entries after the asked sequence and inside the device's intervals were removed by
   * retention before the device read them (0 when none), so the client can say so.
   */
  missed: number;
}

/** Something addressed to one device alone (key packages, direct messages). */
export interface NewInboxItem {
  /** What it is: `keys`, `dm` or another short lower-case word; the server decides. */
  kind: string;
  fromUser: string;
  /** The sender's device label. */
  fromDevice: string;
  fromSession: string;
  /** The room it concerns, when it concerns one. */
  room?: string | null;
  /** When the server accepted it (ms since epoch); retention counts from here. */
  ts: number;
  /** Opaque ciphertext. */
  payload: string;
}

/** A stored inbox item. */
export interface InboxItem extends Omit<NewInboxItem, "room"> {
  /** Its sequence number in the device's inbox: 1, 2, 3... never reused. */
  seq: number;
  room: string | null;
}

/** One read of a device's inbox. */
export interface InboxPage {
  items: InboxItem[];
  /**
   * How many items after the asked sequence were dropped unread (inbox full, or past retention)
   * and not yet acknowledged past. Repeated on every read until the device acks past them.
   */
  dropped: number;
}

/** A device's current signed pre-key (X25519, opaque to the store; the client signs it). */
export interface SignedPrekey {
  /** Opaque token chosen by the device. */
  id: string;
  payload: string;
  createdAt: number;
}

/** A one-time pre-key (opaque to the store). */
export interface OneTimePrekey {
  /** Opaque token chosen by the device, unique among its stored one-time pre-keys. */
  id: string;
  payload: string;
}

/** What a sender gets to wrap a key for an offline device. */
export interface PrekeyBundle {
  signed: SignedPrekey;
  /** A one-time pre-key, handed out to this caller only; null when the device has run out. */
  oneTime: OneTimePrekey | null;
}

/** What one `prune` removed. */
export interface PruneResult {
  roomEntries: number;
  inboxItems: number;
  listEntries: number;
  /** Session descriptions put longer ago than they are kept. */
  sessions: number;
}

/**
 * How a sender's session described itself (opaque to the store: the clients sign what matters),
 * kept so that a device reading history or its inbox later can verify what that session sent.
 */
export interface SessionRecord {
  /** The session id (an opaque token). */
  session: string;
  user: string;
  /** The device label. */
  device: string;
  /** Its announcement. */
  announce: string;
  /** Its latest agreement statement, or null. */
  agreement: string | null;
  /** The link that vouches for its device, or null. */
  link: string | null;
}

/** Rooms that exist until their owner deletes them. */
export interface RoomStore {
  /**
   * Creates a room owned by `createdBy` (who gets the owner role; joining is separate).
   *
   * @throws {RoomExistsError} when a room of that name exists.
   */
  create(name: string, createdBy: string, now: number): Promise<RoomRecord>;
  /** The room called `name`, if any. */
  get(name: string): Promise<RoomRecord | undefined>;
  /**
   * Rooms in name order, after `after` (exclusive) when given, at most `limit` (lowered to
   * `MAX_ROOM_PAGE`).
   */
  list(options?: { after?: string; limit?: number }): Promise<RoomRecord[]>;
  /**
   * Deletes the room with its members, roles, lists, intervals and log. Its sequence numbers are
   * not reused: a room created again under the same name continues after the last one.
   * Returns false when there was no such room.
   */
  delete(name: string): Promise<boolean>;
  /** Sets the topic (empty clears it). @throws {UnknownRoomError} */
  setTopic(name: string, topic: string): Promise<void>;
  /**
   * Replaces the room's mode letters (`a-z`, any order, repeats allowed) and returns them sorted
   * without repeats. The store gives letters no meaning. @throws {UnknownRoomError}
   */
  setModes(name: string, modes: string): Promise<string>;
}

/** Which users are in which rooms, kept while they are offline. */
export interface MembershipStore {
  /** Makes `user` a member; returns false (and changes nothing) if it already was. */
  join(room: string, user: string, now: number): Promise<boolean>;
  /**
   * Ends `user`'s membership and, in the same step, closes the open interval of every device of
   * that user in the room. Returns false when it was not a member. Roles and lists stay.
   */
  leave(room: string, user: string): Promise<boolean>;
  isMember(room: string, user: string): Promise<boolean>;
  /** Members of `room` in name order, with their roles. */
  membersOf(room: string): Promise<Member[]>;
  /** Rooms `user` is a member of, in name order. */
  roomsOf(user: string): Promise<string[]>;
}

/** Roles and the ban, mute and invite lists of each room. */
export interface ModerationStore {
  /** Gives `user` a role in `room`, or takes it away with null. @throws {UnknownRoomError} */
  setRole(room: string, user: string, role: Role | null): Promise<void>;
  /** `user`'s role in `room`, or null. */
  roleOf(room: string, user: string): Promise<Role | null>;
  /**
   * Puts `user` on a list, replacing an entry already there (a new duration or reason).
   *
   * @throws {UnknownRoomError}
   * @throws {LimitError} past `MAX_LIST_ENTRIES` entries in force of that kind.
   */
  putListEntry(room: string, kind: ListKind, user: string, entry: ListEntryInput): Promise<void>;
  /** Takes `user` off a list; returns false when not on it. */
  removeListEntry(room: string, kind: ListKind, user: string): Promise<boolean>;
  /** `user`'s entry on a list, if one is in force at `now` (expired entries are not). */
  getListEntry(
    room: string,
    kind: ListKind,
    user: string,
    now: number,
  ): Promise<ListEntry | undefined>;
  /** Entries of a list in force at `now`, in user name order. */
  listEntries(room: string, kind: ListKind, now: number): Promise<ListEntry[]>;
}

/** Each room's append-only log of ciphertext, and who may read which part of it. */
export interface RoomLogStore {
  /**
   * Appends to the room's log and returns the entry's sequence number: the room's previous one
   * plus one, atomically, even with several writers. Past the room's message limit the oldest
   * entry is dropped. @throws {UnknownRoomError}
   */
  append(room: string, entry: NewLogEntry): Promise<number>;
  /**
   * Appends `entries` (1 to `MAX_APPEND_BATCH`) to the room's log in order and returns their
   * sequence numbers. The single server batches the messages of one turn of its event loop this
   * way (group commit): when the promise resolves, every one is stored. SQLite makes a batch one
   * transaction (all or none, numbers consecutive); NATS appends it one entry at a time (a
   * failure part-way keeps the first ones; another server's entries may fall between), which is
   * why the cluster's delivery does not batch.
   *
   * @throws {UnknownRoomError}
   * @throws {InvalidInputError} on an empty or oversized batch or a bad entry (nothing appended).
   */
  appendMany(room: string, entries: readonly NewLogEntry[]): Promise<number[]>;
  /**
   * Entries with `seq > afterSeq`, in order, at most `limit` (lowered to
   * `MAX_READ_BATCH`), only those inside one of `device`'s intervals in `room`.
   */
  readForDevice(
    room: string,
    device: DeviceAddress,
    afterSeq: number,
    limit: number,
  ): Promise<LogPage>;
  /** The last sequence number ever assigned in `room` (0 when none). */
  lastSeq(room: string): Promise<number>;
  /**
   * Opens an interval for `device` starting at the room's next sequence number, and returns it;
   * returns the open one unchanged if there is one.
   *
   * @throws {UnknownRoomError}
   * @throws {NotMemberError} when the device's user is not a member of the room.
   */
  openInterval(room: string, device: DeviceAddress): Promise<Interval>;
  /**
   * Closes `device`'s open interval in `room` before the room's next sequence number; returns
   * false when none was open. An interval that would hold no sequence number is removed.
   */
  closeInterval(room: string, device: DeviceAddress): Promise<boolean>;
  /** `device`'s intervals in `room`, oldest first. */
  intervals(room: string, device: DeviceAddress): Promise<Interval[]>;
  /** The devices with an open interval in `room` (its member devices now), in address order. */
  openDevices(room: string): Promise<DeviceAddress[]>;
}

/** Each device's inbox of ciphertext addressed to it alone. */
export interface InboxStore {
  /**
   * Appends to `device`'s inbox and returns the item's sequence number. Past the inbox limit the
   * oldest item is dropped, and reported by `InboxPage.dropped`.
   */
  append(device: DeviceAddress, item: NewInboxItem): Promise<number>;
  /** Items with `seq > afterSeq`, in order, at most `limit` (lowered to MAX_READ_BATCH). */
  read(device: DeviceAddress, afterSeq: number, limit: number): Promise<InboxPage>;
  /**
   * Deletes every item up to and including `uptoSeq`, which the device has confirmed; returns
   * how many were deleted. @throws {InvalidInputError} when `uptoSeq` was never assigned.
   */
  ack(device: DeviceAddress, uptoSeq: number): Promise<number>;
}

/** Each device's pre-keys, so that senders can wrap keys for it while it is offline. */
export interface PrekeyStore {
  /** Replaces the device's signed pre-key (only the current one is kept). */
  setSigned(device: DeviceAddress, prekey: SignedPrekey): Promise<void>;
  /**
   * Adds one-time pre-keys, all or none.
   *
   * @throws {LimitError} when the device would hold more than `MAX_ONE_TIME_PREKEYS`.
   * @throws {InvalidInputError} on an id repeated in the batch or already stored.
   */
  addOneTime(device: DeviceAddress, prekeys: OneTimePrekey[]): Promise<void>;
  /**
   * The device's signed pre-key and its oldest one-time pre-key, which is removed in the same
   * step so that no two callers (in any process) ever get the same one. Undefined when the
   * device has no signed pre-key; then nothing is taken.
   */
  take(device: DeviceAddress): Promise<PrekeyBundle | undefined>;
  /** How many one-time pre-keys the device has left. */
  countOneTime(device: DeviceAddress): Promise<number>;
  /** Whether the device has a signed pre-key, and how many one-time pre-keys it has left. */
  status(device: DeviceAddress): Promise<{ signed: boolean; oneTime: number }>;
}

/**
 * The descriptions of the sessions that stored entries and items name. A description is kept
 * `SESSION_KEEP_FACTOR` (1.5) times `retentionMs` after it was last put; `prune` removes it
 * then. A server that puts a session's description again at least every `retentionMs / 2` while
 * it stores entries or items naming that session therefore never loses a description that a
 * stored entry needs: every such entry is at most half a retention younger than the last put,
 * and goes a retention after it was stored. (No index of the log by session is kept for this:
 * it would cost every append.)
 */
export interface SessionStore {
  /** Keeps `record` (replacing an earlier description of the same session) as of `now`. */
  put(record: SessionRecord, now: number): Promise<void>;
  /**
   * The stored descriptions of `sessions` (at most `MAX_READ_BATCH` ids), in the order asked;
   * unknown ones are left out.
   */
  get(sessions: string[]): Promise<SessionRecord[]>;
}

/** Retention and bounds, shared by every implementation. */
export interface StoreOptions {
  /** How long log entries and inbox items are kept; default DEFAULT_RETENTION_MS. */
  retentionMs?: number;
  /** Most entries a room's log keeps; default DEFAULT_MAX_ROOM_MESSAGES. */
  maxMessagesPerRoom?: number;
  /** Most items a device's inbox keeps; default DEFAULT_MAX_INBOX_ITEMS. */
  maxInboxItems?: number;
}

/** The whole store, as the server sees it. */
export interface ChatStore {
  readonly rooms: RoomStore;
  readonly members: MembershipStore;
  readonly moderation: ModerationStore;
  readonly log: RoomLogStore;
  readonly inbox: InboxStore;
  readonly prekeys: PrekeyStore;
  readonly sessions: SessionStore;
  /**
   * Removes what retention no longer allows at `now`: log entries and inbox items older than
   * the retention, expired list entries, and session descriptions put longer ago than they are
   * kept (see {@linkcode SessionStore}). The server calls it periodically.
   */
  prune(now: number): Promise<PruneResult>;
  /**
   * Forgets a device (e.g. revoked): its inbox and pre-keys are deleted and its open intervals
   * closed, so it can read nothing more and nobody wraps keys to it.
   */
  forgetDevice(device: DeviceAddress): Promise<void>;
  /**
   * A number that changes when another store instance (another process, another server) has
   * committed a change. Cheap enough to poll; compare with the last value seen and re-read
   * what matters (moderation, memberships) when it differs. Own writes may not change it.
   */
  version(): Promise<number>;
  /** Releases the store; further calls reject. */
  close(): Promise<void>;
}
