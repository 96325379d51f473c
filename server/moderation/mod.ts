/**
 * Moderation of rooms, without sockets: roles (owner, operator, voiced), kicks, bans and mutes
 * (optionally timed), topics, modes `+i +m +t`, invites and the message of the day. The server
 * asks {@linkcode ModerationPolicy} before a join (`canJoin`, then `onJoin`) and before relaying
 * a message (`canSpeak`), hands it every moderation command (`apply`), and applies the effects
 * it returns. Everything is persisted in the store before an answer is given.
 *
 * The rules:
 * - Standing, highest first: server administrator (everywhere), owner (the room's creator),
 *   operator, voiced, member. A voice only lets one speak in a `+m` room.
 * - Operators and up: kick, ban, unban, banned, mute, unmute, voice, devoice, mode changes,
 *   invite. Owners and administrators: op, deop. Any member: show the topic and modes, set the
 *   topic of a `-t` room. Anyone: motd. The actor must be a member, except administrators.
 * - Acting on someone needs a strictly higher standing, except that administrators may act on
 *   each other: operators cannot act on operators or owners, owners cannot act on owners, only
 *   administrators act on owners. Nobody acts on themselves.
 * - Kick and mute need the target to be a member, and so do op and voice; ban and invite do not
 *   (a ban keeps someone out; an invite lets them in); unban, unmute, deop and devoice need the
 *   entry or role to exist. What is already so is refused as `no_change`.
 * - A ban or mute lifts itself when its time is up (`until` exclusive: free at `until`). A ban
 *   applies to whoever is on it, administrators included, and takes away a pending invite.
 * - An invite lets its holder into a `+i` room once: `onJoin` uses it up. It expires after
 *   `INVITE_LIFETIME_MS`. Members (reconnecting), operators and up need none.
 *
 * @module
 */

export * from "./types.ts";
export * from "../../protocol/moderation/refusals.ts";
export * from "../../protocol/moderation/limits.ts";
export { ModerationPolicy, type ModerationPolicyOptions } from "./policy.ts";
export { COMMAND_HELP, parseCommandLine } from "../../protocol/moderation/command_line.ts";
export { checkMotd, MotdError, readMotd } from "./motd.ts";
