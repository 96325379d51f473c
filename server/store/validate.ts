/**
 * Input checks every store implementation runs before touching its data, so that a bad
 * argument is refused with an {@linkcode InvalidInputError} the same way by every engine.
 *
 * @module
 */

import { isValidRoomName, isValidUserName } from "../../protocol/names.ts";
import { InvalidInputError } from "./errors.ts";
import {
  DEFAULT_MAX_INBOX_ITEMS,
  DEFAULT_MAX_ROOM_MESSAGES,
  DEFAULT_RETENTION_MS,
  MAX_APPEND_BATCH,
  MAX_DESCRIPTION_CHARS,
  MAX_KIND_CHARS,
  MAX_READ_BATCH,
  MAX_REASON_CHARS,
  MAX_STORED_PAYLOAD_CHARS,
  MAX_TOKEN_CHARS,
  MAX_TOPIC_CHARS,
} from "./limits.ts";
import {
  LIST_KINDS,
  type ListEntryInput,
  type ListKind,
  type NewInboxItem,
  type NewLogEntry,
  type OneTimePrekey,
  type Role,
  ROLES,
  type SessionRecord,
  type SignedPrekey,
  type StoreOptions,
} from "./types.ts";

const TOKEN_PATTERN = new RegExp(`^[A-Za-z0-9_-]{1,${MAX_TOKEN_CHARS}}$`);
const KIND_PATTERN = new RegExp(`^[a-z][a-z0-9_]{0,${MAX_KIND_CHARS - 1}}$`);

const show = (value: unknown): string => {
  if (typeof value === "string") {
    return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  }
  return String(value);
};

/** Refuses `value` as not being `expected`. */
export function bad(what: string, expected: string, value: unknown): never {
  throw new InvalidInputError(`${what} must be ${expected} (received ${show(value)})`);
}

/** Checks a room name. */
export function checkRoom(room: unknown): string {
  return isValidRoomName(room) ? room : bad("room", "a room name", room);
}

/** Checks a user name (or a device label: the same rule). */
export function checkName(what: string, name: unknown): string {
  return isValidUserName(name) ? name : bad(what, "a name ([a-z0-9][a-z0-9_-]{0,31})", name);
}

/** Checks a device address `user/device` and returns its two parts. */
export function checkDevice(device: unknown): { user: string; label: string } {
  if (typeof device === "string") {
    const slash = device.indexOf("/");
    const user = device.slice(0, slash);
    const label = device.slice(slash + 1);
    if (slash > 0 && isValidUserName(user) && isValidUserName(label)) return { user, label };
  }
  return bad("device", "a device address user/device", device);
}

/** Checks a sequence number used as a position: a safe integer, 0 or more. */
export function checkSeq(what: string, seq: unknown): number {
  return Number.isSafeInteger(seq) && (seq as number) >= 0
    ? seq as number
    : bad(what, "an integer of 0 or more", seq);
}

/** Checks a read's `limit` (1 or more) and lowers it to {@linkcode MAX_READ_BATCH}. */
export function checkLimit(limit: unknown, max = MAX_READ_BATCH): number {
  if (!Number.isSafeInteger(limit) || (limit as number) < 1) {
    bad("limit", "an integer of 1 or more", limit);
  }
  return Math.min(limit as number, max);
}

/** Checks a time in ms since the epoch. */
export function checkTime(what: string, time: unknown): number {
  return Number.isSafeInteger(time) && (time as number) >= 0
    ? time as number
    : bad(what, "a time in whole milliseconds since 1970", time);
}

/** Checks an opaque payload. */
export function checkPayload(payload: unknown): string {
  if (typeof payload !== "string" || payload.length === 0) {
    bad("payload", "a non-empty string", payload);
  }
  if (payload.length > MAX_STORED_PAYLOAD_CHARS) {
    bad("payload", `at most ${MAX_STORED_PAYLOAD_CHARS} characters`, payload);
  }
  return payload;
}

/** Checks an opaque token (session id, pre-key id). */
export function checkToken(what: string, token: unknown): string {
  return typeof token === "string" && TOKEN_PATTERN.test(token)
    ? token
    : bad(what, `1 to ${MAX_TOKEN_CHARS} characters of [A-Za-z0-9_-]`, token);
}

/** Checks free text (topic, reason) against its bound. */
export function checkText(what: string, text: unknown, max: number): string {
  if (typeof text !== "string") bad(what, "a string", text);
  if (text.length > max) bad(what, `at most ${max} characters`, text);
  return text;
}

/** Checks a topic. */
export const checkTopic = (topic: unknown): string => checkText("topic", topic, MAX_TOPIC_CHARS);

/** Checks mode letters and returns them sorted without repeats. */
export function normalizeModes(modes: unknown): string {
  if (typeof modes !== "string" || !/^[a-z]*$/.test(modes)) {
    bad("modes", "lower-case letters a-z", modes);
  }
  return [...new Set(modes)].sort().join("");
}

