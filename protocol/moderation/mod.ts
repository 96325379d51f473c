/**
 * Moderation as both sides see it: the commands people type (`/kick`, `/ban`, `/mode`...), how
 * they are read (`parseCommandLine`) and described (`COMMAND_HELP`), the events every member
 * of a room sees, the refusal codes, and every bound. The server decides with
 * `server/moderation/`; the client reads commands and shows events with these same shapes.
 *
 * @module
 */

export * from "./types.ts";
export * from "./refusals.ts";
export * from "./limits.ts";
export { COMMAND_HELP, parseCommandLine } from "./command_line.ts";
