/**
 * Every slash command the client understands, in one registry.
 *
 * @module
 */

import { deviceCommands } from "./devices.ts";
import { historyCommands } from "./history.ts";
import { messageCommands } from "./messages.ts";
import { moderationCommands } from "./moderation.ts";
import { type Command, CommandRegistry } from "./registry.ts";
import { roomCommands } from "./rooms.ts";
import { trustCommands } from "./trust.ts";

export {
  type Command,
  type CommandContext,
  CommandError,
  commandErrorCode,
  CommandRegistry,
} from "./registry.ts";

const sessionCommands: Command[] = [
  {
    name: "help",
    usage: "[COMMAND]",
    help: "list commands, or explain one",
    run(context, args) {
      const wanted = args.trim().replace(/^\//, "");
      const shown = wanted ? commands.all().filter((c) => c.name === wanted) : commands.all();
      if (wanted && shown.length === 0) context.notice(`No command /${wanted}`);
      for (const command of shown) {
        context.notice(
          `/${command.name}${command.usage ? " " + command.usage : ""}  ${command.help}`,
        );
      }
      if (!wanted) {
        context.notice(
          "Plain lines go to the current room; start a line with // to send a literal /.",
        );
      }
    },
  },
  {
    name: "quit",
    usage: "",
    help: "deliver what is queued, then leave",
    run(context) {
      context.quit();
    },
  },
];

/** The registry both interfaces use. */
export const commands: CommandRegistry = new CommandRegistry([
  ...sessionCommands.slice(0, 1),
  ...roomCommands,
  ...moderationCommands,
  ...messageCommands,
  ...historyCommands,
  ...trustCommands,
  ...deviceCommands,
  ...sessionCommands.slice(1),
]);