/** Checks a role (or null for none). */
export function checkRole(role: unknown): Role | null {
  return role === null || ROLES.includes(role as Role)
    ? role as Role | null
    : bad("role", `one of ${ROLES.join(", ")} or null`, role);
}

/** Checks a list kind. */
export function checkListKind(kind: unknown): ListKind {
  return LIST_KINDS.includes(kind as ListKind)
    ? kind as ListKind
    : bad("kind", LIST_KINDS.join(", "), kind);
}

/** Checks what a moderator records. */
export function checkListEntry(entry: ListEntryInput): ListEntryInput {
  return {
    by: checkName("by", entry?.by),
    reason: checkText("reason", entry.reason, MAX_REASON_CHARS),
    at: checkTime("at", entry.at),
    until: entry.until === null ? null : checkTime("until", entry.until),
  };
}

/** Checks a room message before it is appended. */
export function checkLogEntry(entry: NewLogEntry): NewLogEntry {
  return {
    senderUser: checkName("senderUser", entry?.senderUser),
    senderDevice: checkName("senderDevice", entry.senderDevice),
    senderSession: checkToken("senderSession", entry.senderSession),
    version: checkSeq("version", entry.version),
    ts: checkTime("ts", entry.ts),
    payload: checkPayload(entry.payload),
  };
}

/** Checks a batch of room messages (1 to {@linkcode MAX_APPEND_BATCH}) before any is appended. */
export function checkLogBatch(entries: readonly NewLogEntry[]): NewLogEntry[] {
  if (!Array.isArray(entries) || entries.length === 0 || entries.length > MAX_APPEND_BATCH) {
    throw new InvalidInputError(
      `entries must be 1 to ${MAX_APPEND_BATCH} log entries, got ${
        Array.isArray(entries) ? entries.length : typeof entries
      }`,
    );
  }
  return entries.map(checkLogEntry);
}

/** Checks an inbox item before it is appended. */
export function checkInboxItem(item: NewInboxItem): Required<NewInboxItem> {
  const kind = typeof item?.kind === "string" && KIND_PATTERN.test(item.kind)
    ? item.kind
    : bad("kind", `a lower-case word of at most ${MAX_KIND_CHARS} characters`, item?.kind);
  return {
    kind,
    fromUser: checkName("fromUser", item.fromUser),
    fromDevice: checkName("fromDevice", item.fromDevice),
    fromSession: checkToken("fromSession", item.fromSession),
    room: item.room === undefined || item.room === null ? null : checkRoom(item.room),
    ts: checkTime("ts", item.ts),
    payload: checkPayload(item.payload),
  };
}

/** Checks a session description before it is kept. */
export function checkSessionRecord(record: SessionRecord): SessionRecord {
  const text = (what: string, value: unknown): string => {
    if (typeof value !== "string" || value.length === 0) bad(what, "a non-empty string", value);
    if (value.length > MAX_DESCRIPTION_CHARS) {
      bad(what, `at most ${MAX_DESCRIPTION_CHARS} characters`, value);
    }
    return value;
  };
  return {
    session: checkToken("session", record?.session),
    user: checkName("user", record.user),
    device: checkName("device", record.device),
    announce: text("announce", record.announce),
    agreement: record.agreement === null ? null : text("agreement", record.agreement),
    link: record.link === null ? null : text("link", record.link),
  };
}

/** Checks a signed pre-key. */
export function checkSignedPrekey(prekey: SignedPrekey): SignedPrekey {
  return {
    id: checkToken("id", prekey?.id),
    payload: checkPayload(prekey.payload),
    createdAt: checkTime("createdAt", prekey.createdAt),
  };
}

/** Checks a batch of one-time pre-keys: each well-formed, no id twice. */
export function checkOneTimePrekeys(prekeys: OneTimePrekey[]): OneTimePrekey[] {
  if (!Array.isArray(prekeys)) bad("prekeys", "an array", prekeys);
  const ids = new Set<string>();
  return prekeys.map((prekey) => {
    const id = checkToken("id", prekey?.id);
    if (ids.has(id)) bad("id", "unique within the batch", id);
    ids.add(id);
    return { id, payload: checkPayload(prekey.payload) };
  });
}

/** Retention and bounds with the defaults filled in. */
export type ResolvedOptions = Required<StoreOptions>;

/** Checks the options and fills in the defaults. */
export function resolveOptions(options: StoreOptions = {}): ResolvedOptions {
  const positive = (what: string, value: unknown, fallback: number): number => {
    if (value === undefined) return fallback;
    return Number.isSafeInteger(value) && (value as number) > 0
      ? value as number
      : bad(what, "an integer of 1 or more", value);
  };
  return {
    retentionMs: positive("retentionMs", options.retentionMs, DEFAULT_RETENTION_MS),
    maxMessagesPerRoom: positive(
      "maxMessagesPerRoom",
      options.maxMessagesPerRoom,
      DEFAULT_MAX_ROOM_MESSAGES,
    ),
    maxInboxItems: positive("maxInboxItems", options.maxInboxItems, DEFAULT_MAX_INBOX_ITEMS),
  };
}
