/**
 * Why a moderation command, a join or a message is refused: a stable code for each reason with
 * the sentence a user sees. They travel as non-fatal `error` frames and are part of the wire's
 * codes (`../errors.ts` joins them in). A refusal's own `message` adds the particulars (who,
 * which room, what was received).
 *
 * @module
 */

import { formatDuration, MAX_DURATION_MS } from "../duration.ts";
import { MAX_REASON_LENGTH, MAX_TOPIC_LENGTH } from "./limits.ts";
import type { Refusal } from "./types.ts";

/** Every moderation refusal code, with the sentence a user sees for it. */
export const REFUSALS = {
  // Who may act
  not_in_room: "You are not a member of that room",
  not_operator: "Only the room's operators can do that",
  not_owner: "Only the room's owner can do that",
  topic_protected: "Only operators can change this room's topic (mode +t)",
  // On whom
  no_such_member: "That user is not a member of this room",
  cannot_act_on_self: "You cannot do that to yourself",
  cannot_act_on_owner: "Only a server administrator can act on the room's owner",
  cannot_act_on_operator: "Operators cannot act on other operators; ask the room's owner",
  cannot_act_on_admin: "Only another server administrator can act on a server administrator",
  no_change: "Nothing to change: it is already so",
  // Joining and speaking
  no_such_room: "There is no room of that name",
  banned: "You are banned from this room",
  invite_only: "This room is invite-only (mode +i): an operator must /invite you",
  muted: "You are muted in this room",
  moderated: "This room is moderated (mode +m): only operators and voiced users can speak",
  // Bad input
  bad_command: "Unknown moderation command, or missing or extra arguments; see /help",
  bad_target: "That is not a valid user name",
  bad_mode: "A mode change is + or - and the letters i, m or t, such as +i, -mt or +m-t",
  bad_duration: `A duration is a whole number and a unit, such as 30s, 10m, 2h or 7d, at most ${
    formatDuration(MAX_DURATION_MS)
  }`,
  bad_text: "Reasons and topics cannot contain control characters",
  reason_too_long: `A reason is at most ${MAX_REASON_LENGTH} characters`,
  topic_too_long: `A topic is at most ${MAX_TOPIC_LENGTH} characters`,
  list_full: "This room's ban, mute or invite list is full",
} as const;

/** A stable moderation refusal code. */
export type RefusalCode = keyof typeof REFUSALS;

/**
 * A refusal with `code`, and `message` when the particulars help (else the code's sentence).
 *
 * @example
 * ```ts
 * import { refuse } from "./refusals.ts";
 * refuse("not_operator").message; // "Only the room's operators can do that"
 * ```
 */
export function refuse(
  code: RefusalCode,
  message: string = REFUSALS[code],
  until?: number | null,
): Refusal {
  return until === undefined ? { ok: false, code, message } : { ok: false, code, message, until };
}
