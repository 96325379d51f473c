/**
 * The moderation frames on the wire, and their decoders (called from `../messages.ts`):
 *
 * - `moderate` (client): one command, answered by `moderated` (`motd` for `/motd`) or by a
 *   non-fatal `error` with the same `id`. Its arguments are decoded loosely (any string within
 *   the wire's bounds) so that the server's policy judges them and refuses bad ones with a
 *   code, keeping the session: a frame past the wire's bounds is malformed (`bad_field`).
 * - `moderation` (server): what a moderator did, to every member of the room.
 * - `moderated` (server): the answer to the actor (`done` with the event, or a listing).
 * - `motd` (server): the message of the day, after `welcome` and in answer to `/motd`.
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import {
  type Fields,
  idField,
  intField,
  objectOf,
  roomField,
  textField,
  userField,
} from "../fields.ts";
import {
  MAX_COMMAND_CHARS,
  MAX_LISTED_BANS,
  MAX_MODE_CHANGES_CHARS,
  MAX_MODERATION_TEXT_CHARS,
  MAX_MOTD_BYTES,
  MAX_TARGET_CHARS,
} from "./limits.ts";
import type { BanInfo, ModerationAction, ModerationEvent, Standing } from "./types.ts";

/**
 * A `moderate` request as decoded. `command` names a moderation command (`kick`, `ban`...);
 * the other fields are its arguments, each present only when given: `target` (a user name),
 * `reason`, `durationMs` (whole milliseconds), `text` (a topic to set), `changes` (modes).
 * `room` is required by every command but `motd`.
 */
export interface ModerateRequest {
  type: "moderate";
  id: string;
  command: string;
  room?: string;
  target?: string;
  reason?: string;
  durationMs?: number;
  text?: string;
  changes?: string;
}

/** A `moderation` frame: a moderation event, sent to every member of its room. */
export type ModerationFrame = { type: "moderation" } & ModerationEvent;

/** A `moderated` frame: the answer to the `moderate` request `id`. */
export type ModeratedFrame =
  /** Done: `event` is what the room was sent. */
  | { type: "moderated"; id: string; kind: "done"; event: ModerationEvent }
  /** `/banned`: the bans in force; a long list goes on in more frames with `more: true`. */
  | { type: "moderated"; id: string; kind: "banned"; room: string; bans: BanInfo[]; more?: boolean }
  /** `/topic` without text. */
  | { type: "moderated"; id: string; kind: "topic"; room: string; topic: string; modes: string }
  /** `/mode` without changes. */
  | { type: "moderated"; id: string; kind: "modes"; room: string; modes: string };

/** A `motd` frame: `id` when it answers a `moderate` `motd`; `text` null when there is none. */
export interface MotdFrame {
  type: "motd";
  id?: string;
  text: string | null;
}

/** A member's role in a room, as `who` lists it beside the names (servers with a store). */
export interface WhoRole {
  user: string;
  role: Standing;
  /** Present (true) while a mute is in force. */
  muted?: true;
}

const ACTIONS: ReadonlySet<ModerationAction> = new Set([
  "kick",
  "ban",
  "unban",
  "mute",
  "unmute",
  "op",
  "deop",
  "voice",
  "devoice",
  "topic",
  "mode",
  "invite",
]);

const STANDINGS: ReadonlySet<Standing> = new Set([
  "admin",
  "owner",
  "operator",
  "voiced",
  "member",
]);

function bad(key: string, expected: string): never {
  throw new ProtocolError("bad_field", `Field "${key}" must be ${expected}`);
}

/** An optional string of at most `max` characters, any content: the policy judges it. */
function looseText(f: Fields, key: string, max: number): string | undefined {
  const value = f[key];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.length > max) {
    bad(key, `text of at most ${max} characters`);
  }
  return value;
}

/**
 * Decodes a `moderate` request. Only the shape is checked: which command, which user, which
 * duration and which text are the server's to judge, so that a bad value is refused with its
 * code and the session goes on.
 */
export function decodeModerate(f: Fields): ModerateRequest {
  const command = looseText(f, "command", MAX_COMMAND_CHARS);
  if (command === undefined) bad("command", "a moderation command");
  const request: ModerateRequest = { type: "moderate", id: idField(f), command };
  if (f.room !== undefined) request.room = roomField(f);
  const target = looseText(f, "target", MAX_TARGET_CHARS);
  if (target !== undefined) request.target = target;
  const reason = looseText(f, "reason", MAX_MODERATION_TEXT_CHARS);
  if (reason !== undefined) request.reason = reason;
  const text = looseText(f, "text", MAX_MODERATION_TEXT_CHARS);
  if (text !== undefined) request.text = text;
  const changes = looseText(f, "changes", MAX_MODE_CHANGES_CHARS);
  if (changes !== undefined) request.changes = changes;
  if (f.durationMs !== undefined) {
    // Any number: a fraction, a negative or a huge one is the policy's `bad_duration`.
    if (typeof f.durationMs !== "number") bad("durationMs", "a number of milliseconds");
    request.durationMs = f.durationMs;
  }
  return request;
}

const time = (f: Fields, key: string) => intField(f, key, 0, Number.MAX_SAFE_INTEGER);

