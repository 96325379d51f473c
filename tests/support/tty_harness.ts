/**
 * Runs the chat screen (`runTerminal`) the way `openchat join` does, then, still inside the same
 * process, asks `stty` how the terminal was left. Deno itself resets the terminal when a process
 * exits, so only a check made before exiting shows whether the chat screen gave it back.
 *
 * Usage: `deno run -A tty_harness.ts PORT IDENTITY_FILE CONFIG_DIR`. Prints one line:
 * `harness: code=N modes=echo,icanon,...`.
 *
 * @module
 */

import { ChatClient } from "../../client/chat_client.ts";
import { parseEndpoint } from "../../client/connection.ts";
import { loadIdentity } from "../../client/identity.ts";
import { TrustStore } from "../../client/trust_store.ts";
import { runTerminal } from "../../client/tty/tty_ui.ts";

/** The terminal modes reported: each is `-name` when off. */
export const MODES = ["echo", "icanon", "icrnl", "isig", "opost"];

if (import.meta.main) {
  const [port, identityFile, configDir] = Deno.args;
  if (!port || !identityFile || !configDir) {
    throw new TypeError(`Usage: tty_harness.ts PORT IDENTITY_FILE CONFIG_DIR, got ${Deno.args}`);
  }
  const identity = await loadIdentity(identityFile);
  const client = new ChatClient({
    endpoint: parseEndpoint(`127.0.0.1:${port}`),
    identity,
    trustStore: await TrustStore.open(configDir, identity.caFingerprint),
    rooms: ["lobby"],
    reconnect: false,
  });
  await client.start();
  const code = await runTerminal(client, { room: "lobby" });
  const stty = await new Deno.Command("stty", { args: ["-a"], stdin: "inherit", stdout: "piped" })
    .output();
  const words = new TextDecoder().decode(stty.stdout).split(/[\s;]+/);
  const modes = words.filter((word) => MODES.includes(word.replace(/^-/, ""))).sort();
  console.log(`harness: code=${code} modes=${modes.join(",")}`);
  Deno.exit(0);
}
