/**
 * Every bound of the store: defaults for retention, and the largest input it keeps. Inputs from
 * the network are validated before they get here; these limits are the store's own last line,
 * so that a bug upstream is refused instead of filling the disk or corrupting a record.
 *
 * @module
 */

import { MAX_FRAME_BYTES } from "../../protocol/framing.ts";

/** File name of the store's SQLite database in the data directory (the CA's is `openchat.db`). */
export const STORE_FILE = "openchat-store.db";

/** How long room log entries and inbox items are kept by default: 30 days. */
export const DEFAULT_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;
/** Most entries a room's log keeps by default; appending past it drops the oldest. */
export const DEFAULT_MAX_ROOM_MESSAGES = 10_000;
/** Most items one device's inbox keeps by default; appending past it drops the oldest. */
export const DEFAULT_MAX_INBOX_ITEMS = 10_000;
/** Most one-time pre-keys stored for one device; a batch that would pass it is refused. */
export const MAX_ONE_TIME_PREKEYS = 200;
/**
 * A session description is kept this many times the retention after it was last put (see
 * `SessionStore`): one retention for the entries, half of one for how stale a put may be.
 */
export const SESSION_KEEP_FACTOR = 1.5;
/** Longest text of a stored session description (announcement, agreement, link), in characters. */
export const MAX_DESCRIPTION_CHARS = 8192;
/** Most entries of one kind (bans, mutes, invites) one room keeps; more are refused. */
export const MAX_LIST_ENTRIES = 1000;

/** Longest payload (opaque ciphertext), in characters: anything that could arrive in one frame. */
export const MAX_STORED_PAYLOAD_CHARS = MAX_FRAME_BYTES;
/** Longest room topic, in characters (above any topic limit the protocol will set). */
export const MAX_TOPIC_CHARS = 1024;
/** Longest reason given for a ban, mute or invite, in characters. */
export const MAX_REASON_CHARS = 1024;
/** Longest opaque token (session id, pre-key id), in characters. */
export const MAX_TOKEN_CHARS = 64;
/** Longest inbox item kind (`keys`, `dm`, ...), in characters. */
export const MAX_KIND_CHARS = 16;

/** Most log entries or inbox items returned by one read; a larger `limit` is lowered to it. */
export const MAX_READ_BATCH = 1000;
/** Most rooms returned by one `rooms.list` call; a larger `limit` is lowered to it. */
export const MAX_ROOM_PAGE = 1000;
/** Most entries one `log.appendMany` call takes (a batch is one transaction). */
export const MAX_APPEND_BATCH = 1000;
