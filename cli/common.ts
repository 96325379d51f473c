/**
 * Pieces every command shares: the error type for bad user input, exit codes, and the options
 * and argument parsers that more than one command takes.
 *
 * @module
 */

import { InvalidArgumentError, Option } from "@commander-js/extra-typings";
import { defaultDataDir } from "../util/paths.ts";

/** Exit code for a failure while doing the work (missing CA, unreadable file, network). */
export const EXIT_FAILURE = 1;
/** Exit code for bad input on the command line (invalid name, bad number). */
export const EXIT_USAGE = 2;

/** A refusal to show the user as `openchat: error: ...` before exiting with `exitCode`. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT_FAILURE) {
    super(message);
    this.name = "CliError";
  }
}

/** The `--data-dir DIR` option, with the default directory shown in `--help`. */
export function dataDirOption() {
  return new Option("--data-dir <dir>", "server data directory (CA, keys, database)")
    .default(
      defaultDataDir(),
      "$OPENCHAT_HOME, $XDG_DATA_HOME/openchat or ~/.local/share/openchat",
    );
}

/** Parses a whole number from `min` to `max`, for commander options. */
export function integerIn(min: number, max: number): (value: string) => number {
  return (value: string) => {
    const trimmed = value.trim();
    const parsed = Number(trimmed);
    if (!/^[+-]?\d+$/.test(trimmed) || !Number.isSafeInteger(parsed)) {
      throw new InvalidArgumentError(`expected a whole number, received ${JSON.stringify(value)}`);
    }
    if (parsed < min || parsed > max) {
      throw new InvalidArgumentError(`must be from ${min} to ${max}, received ${parsed}`);
    }
    return parsed;
  };
}

/** Collects a repeatable option's values into an array. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Writes a line to standard output. */
export function say(line = ""): void {
  console.log(line);
}
