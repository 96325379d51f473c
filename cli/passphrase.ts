/**
 * The passphrase of an encrypted CA key: from `OPENCHAT_CA_PASSPHRASE`, else asked on the
 * terminal (never echoed). Without either, commands that sign refuse with a clear message.
 *
 * @module
 */

import { password } from "@inquirer/prompts";
import { CliError } from "./common.ts";

/** The environment variable that holds the CA passphrase (for services and scripts). */
export const PASSPHRASE_ENV = "OPENCHAT_CA_PASSPHRASE";

/**
 * The passphrase for the CA key in `dataDir`, asking twice when `confirm` (a new key).
 *
 * @throws {CliError} when there is neither the variable nor a terminal, or the two entries differ.
 */
export async function askPassphrase(dataDir: string, confirm = false): Promise<string> {
  const fromEnv = Deno.env.get(PASSPHRASE_ENV);
  if (fromEnv !== undefined) return fromEnv;
  if (!Deno.stdin.isTerminal()) {
    throw new CliError(
      `The CA key in ${dataDir} is encrypted: set ${PASSPHRASE_ENV}, or run this on a terminal to be asked`,
    );
  }
  const first = await password({ message: "Passphrase of the CA key:", mask: "*" });
  if (confirm) {
    const again = await password({ message: "The same passphrase again:", mask: "*" });
    if (again !== first) throw new CliError("The two passphrases differ; nothing was created");
  }
  return first;
}
