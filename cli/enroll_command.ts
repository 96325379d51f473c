/**
 * `openchat enroll TOKEN`: this device joins with an invite. Its key is made here and never
 * leaves; the identity file is written (mode 0600, atomically) only once the server has issued
 * a certificate that fits, and the server is remembered for a bare `openchat join`. Any refusal
 * writes nothing.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { dirname, join, resolve } from "node:path";
import { IDENTITY_FILE, writeClientConfig } from "../client/client_config.ts";
import { enroll, EnrolmentError } from "../client/enrolment.ts";
import { decodeInviteToken, type InviteToken, TokenError } from "../protocol/invite_token.ts";
import { defaultConfigDir } from "../util/paths.ts";
import { ensurePrivateDir, exists, writeFileAtomic } from "../util/files.ts";
import { CONFIG_DIR_HELP } from "./client_target.ts";
import { VouchStore } from "../client/vouches.ts";
import { CliError, EXIT_USAGE, say } from "./common.ts";

/** `openchat enroll`. */
export function enrollCommand() {
  return new Command("enroll")
    .description(
      "enrol this device with an invite from `openchat ca invite` (or /device add): its key is made here",
    )
    .argument("<token>", "the invite, one line starting with oc1.")
    .option("--out <file>", "where to write the identity (default: CONFIG_DIR/identity.pem)")
    .option("--config-dir <dir>", CONFIG_DIR_HELP)
    .option("--force", "overwrite an existing identity file", false)
    .action(async (text, options) => {
      let token: InviteToken;
      try {
        token = decodeInviteToken(text);
      } catch (error) {
        if (error instanceof TokenError) {
          throw new CliError(`This invite cannot be used: ${error.message}`, EXIT_USAGE);
        }
        throw error;
      }
      const configDir = resolve(options.configDir ?? defaultConfigDir());
      const out = resolve(options.out ?? join(configDir, IDENTITY_FILE));
      if (!options.force && await exists(out)) {
        throw new CliError(
          `${out} already exists (this device is enrolled); pass --force to replace it, or --out FILE`,
        );
      }
      await checkWritableParent(out);
      console.error(
        `Enrolling ${token.user}/${token.device} with ${token.addresses.join(", ")}; ` +
          "making this device's key here...",
      );
      const enrolled = await enroll(token).catch((error) => {
        if (error instanceof EnrolmentError) throw new CliError(error.message);
        throw error;
      });
      try {
        await ensurePrivateDir(dirname(out));
        await writeFileAtomic(out, enrolled.identityText, { createNew: !options.force });
        // Every address the invite names: the one that answered first, then the others.
        const servers = [
          enrolled.address,
          ...token.addresses.filter((address) => address !== enrolled.address),
        ];
        await writeClientConfig(configDir, { server: enrolled.address, servers, identity: out });
        if (token.vouch) {
          // Kept to recognise the device that invited this one (it proves it held the token).
          const vouches = await VouchStore.open(configDir, enrolled.identity.caFingerprint);
          await vouches.setOwn(token.device, token.vouch);
        }
      } catch (error) {
        throw new CliError(
          `The server issued the certificate, but writing it failed: ${
            (error as Error).message
          }. Ask for a new invite.`,
        );
      }
      const { identity } = enrolled;
      say(`Enrolled ${identity.user}/${identity.device} on ${enrolled.address}.`);
      say(`Wrote ${out} (mode 0600): certificate, private key (made here) and CA certificate.`);
      say(`Certificate valid until ${identity.cert.notAfter.toISOString()}; it renews by itself.`);
      say(
        `Your key fingerprint (SHA-256 of the public key; peers compare it with /whois ${identity.user}):`,
      );
      say(`  ${identity.keyFingerprint}`);
      say(`Next: openchat join${options.configDir ? ` --config-dir ${configDir}` : ""}`);
    });
}

/** Refuses, before anything is sent, when the identity's directory cannot be written. */
async function checkWritableParent(path: string): Promise<void> {
  let dir = dirname(path);
  while (!await exists(dir)) {
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  try {
    const info = await Deno.stat(dir);
    if (!info.isDirectory) throw new Error(`${dir} is not a directory`);
  } catch (error) {
    throw new CliError(`Cannot write ${path}: ${(error as Error).message}`);
  }
}
