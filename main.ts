/**
 * The `openchat` command: wires the command tree and turns failures into a message and an exit
 * code. The work lives in `cli/`, one file per command.
 *
 * @module
 */

import { Command, CommanderError } from "@commander-js/extra-typings";
import { caCommand } from "./cli/ca_command.ts";
import { deviceCommand } from "./cli/device_command.ts";
import { enrollCommand } from "./cli/enroll_command.ts";
import { joinCommand } from "./cli/join_command.ts";
import { renewCommand } from "./cli/renew_command.ts";
import { serveCommand } from "./cli/serve_command.ts";
import { CliError, EXIT_FAILURE, EXIT_USAGE } from "./cli/common.ts";

/** The version `openchat --version` prints. */
export const VERSION = "0.1.0";

/** Builds the command tree. */
export function buildProgram() {
  return new Command("openchat")
    .description(
      "Secure terminal chat: a TLS server that is its users' CA, and an end-to-end encrypted client",
    )
    .version(VERSION)
    .showSuggestionAfterError(true)
    .exitOverride()
    .addCommand(serveCommand())
    .addCommand(joinCommand())
    .addCommand(enrollCommand())
    .addCommand(renewCommand())
    .addCommand(deviceCommand())
    .addCommand(caCommand());
}

/** Runs `openchat` with `args` and returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const program = buildProgram();
  // Commander calls exitOverride's handler on every command of the tree, so set it recursively.
  const stack: Command[] = [program as unknown as Command];
  while (stack.length > 0) {
    const command = stack.pop()!;
    command.exitOverride();
    stack.push(...(command.commands as unknown as Command[]));
  }
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed help, the version or its error message.
      return error.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (error instanceof CliError) {
      if (error.message) console.error(`openchat: error: ${error.message}`);
      return error.exitCode;
    }
    console.error(`openchat: unexpected error: ${(error as Error)?.stack ?? error}`);
    return EXIT_FAILURE;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
