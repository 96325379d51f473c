/**
 * `openchat device add|list|revoke`: this user's devices, from an enrolled device (the same as
 * `/device add`, `/devices` and `/device revoke` in the chat). `add` prints an invite token on
 * standard output for the new device's `openchat enroll`; the server records which device
 * asked for it.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { ServerLink, SetupError } from "../client/connection.ts";
import { formatEvent } from "../client/format.ts";
import { IdentityError, loadIdentity } from "../client/identity.ts";
import type { ClientMessage, ServerMessage } from "../protocol/messages.ts";
import { CONFIG_DIR_HELP, resolveClientTarget } from "./client_target.ts";
import { CliError, say } from "./common.ts";
import { VouchStore } from "../client/vouches.ts";
import { randomBytes, toBase64Url } from "../crypto/bytes.ts";
import { VOUCH_SECRET_BYTES } from "../protocol/invite_token.ts";

/** How long to wait for the server's answer. */
const ANSWER_TIMEOUT_MS = 15_000;

interface TargetOptions {
  identity?: string;
  configDir?: string;
}

/** Connects as this device, sends one request, and returns the server's answer to it. */
async function ask(
  address: string | undefined,
  options: TargetOptions,
  request: ClientMessage & { id: string },
): Promise<
  { answer: ServerMessage; user: string; device: string; configDir: string; caFingerprint: string }
> {
  const target = await resolveClientTarget({ address, ...options });
  const identity = await loadIdentity(target.identityPath).catch((error) => {
    throw error instanceof IdentityError ? new CliError(error.message) : error;
  });
  let link: ServerLink;
  try {
    ({ link } = await ServerLink.open(target.endpoint, identity));
  } catch (error) {
    if (error instanceof SetupError) {
      throw new CliError(
        `Cannot connect to ${target.address}: ${error.message}${
          error.fromServer ? ` (${error.code})` : ""
        }`,
      );
    }
    throw error;
  }
  try {
    const answer = await new Promise<ServerMessage>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new CliError(`No answer from ${target.address} within 15 s`)),
        ANSWER_TIMEOUT_MS,
      );
      link.onMessage((message) => {
        if (message.type === "ping") link.send({ type: "pong" });
        if ("id" in message && message.id === request.id) {
          clearTimeout(timer);
          resolve(message);
        }
      });
      void link.ended.then(() => {
        clearTimeout(timer);
        reject(new CliError("The server closed the connection"));
      });
      link.send(request);
    });
    if (answer.type === "error") throw new CliError(`${answer.message} (${answer.code})`);
    return {
      answer,
      user: identity.user,
      device: identity.device,
      configDir: target.configDir,
      caFingerprint: identity.caFingerprint,
    };
  } finally {
    await link.closeGracefully(200);
  }
}

const IDENTITY_HELP = "this device's identity (default: remembered at enrolment)";

/** `openchat device`. */
export function deviceCommand() {
  const add = new Command("add")
    .description("an invite for another device of yours (token on stdout; valid 24 h, once)")
    .argument("<label>", "the new device's label, e.g. phone")
    .argument("[host:port]", "the server (default: remembered at enrolment)")
    .option("--identity <file>", IDENTITY_HELP)
    .option("--config-dir <dir>", CONFIG_DIR_HELP);
  add.action(async (label, address, options) => {
    const { answer, user, device, configDir, caFingerprint } = await ask(address, options, {
      type: "device_invite",
      id: "d1",
      device: label,
    });
    if (answer.type !== "device_invite") throw new CliError("Unexpected answer");
    // The vouching secret stays here and in the token; the server never sees it. With it, this
    // device vouches for the new one's key once it has enrolled (next time this device joins).
    const secret = randomBytes(VOUCH_SECRET_BYTES);
    const vouches = await VouchStore.open(configDir, caFingerprint);
    await vouches.addInvited(label, secret);
    const token = `${answer.token}.${toBase64Url(secret, false)}`;
    say(token);
    console.error(
      `Invite for ${user}/${label}, asked by ${user}/${device}; it works once, within 24 hours.`,
    );
    console.error(`On the new device run:\n  openchat enroll ${token}`);
    console.error(
      `Once it has enrolled, this device vouches for it the next time it joins, so your contacts accept it without a prompt.`,
    );
  });

  const list = new Command("list")
    .description("list your devices")
    .argument("[host:port]", "the server (default: remembered at enrolment)")
    .option("--identity <file>", IDENTITY_HELP)
    .option("--config-dir <dir>", CONFIG_DIR_HELP);
  list.action(async (address, options) => {
    const { answer, user } = await ask(address, options, {
      type: "devices",
      id: "d1",
    });
    if (answer.type !== "devices") throw new CliError("Unexpected answer");
    say(formatEvent({ type: "devices", user, devices: answer.devices })!);
  });

  const revoke = new Command("revoke")
    .description("revoke one of your devices for good (its sessions end at once)")
    .argument("<label>", "the device's label")
    .argument("[host:port]", "the server (default: remembered at enrolment)")
    .option("--identity <file>", IDENTITY_HELP)
    .option("--config-dir <dir>", CONFIG_DIR_HELP);
  revoke.action(async (label, address, options) => {
    const { answer, user } = await ask(address, options, {
      type: "device_revoke",
      id: "d1",
      device: label,
    });
    if (answer.type !== "device_revoked") throw new CliError("Unexpected answer");
    say(`Revoked ${user}/${answer.device}.`);
  });

  return new Command("device")
    .description("your devices: add (an invite), list, revoke")
    .addCommand(add)
    .addCommand(list)
    .addCommand(revoke);
}
