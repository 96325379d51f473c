/**
 * Slash commands as a registry of records: name, usage, help line, handler. Handlers live in
 * files grouped by subject; both user interfaces share this one parser, so `/msg` means the
 * same on a terminal and in a pipe.
 *
 * @module
 */

import type { ChatClient } from "../chat_client.ts";

/** What a command can reach. */
export interface CommandContext {
  readonly client: ChatClient;
  /** The room plain lines go to, if any. */
  currentRoom(): string | undefined;
  setCurrentRoom(room: string | undefined): void;
  /** Shows a line of information to the user. */
  notice(message: string): void;
  /** Ends the program after delivering what is queued. */
  quit(): void;
}

/** One slash command. */
export interface Command {
  readonly name: string;
  /** Arguments as shown in help, e.g. `NAME TEXT`. */
  readonly usage: string;
  readonly help: string;
  /** Which argument completes as a user name (0-based), if any. */
  readonly completesUser?: boolean;
  run(context: CommandContext, args: string): void | Promise<void>;
}

/**
 * A mistake in a command line, shown to the user as an error with `code`: `command` by default,
 * or the code the server would refuse the same input with (`bad_duration`, `topic_too_long`...),
 * so a script sees one code whichever side caught it.
 */
export class CommandError extends Error {
  constructor(message: string, readonly code: string = "command") {
    super(message);
    this.name = "CommandError";
  }
}

/** The code an error from a command is shown with (see {@linkcode CommandError}). */
export function commandErrorCode(error: unknown): string {
  return error instanceof CommandError ? error.code : "command";
}

/** Splits `text` into its first word and the rest. */
export function firstWord(text: string): [string, string] {
  const trimmed = text.trim();
  const space = trimmed.search(/\s/);
  return space < 0 ? [trimmed, ""] : [trimmed.slice(0, space), trimmed.slice(space + 1).trim()];
}

/** The commands, by name. */
export class CommandRegistry {
  readonly #commands = new Map<string, Command>();

  constructor(commands: Command[]) {
    for (const command of commands) this.#commands.set(command.name, command);
  }

  /** Every command, in registration order. */
  all(): Command[] {
    return [...this.#commands.values()];
  }

  /** The command called `name`. */
  get(name: string): Command | undefined {
    return this.#commands.get(name);
  }

  /** Names starting with `prefix`. */
  complete(prefix: string): string[] {
    return this.all().map((command) => command.name).filter((name) => name.startsWith(prefix));
  }

  /**
   * Runs one input line: a command when it starts with `/` (`//` sends a literal slash), or a
   * message to the current room.
   *
   * @throws {CommandError} or `RangeError` with a message for the user.
   */
  async execute(context: CommandContext, line: string): Promise<void> {
    if (line.startsWith("/") && !line.startsWith("//")) {
      const [name, args] = firstWord(line.slice(1));
      const command = this.#commands.get(name.toLowerCase());
      if (!command) {
        const near = this.complete(name.slice(0, 2).toLowerCase());
        throw new CommandError(
          `Unknown command /${name}${
            near.length ? ` (did you mean ${near.map((n) => `/${n}`).join(", ")}?)` : ""
          }; /help lists them`,
        );
      }
      return await command.run(context, args);
    }
    const text = line.startsWith("//") ? line.slice(1) : line;
    const room = context.currentRoom();
    if (!room) throw new CommandError("You are in no room: /join ROOM first");
    context.client.send(room, text);
  }
}
