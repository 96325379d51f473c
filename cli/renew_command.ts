/**
 * `openchat renew`: a new certificate for this device's key, by hand (a connected `openchat
 * join` does it by itself). The identity file is rewritten atomically; peers see no key change.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { SetupError } from "../client/connection.ts";
import { IdentityError, loadIdentity } from "../client/identity.ts";
import { renewIdentity } from "../client/renewal.ts";
import { writeFileAtomic } from "../util/files.ts";
import { CONFIG_DIR_HELP, resolveClientTarget } from "./client_target.ts";
import { CliError, say } from "./common.ts";

/** `openchat renew`. */
export function renewCommand() {
  return new Command("renew")
    .description("renew this device's certificate for the same key (also after expiry, 60 days)")
    .argument("[host:port]", "the server (default: the one remembered at enrolment)")
    .option("--identity <file>", "the identity file (default: the one remembered at enrolment)")
    .option("--config-dir <dir>", CONFIG_DIR_HELP)
    .action(async (address, options) => {
      const target = await resolveClientTarget({
        address,
        identity: options.identity,
        configDir: options.configDir,
      });
      const identity = await loadIdentity(target.identityPath).catch((error) => {
        throw error instanceof IdentityError ? new CliError(error.message) : error;
      });
      const renewed = await renewIdentity(target.endpoint, identity).catch((error) => {
        if (error instanceof SetupError) {
          throw new CliError(
            `Cannot renew at ${target.address}: ${error.message}${
              error.fromServer ? ` (${error.code})` : ""
            }`,
          );
        }
        throw new CliError((error as Error).message);
      });
      await writeFileAtomic(target.identityPath, renewed.identityText);
      say(
        `Renewed ${identity.user}/${identity.device}: valid until ${renewed.identity.cert.notAfter.toISOString()} ` +
          `(was ${identity.cert.notAfter.toISOString()}).`,
      );
      say(`Same key: ${renewed.identity.keyFingerprint}`);
      say(`Wrote ${target.identityPath}.`);
    });
}
