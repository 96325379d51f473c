/**
 * Moderation slash commands as people type them (`/ban bob 2h spamming links`), read once into a
 * {@linkcode ModerationCommand}, with the usage and help of each as records for `/help`. The
 * client reads its commands with it (`client/commands/moderation.ts`) and sends the result in a
 * `moderate` frame; the server's policy judges the values.
 *
 * @module
 */

import { parseDuration } from "../duration.ts";
import { refuse } from "./refusals.ts";
import { COMMAND_NAMES, type CommandName, type ModerationCommand, type Refusal } from "./types.ts";

/** How each command is typed, what it does, and who may give it (for `/help`). */
export const COMMAND_HELP: Readonly<
  Record<CommandName, { usage: string; help: string; who: "anyone" | "operator" | "owner" }>
> = {
  kick: {
    usage: "NAME [REASON]",
    help: "remove NAME from the room (every device)",
    who: "operator",
  },
  ban: {
    usage: "NAME [DURATION] [REASON]",
    help: "remove NAME and keep them out, for DURATION (30s, 10m, 2h, 7d) or for ever",
    who: "operator",
  },
  unban: { usage: "NAME", help: "lift NAME's ban", who: "operator" },
  banned: {
    usage: "",
    help: "list the bans in force, with who, why and until when",
    who: "operator",
  },
  mute: {
    usage: "NAME [DURATION]",
    help: "stop NAME from speaking, for DURATION or for ever",
    who: "operator",
  },
  unmute: { usage: "NAME", help: "let NAME speak again", who: "operator" },
  op: { usage: "NAME", help: "make NAME an operator", who: "owner" },
  deop: { usage: "NAME", help: "take NAME's operator rights", who: "owner" },
  voice: { usage: "NAME", help: "let NAME speak while the room is +m", who: "operator" },
  devoice: { usage: "NAME", help: "take NAME's voice", who: "operator" },
  topic: {
    usage: "[TEXT]",
    help: "show the topic, or set it (operators only while +t)",
    who: "anyone",
  },
  mode: {
    usage: "[+|-][imt]",
    help: "show or change modes: i invite-only, m moderated, t topic by operators",
    who: "operator",
  },
  invite: { usage: "NAME", help: "let NAME join once while the room is +i", who: "operator" },
  motd: { usage: "", help: "show the server's message of the day", who: "anyone" },
};

/** The first word of `text` and the rest, trimmed. */
function firstWord(text: string): [string, string] {
  const trimmed = text.trim();
  const space = trimmed.search(/\s/);
  return space < 0 ? [trimmed, ""] : [trimmed.slice(0, space), trimmed.slice(space).trim()];
}

/** Parses a duration word, or refuses with `bad_duration` and the parser's message. */
function duration(word: string): number | Refusal {
  try {
    return parseDuration(word);
  } catch (error) {
    return refuse("bad_duration", error instanceof RangeError ? error.message : String(error));
  }
}

/**
 * Reads a moderation slash command. Arguments are checked only for shape here (how many, which
 * is a duration); names, lengths and modes are the policy's to judge.
 *
 * @param line What was typed, starting with `/`.
 * @returns The command, a refusal (`bad_command` with its usage, `bad_duration`), or null when
 *   the line is not a moderation command at all.
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./command_line.ts";
 * parseCommandLine("/ban bob 2h spamming");
 * // { command: "ban", target: "bob", durationMs: 7200000, reason: "spamming" }
 * ```
 */
export function parseCommandLine(line: string): ModerationCommand | Refusal | null {
  if (!line.startsWith("/")) return null;
  const [name, args] = firstWord(line.slice(1));
  if (!COMMAND_NAMES.includes(name as CommandName)) return null;
  const command = name as CommandName;
  const usage = refuse("bad_command", `Usage: /${command} ${COMMAND_HELP[command].usage}`.trim());
  const [target, rest] = firstWord(args);
  switch (command) {
    case "banned":
    case "motd":
      return args === "" ? { command } : usage;
    case "topic":
      return args === "" ? { command } : { command, text: args };
    case "mode":
      if (rest !== "") return usage;
      return target === "" ? { command } : { command, changes: target };
    case "kick":
      if (target === "") return usage;
      return rest === "" ? { command, target } : { command, target, reason: rest };
    case "ban": {
      if (target === "") return usage;
      const [word, reason] = firstWord(rest);
      // A word that starts with a digit is meant as a duration: "10" or "5y" is refused as one
      // rather than silently becoming the reason of a ban for ever.
      if (!/^[0-9]/.test(word)) {
        return rest === "" ? { command, target } : { command, target, reason: rest };
      }
      const ms = duration(word);
      if (typeof ms !== "number") return ms;
      return reason === ""
        ? { command, target, durationMs: ms }
        : { command, target, durationMs: ms, reason };
    }
    case "mute": {
      if (target === "") return usage;
      const [word, extra] = firstWord(rest);
      if (extra !== "") return usage;
      if (word === "") return { command, target };
      const ms = duration(word);
      return typeof ms === "number" ? { command, target, durationMs: ms } : ms;
    }
    case "unban":
    case "unmute":
    case "op":
    case "deop":
    case "voice":
    case "devoice":
    case "invite":
      return target === "" || rest !== "" ? usage : { command, target };
  }
}
