/**
 * `openchat join [HOST:PORT]`: the end-to-end encrypted chat client. On a terminal it shows the
 * chat screen; otherwise it reads lines and prints events (JSON with `--json`). The server and
 * identity default to those remembered at enrolment; the certificate renews by itself.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { ChatClient } from "../client/chat_client.ts";
import { SetupError } from "../client/connection.ts";
import { IdentityError, loadIdentity } from "../client/identity.ts";
import { historyPath, LocalStore } from "../client/local_store.ts";
import { runPipe } from "../client/pipe_ui.ts";
import { VouchStore } from "../client/vouches.ts";
import { TrustStore } from "../client/trust_store.ts";
import { runTerminal } from "../client/tty/tty_ui.ts";
import { isValidRoomName } from "../protocol/names.ts";
import { CONFIG_DIR_HELP, resolveClientTarget } from "./client_target.ts";
import { CliError, EXIT_USAGE } from "./common.ts";

/** `openchat join`. */
export function joinCommand() {
  return new Command("join")
    .description(
      "join a server's chat, end-to-end encrypted (a chat screen on a terminal, lines in a pipe)",
    )
    .argument(
      "[host:port...]",
      "the server, e.g. localhost:7443 or [::1]:7443, then other servers of its cluster to fail over to (default: those remembered at enrolment)",
    )
    .option(
      "--identity <file>",
      "your identity file (default: the one `openchat enroll` wrote)",
    )
    .option("--room <name>", "room to join first", "lobby")
    .option("--json", "one JSON object per event (when not on a terminal)", false)
    .option("--config-dir <dir>", CONFIG_DIR_HELP)
    .option("--no-reconnect", "exit instead of reconnecting when the connection is lost")
    .option(
      "--no-history",
      "keep no local history (history-ID.db in the config directory: scrollback, search, unread)",
    )
    .action(async (addresses, options) => {
      const target = await resolveClientTarget({
        address: addresses[0],
        more: addresses.slice(1),
        identity: options.identity,
        configDir: options.configDir,
      });
      if (!isValidRoomName(options.room)) {
        throw new CliError(
          `--room ${JSON.stringify(options.room)} is not a room name ([a-z0-9][a-z0-9_-]{0,31})`,
          EXIT_USAGE,
        );
      }
      const identity = await loadIdentity(target.identityPath).catch((error) => {
        throw error instanceof IdentityError ? new CliError(error.message) : error;
      });
      if (identity.permissionWarning) {
        console.error(`openchat: warning: ${identity.permissionWarning}`);
      }
      const trustStore = await TrustStore.open(target.configDir, identity.caFingerprint)
        .catch((error) => {
          throw new CliError((error as Error).message);
        });
      const vouches = await VouchStore.open(target.configDir, identity.caFingerprint)
        .catch((error) => {
          throw new CliError((error as Error).message);
        });
      // The history is sealed with a key from this identity's private key (local_store.ts).
      let localStore: LocalStore | undefined;
      if (options.history) {
        const path = await historyPath(target.configDir, identity);
        localStore = await LocalStore.open(path, identity).catch((error) => {
          throw new CliError((error as Error).message);
        });
      }
      const client = new ChatClient({
        endpoint: target.endpoint,
        fallbacks: target.fallbacks,
        identity,
        identityPath: target.identityPath,
        trustStore,
        vouches,
        rooms: [options.room],
        reconnect: options.reconnect,
        localStore,
      });
      const terminal = !options.json && Deno.stdin.isTerminal() && Deno.stdout.isTerminal();
      try {
        await client.start();
      } catch (error) {
        await localStore?.close();
        if (error instanceof SetupError) {
          throw new CliError(
            `Cannot join ${target.address}: ${error.message}${
              error.fromServer ? ` (${error.code})` : ""
            }`,
          );
        }
        throw error;
      }
      let code: number;
      try {
        code = terminal
          ? await runTerminal(client, { room: options.room })
          : await runPipe(client, { json: options.json, room: options.room });
      } finally {
        await localStore?.close();
      }
      // The last status event already said why; exit quietly with its code.
      if (code !== 0) throw new CliError("", code);
    });
}
