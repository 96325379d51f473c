/**
 * Moderation commands (`/kick`, `/ban`, `/mute`, `/op`, `/topic`, `/mode`, `/invite`, `/motd`...):
 * one record per command, read by the same `parseCommandLine` the protocol documents, about the
 * current room. The server decides; the client checks only what would make a malformed frame
 * (text past the wire's bound), with the code the server gives the same mistake.
 *
 * @module
 */

import {
  COMMAND_HELP,
  COMMAND_NAMES,
  type CommandName,
  MAX_MODE_CHANGES_CHARS,
  MAX_MODERATION_TEXT_CHARS,
  MAX_REASON_LENGTH,
  MAX_TARGET_CHARS,
  MAX_TOPIC_LENGTH,
  type ModerationCommand,
  parseCommandLine,
} from "../../protocol/moderation/mod.ts";
import { type Command, CommandError } from "./registry.ts";

/** Who may give each command, as `/help` says it. */
const WHO = { anyone: "", operator: " (operators)", owner: " (room owners)" } as const;

/**
 * Refuses what the wire cannot carry, with the code the server would refuse it with: a reason
 * or topic past {@linkcode MAX_MODERATION_TEXT_CHARS}, a target or mode change longer than any
 * valid one.
 */
function checkWire(command: ModerationCommand): void {
  if ("reason" in command && (command.reason?.length ?? 0) > MAX_MODERATION_TEXT_CHARS) {
    throw new CommandError(
      `A reason is at most ${MAX_REASON_LENGTH} characters (received ${command.reason!.length})`,
      "reason_too_long",
    );
  }
  if ("text" in command && (command.text?.length ?? 0) > MAX_MODERATION_TEXT_CHARS) {
    throw new CommandError(
      `A topic is at most ${MAX_TOPIC_LENGTH} characters (received ${command.text!.length})`,
      "topic_too_long",
    );
  }
  if ("target" in command && command.target.length > MAX_TARGET_CHARS) {
    throw new CommandError("That is not a valid user name", "bad_target");
  }
  if ("changes" in command && (command.changes?.length ?? 0) > MAX_MODE_CHANGES_CHARS) {
    throw new CommandError(
      "A mode change is + or - and the letters i, m or t, such as +i, -mt or +m-t",
      "bad_mode",
    );
  }
}

function moderationCommand(name: CommandName): Command {
  const { usage, help, who } = COMMAND_HELP[name];
  return {
    name,
    usage,
    help: help + WHO[who],
    completesUser: usage.startsWith("NAME"),
    run(context, args) {
      const command = parseCommandLine(`/${name} ${args}`);
      // Never null: the name is a moderation command's.
      if (command === null || "ok" in command) {
        throw new CommandError(command?.message ?? `Usage: /${name} ${usage}`, command?.code);
      }
      checkWire(command);
      if (name === "motd") return context.client.moderate(undefined, command);
      const room = context.currentRoom();
      if (!room) throw new CommandError("You are in no room: /join ROOM first");
      context.client.moderate(room, command);
    },
  };
}

/** Moderation commands, in the order `/help` lists them. */
export const moderationCommands: Command[] = COMMAND_NAMES.map(moderationCommand);
