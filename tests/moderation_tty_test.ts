/**
 * Moderation on the chat screen, under a real terminal (tmux, as `tty_test.ts` does): alice,
 * who created the room, runs `openchat join` on a terminal and moderates bob, an in-process
 * client; then root, a server administrator, mutes her. The commands are typed on the input line, the events are shown as lines (the ones
 * about us saying "you"), a mistake is shown as an error, and `/who` shows the roles.
 */

import { assertEquals } from "./support/assert.ts";
import { ChatPeer } from "./support/chat_peer.ts";
import { openchatCommand } from "./support/cli.ts";
import { startServer } from "./support/server_fixture.ts";
import { lastLine, TmuxSession } from "./support/tmux.ts";
import { requireTool } from "./support/tools.ts";

const REPO = new URL("..", import.meta.url).pathname;

Deno.test("the chat screen: /kick, /mute, /who and a bad /mode typed on a terminal; the events and the refusal shown as lines", async () => {
  await requireTool("tmux", ["-V"]);
  const fx = await startServer({}, { admins: ["root"] });
  const configDir = await Deno.makeTempDir({ prefix: "openchat-tty-mod-" });
  let bob: ChatPeer | undefined;
  let root: ChatPeer | undefined;
  let tmux: TmuxSession | undefined;
  try {
    const aliceFile = await fx.identityFile(await fx.issue("alice"));
    tmux = await TmuxSession.start({
      command: openchatCommand([
        "join",
        `127.0.0.1:${fx.port}`,
        "--identity",
        aliceFile,
        "--config-dir",
        configDir,
        "--no-history",
      ]),
      columns: 120,
      rows: 30,
      cwd: REPO,
      env: { NO_COLOR: "1", LANG: "C.UTF-8" },
    });
    const screen = tmux;
    await screen.waitFor("alice alone in lobby", (lines) => lastLine(lines) === "[lobby 🔒 1]>");
    bob = await ChatPeer.join(fx, "bob");
    await screen.waitFor("bob in lobby", (lines) => lastLine(lines) === "[lobby 🔒 2]>");
    const shows = (text: string) =>
      screen.waitFor(text, (lines) => lines.some((line) => line.includes(text)));

    await screen.type("/mute bob 10m\r");
    await shows("-- alice muted bob in lobby for 10m");
    await bob.waitFor(
      "his mute",
      (e) => e.type === "moderation" && e.action === "mute" && e.target === "bob",
    );
    await screen.type("/who\r");
    await shows("-- lobby: alice (owner), bob (muted)");
    await screen.type("/mode +x\r");
    await shows(
      '!! Mode changes are + or - and the letters i, m, t: unknown mode letter "x" (received "+x")',
    );
    await screen.type("/kick bob enough\r");
    await shows("-- alice kicked bob from lobby: enough");
    await screen.waitFor("bob gone", (lines) => lastLine(lines) === "[lobby 🔒 1]>");
    const kicked = await bob.waitFor(
      "his kick",
      (e) => e.type === "moderation" && e.action === "kick",
    );
    assertEquals(kicked.type === "moderation" && kicked.reason, "enough");

    // root, a server administrator, stands above the owner: the line about alice says "you".
    root = await ChatPeer.join(fx, "root");
    await screen.waitFor("root in lobby", (lines) => lastLine(lines) === "[lobby 🔒 2]>");
    root.client.moderate("lobby", { command: "mute", target: "alice", durationMs: 60_000 });
    await shows("-- root muted you in lobby for 1m");
  } finally {
    await tmux?.kill();
    await bob?.client.quit(100).catch(() => {});
    await root?.client.quit(100).catch(() => {});
    await fx.close();
    await Deno.remove(configDir, { recursive: true }).catch(() => {});
  }
});
