/**
 * The shapes of moderation both sides share: the commands a user gives, the standing a user has
 * in a room, the event everyone in the room sees, a ban as `/banned` lists it, and a refusal.
 * Plain data only. The wire frames that carry them are in `frames.ts`; the server's own shapes
 * (decisions and their effects) in `server/moderation/types.ts`.
 *
 * @module
 */

import type { RefusalCode } from "./refusals.ts";

/**
 * A moderation command, as decoded from a `moderate` frame or a slash command. `command` names
 * it; the other fields are its arguments, validated by the policy, never trusted.
 *
 * - `topic` without `text` shows the topic; with `text` sets it (`""` clears it).
 * - `mode` without `changes` shows the modes; with `changes` (`"+i"`, `"-mt"`, `"+m-t"`) sets them.
 * - `durationMs` absent means for ever (until lifted by hand).
 */
export type ModerationCommand =
  | { command: "kick"; target: string; reason?: string }
  | { command: "ban"; target: string; durationMs?: number; reason?: string }
  | { command: "unban"; target: string }
  | { command: "banned" }
  | { command: "mute"; target: string; durationMs?: number }
  | { command: "unmute"; target: string }
  | { command: "op"; target: string }
  | { command: "deop"; target: string }
  | { command: "voice"; target: string }
  | { command: "devoice"; target: string }
  | { command: "topic"; text?: string }
  | { command: "mode"; changes?: string }
  | { command: "invite"; target: string }
  | { command: "motd" };

/** The name of a moderation command. */
export type CommandName = ModerationCommand["command"];

/** Every command name, in the order `/help` lists them. */
export const COMMAND_NAMES: readonly CommandName[] = [
  "kick",
  "ban",
  "unban",
  "banned",
  "mute",
  "unmute",
  "op",
  "deop",
  "voice",
  "devoice",
  "topic",
  "mode",
  "invite",
  "motd",
];

/**
 * Where a user stands in a room, highest first: a server administrator (everywhere), the room's
 * owner, an operator, a voiced member (may speak in a `+m` room; no other power), a member.
 */
export type Standing = "admin" | "owner" | "operator" | "voiced" | "member";

/** The mode letters a room can have: `i` invite-only, `m` moderated, `t` topic by operators. */
export type ModeLetter = "i" | "m" | "t";

/** Every mode letter. */
export const MODE_LETTERS: readonly ModeLetter[] = ["i", "m", "t"];

/** What every moderation event carries. */
interface EventBase {
  /** The room it happened in. */
  room: string;
  /** The user who did it. */
  actor: string;
  /** When the server decided it (ms since epoch). */
  ts: number;
}

/**
 * What every member of the room sees when a moderator acts: the proposed wire frame
 * `{"type": "moderation", ...event}` and the `--json` line of the client. Optional fields are
 * absent (never `null`) when they do not apply, except `until`, which is `null` for "for ever".
 *
 * ```json
 * {"action":"kick","room":"lobby","actor":"alice","ts":1735689600000,"target":"bob","reason":"spam"}
 * {"action":"ban","room":"lobby","actor":"alice","ts":1735689600000,"target":"bob","until":1735696800000}
 * {"action":"ban","room":"lobby","actor":"alice","ts":1735689600000,"target":"bob","until":null,"reason":"spam"}
 * {"action":"mute","room":"lobby","actor":"alice","ts":1735689600000,"target":"bob","until":null}
 * {"action":"unban","room":"lobby","actor":"alice","ts":1735689600000,"target":"bob"}
 * {"action":"op","room":"lobby","actor":"alice","ts":1735689600000,"target":"carol"}
 * {"action":"invite","room":"lobby","actor":"alice","ts":1735689600000,"target":"dave","until":1736294400000}
 * {"action":"topic","room":"lobby","actor":"alice","ts":1735689600000,"topic":"Be kind"}
 * {"action":"mode","room":"lobby","actor":"alice","ts":1735689600000,"modes":"im","changes":"+i"}
 * ```
 */
export type ModerationEvent =
  & EventBase
  & (
    /** The target's every device left the room; `reason` when one was given. */
    | { action: "kick"; target: string; reason?: string }
    /** The target is banned until `until` (null: for ever) and, if in the room, removed. */
    | { action: "ban"; target: string; until: number | null; reason?: string }
    /** The target may not speak until `until` (null: for ever). */
    | { action: "mute"; target: string; until: number | null }
    /** The target may join `room` once, until `until` (the invite's expiry). */
    | { action: "invite"; target: string; until: number }
    | { action: "unban" | "unmute" | "op" | "deop" | "voice" | "devoice"; target: string }
    /** The topic is now `topic` (`""`: cleared). */
    | { action: "topic"; topic: string }
    /** The room's modes are now `modes` (sorted letters, `""` for none) after `changes`. */
    | { action: "mode"; modes: string; changes: string }
  );

/** A moderation event's action. */
export type ModerationAction = ModerationEvent["action"];

/** One active ban, as `/banned` lists it. */
export interface BanInfo {
  user: string;
  /** Who banned them. */
  by: string;
  /** Why, or `""`. */
  reason: string;
  /** When (ms since epoch). */
  at: number;
  /** When it lifts by itself (ms since epoch), or null for never. */
  until: number | null;
}

/** A refusal: nothing changed. */
export interface Refusal {
  ok: false;
  code: RefusalCode;
  /** A sentence for the user, naming the particulars (who, which room, what was received). */
  message: string;
  /** For `banned` and `muted`: when it lifts (ms since epoch), null for never. */
  until?: number | null;
}
