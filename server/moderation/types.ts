/**
 * The server's own shapes of moderation: what the actor is answered, and the effects a decision
 * asks the server to apply. The shapes both sides share (commands, standings, events, refusals)
 * are in `protocol/moderation/types.ts`.
 *
 * @module
 */

import type {
  BanInfo,
  ModerationEvent,
  Refusal,
  Standing,
} from "../../protocol/moderation/types.ts";

export * from "../../protocol/moderation/types.ts";

/** What the actor is answered. Actions answer `done` with the event the room was sent. */
export type Reply =
  | { kind: "done"; event: ModerationEvent }
  | { kind: "banned"; room: string; bans: BanInfo[] }
  | { kind: "topic"; room: string; topic: string; modes: string }
  | { kind: "modes"; room: string; modes: string }
  /** `text` is null when the server has no message of the day. */
  | { kind: "motd"; text: string | null };

/**
 * What the server must do after an accepted command. Everything persistent (roles, lists,
 * topic, modes, the end of a removed user's membership and their devices' intervals) is already
 * in the store; these are the live consequences.
 */
export interface Effects {
  /**
   * Users to take out of the room's live sessions now, every device of each (kick, ban). The
   * server sends them `event` first, then removes their sessions, which bumps the membership
   * version so that every remaining member starts a new chain. May name a user with no live
   * session (a ban of someone offline): nothing to do then.
   */
  remove: string[];
  /**
   * Sent to every live session of every member of the room, the actor's and the removed
   * users' included; null for queries (`/banned`, `/topic` without text, `/mode`, `/motd`).
   */
  event: ModerationEvent | null;
  /** Users outside the room who also get `event` on their live sessions (the invitee). */
  notify: string[];
  /** The answer to the actor. */
  reply: Reply;
}

/** The outcome of a moderation command: effects to apply, or a refusal. */
export type Decision = { ok: true; effects: Effects } | Refusal;

/** The outcome of a check (`canJoin`, `canSpeak`). */
export type Verdict = { ok: true } | Refusal;

/** One member of a room as `/who` shows it. */
export interface WhoEntry {
  user: string;
  role: Standing;
  /** True while a mute is in force. */
  muted: boolean;
}
