/**
 * Every bound of moderation, each a named constant with a test at and past its edge. They sit
 * below the store's own last-line bounds (`server/store/limits.ts`), which only catch bugs.
 *
 * @module
 */

/**
 * Longest reason for a kick or ban, in characters (UTF-16 code units, as the wire and the store
 * count them). 200, the bound of the `reason` a `presence` leave frame already carries, so the
 * reason for a removal fits both the moderation event and the leave.
 */
export const MAX_REASON_LENGTH = 200;

/** Longest room topic, in characters (UTF-16 code units). A line or two on a terminal. */
export const MAX_TOPIC_LENGTH = 300;

/**
 * How long an unused invite lasts. It is consumed when the invitee joins; one that is never
 * used lifts by itself, so a room's invite list does not fill up with forgotten names.
 */
export const INVITE_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000;

/** Largest message-of-the-day file, in bytes: a screenful, and far below one frame. */
export const MAX_MOTD_BYTES = 4096;

/** The bounds one policy enforces; tests (and a server operator) may tighten them. */
export interface ModerationLimits {
  maxReasonLength: number;
  maxTopicLength: number;
  inviteLifetimeMs: number;
}

/** The defaults, from the constants above. */
export const DEFAULT_MODERATION_LIMITS: Readonly<ModerationLimits> = Object.freeze({
  maxReasonLength: MAX_REASON_LENGTH,
  maxTopicLength: MAX_TOPIC_LENGTH,
  inviteLifetimeMs: INVITE_LIFETIME_MS,
});

/**
 * Longest reason or topic a moderation frame may carry at all, in characters: the wire's own
 * bound, above the policy's ({@linkcode MAX_REASON_LENGTH}, {@linkcode MAX_TOPIC_LENGTH}) and
 * equal to the store's last line. Text within it that passes the policy's bound is refused
 * by the server with a code (`reason_too_long`, `topic_too_long`) and the session goes on;
 * a frame past it is malformed (`bad_field`), so the client never sends one.
 */
export const MAX_MODERATION_TEXT_CHARS = 1024;

/**
 * Longest command name, target and mode change a `moderate` frame may carry, in characters.
 * Within them the server judges the value (`bad_command`, `bad_target`, `bad_mode`).
 */
export const MAX_COMMAND_CHARS = 16;
/** See {@linkcode MAX_COMMAND_CHARS}: room for any user name and more, so the policy judges it. */
export const MAX_TARGET_CHARS = 64;
/** See {@linkcode MAX_COMMAND_CHARS}: `+imt-imt` and then some. */
export const MAX_MODE_CHANGES_CHARS = 32;

/** Most bans one `moderated` frame lists; a longer list goes on in more frames (`more`). */
export const MAX_LISTED_BANS = 500;
