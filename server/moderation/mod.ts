/**
 * Moderation of rooms, without sockets: roles (owner, operator, voiced), kicks, bans and mutes
 * (optionally timed), topics, modes `+i +m +t`, invites and the message of the day. The server
 * asks {@linkcode ModerationPolicy} before a join (`canJoin`) and a message (`canSpeak`), hands
 * it every moderation command (`apply`), and applies the effects it returns.
 *
 * @module
 */

export * from "./types.ts";
export * from "./refusals.ts";
export * from "./limits.ts";
export { ModerationPolicy, type ModerationPolicyOptions } from "./policy.ts";
export { COMMAND_HELP, parseCommandLine } from "./command_line.ts";
export { checkMotd, MotdError, readMotd } from "./motd.ts";