/** `until`: a time, or null for "for ever". */
function until(f: Fields): number | null {
  return f.until === null ? null : time(f, "until");
}

/** Sorted mode letters, `""` for none. */
function modes(f: Fields): string {
  const value = f.modes;
  if (typeof value !== "string" || !/^[a-z]{0,26}$/.test(value)) bad("modes", "mode letters");
  return value;
}

/** A reason, a topic: bounded text without control characters. */
const text = (f: Fields, key: string) => textField(f, key, MAX_MODERATION_TEXT_CHARS);

/** Decodes a moderation event (a `moderation` frame, or the `event` of `moderated`). */
export function decodeModerationEvent(f: Fields): ModerationEvent {
  const action = f.action;
  if (typeof action !== "string" || !ACTIONS.has(action as ModerationAction)) {
    bad("action", "a moderation action");
  }
  const base = { room: roomField(f), actor: userField(f, "actor"), ts: time(f, "ts") };
  const reason = f.reason === undefined ? {} : { reason: text(f, "reason") };
  switch (action as ModerationAction) {
    case "kick":
      return { action: "kick", ...base, target: userField(f, "target"), ...reason };
    case "ban":
      return { action: "ban", ...base, target: userField(f, "target"), until: until(f), ...reason };
    case "mute":
      return { action: "mute", ...base, target: userField(f, "target"), until: until(f) };
    case "invite":
      return { action: "invite", ...base, target: userField(f, "target"), until: time(f, "until") };
    case "topic":
      return { action: "topic", ...base, topic: text(f, "topic") };
    case "mode": {
      const changes = f.changes;
      if (
        typeof changes !== "string" || changes.length > MAX_MODE_CHANGES_CHARS ||
        !/^([+-][a-z]+)+$/.test(changes)
      ) {
        bad("changes", "mode changes such as +i or +m-t");
      }
      return { action: "mode", ...base, modes: modes(f), changes };
    }
    case "unban":
    case "unmute":
    case "op":
    case "deop":
    case "voice":
    case "devoice":
      return {
        action: action as "unban" | "unmute" | "op" | "deop" | "voice" | "devoice",
        ...base,
        target: userField(f, "target"),
      };
  }
}

function ban(f: Fields): BanInfo {
  return {
    user: userField(f),
    by: userField(f, "by"),
    reason: text(f, "reason"),
    at: time(f, "at"),
    until: until(f),
  };
}

/** Decodes a `moderated` answer. */
export function decodeModerated(f: Fields): ModeratedFrame {
  const id = idField(f);
  switch (f.kind) {
    case "done":
      return {
        type: "moderated",
        id,
        kind: "done",
        event: decodeModerationEvent(objectOf(f.event, "event")),
      };
    case "banned": {
      const list = f.bans;
      if (!Array.isArray(list) || list.length > MAX_LISTED_BANS) {
        bad("bans", `a list of at most ${MAX_LISTED_BANS} bans`);
      }
      const frame: ModeratedFrame = {
        type: "moderated",
        id,
        kind: "banned",
        room: roomField(f),
        bans: list.map((item) => ban(objectOf(item, "bans"))),
      };
      if (f.more !== undefined) {
        if (typeof f.more !== "boolean") bad("more", "true or false");
        frame.more = f.more;
      }
      return frame;
    }
    case "topic":
      return {
        type: "moderated",
        id,
        kind: "topic",
        room: roomField(f),
        topic: text(f, "topic"),
        modes: modes(f),
      };
    case "modes":
      return { type: "moderated", id, kind: "modes", room: roomField(f), modes: modes(f) };
    default:
      return bad("kind", "done, banned, topic or modes");
  }
}

// Any control character but tab and newline, and the bidirectional embeddings, overrides and
// isolates, which could reorder what a terminal shows (as `server/moderation/motd.ts` refuses).
// deno-lint-ignore no-control-regex
const MOTD_FORBIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** Decodes a `motd` frame. */
export function decodeMotd(f: Fields): MotdFrame {
  const frame: MotdFrame = { type: "motd", text: null };
  if (f.id !== undefined) frame.id = idField(f);
  if (f.text !== null) {
    const value = f.text;
    // UTF-16 units: a text of MAX_MOTD_BYTES UTF-8 bytes has at most as many.
    if (typeof value !== "string" || value.length > MAX_MOTD_BYTES || MOTD_FORBIDDEN.test(value)) {
      bad("text", `null, or text of at most ${MAX_MOTD_BYTES} characters`);
    }
    frame.text = value;
  }
  return frame;
}

/** Decodes the `roles` of a `who` answer: at most `max` entries. */
export function decodeWhoRoles(f: Fields, max: number): WhoRole[] {
  const list = f.roles;
  if (!Array.isArray(list) || list.length > max) bad("roles", `a list of at most ${max}`);
  return list.map((item) => {
    const entry = objectOf(item, "roles");
    const role = entry.role;
    if (typeof role !== "string" || !STANDINGS.has(role as Standing)) bad("role", "a role");
    const result: WhoRole = { user: userField(entry), role: role as Standing };
    if (entry.muted !== undefined) {
      if (entry.muted !== true) bad("muted", "true");
      result.muted = true;
    }
    return result;
  });
}
