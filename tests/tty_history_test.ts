/**
 * The local history on a real terminal: `openchat join` in a detached tmux session (a private
 * tmux server) against an in-process server, with bob driven in-process through the ChatClient
 * API. PgUp/PgDn scroll back through what the history database holds, `/search` and Ctrl-R find
 * messages in it, the prompt counts unread messages per room, and all of it survives a restart,
 * while the database holds no plaintext.
 */

import { assert, assertEquals } from "./support/assert.ts";
import { ChatPeer } from "./support/chat_peer.ts";
import { openchatCommand } from "./support/cli.ts";
import { startServer } from "./support/server_fixture.ts";
import { lastLine, TmuxSession } from "./support/tmux.ts";
import { requireTool } from "./support/tools.ts";

const COLUMNS = 120;
const ROWS = 30;
const REPO = new URL("..", import.meta.url).pathname;
const LINES = 60;
const MARKER = "scrolled back in #lobby";

/** Bob's n-th line (two digits, so `line 01` matches only the first). */
const line = (n: number) => `line ${String(n).padStart(2, "0")} from bob`;

function contains(haystack: Uint8Array, needle: string): boolean {
  const bytes = new TextEncoder().encode(needle);
  outer: for (let i = 0; i + bytes.length <= haystack.length; i++) {
    for (let j = 0; j < bytes.length; j++) if (haystack[i + j] !== bytes[j]) continue outer;
    return true;
  }
  return false;
}

function startAlice(port: number, identity: string, configDir: string): Promise<TmuxSession> {
  return TmuxSession.start({
    command: openchatCommand([
      "join",
      `127.0.0.1:${port}`,
      "--identity",
      identity,
      "--config-dir",
      configDir,
    ]),
    after: `echo "exit=$?";`,
    columns: COLUMNS,
    rows: ROWS,
    cwd: REPO,
    env: { NO_COLOR: "1", LANG: "C.UTF-8" },
  });
}

Deno.test("local history in tmux: PgUp/PgDn scrollback, /search, Ctrl-R, unread counts, kept across a restart", async (t) => {
  await requireTool("tmux", ["-V"]);
  const fx = await startServer();
  const configDir = await Deno.makeTempDir({ prefix: "openchat-tty-history-" });
  const peers: ChatPeer[] = [];
  let tmux: TmuxSession | undefined;
  try {
    const bob = await ChatPeer.join(fx, "bob", ["lobby", "dev"]);
    peers.push(bob);
    const aliceFile = await fx.identityFile(await fx.issue("alice"));
    tmux = await startAlice(fx.port, aliceFile, configDir);
    let screen = tmux;
    const PROMPT = "[lobby 🔒 2]>";

    await screen.waitFor(
      "alice's prompt and the history keys in the header",
      (lines) =>
        lastLine(lines) === PROMPT && lines.some((l) => l.includes("PgUp/PgDn scroll back")),
    );
    await bob.waitFor(
      "bob to have keys with alice in lobby",
      (event) =>
        event.type === "members" && event.room === "lobby" && event.members.includes("alice"),
    );

    await t.step("bob's lines scroll off the live screen", async () => {
      for (let i = 1; i <= LINES; i++) {
        bob.client.send("lobby", i === 7 ? `${line(i)}: the zebra crossing` : line(i));
      }
      const lines = await screen.waitFor(
        "bob's last line",
        (lines) => lines.some((l) => l.endsWith(line(LINES))) && lines,
      );
      assert(!lines.some((l) => l.includes(line(1))), "the first line is off the screen");
    });

    await t.step("PgUp scrolls back through the stored lines, with a marker", async () => {
      await screen.press("PageUp");
      const first = await screen.waitFor(
        "the scrolled-back view",
        (lines) => lines.some((l) => l.includes(MARKER)) && lines,
      );
      assert(!first.some((l) => l.endsWith(line(LINES))), "the newest line is below the view");
      assert(first.some((l) => /#lobby <bob> line \d\d from bob/.test(l)), first.join("\n"));
      assertEquals(lastLine(first), PROMPT, "the input line stays at the bottom");
      // Back to the very first line: it only exists in the history database now.
      for (let i = 0; i < 4; i++) await screen.press("PageUp");
      const top = await screen.waitFor(
        "the oldest line and the top of the history",
        (lines) =>
          lines.some((l) => l.endsWith(`#lobby <bob> ${line(1)}`)) &&
          lines.some((l) => l.includes(MARKER) && l.includes("oldest kept")) && lines,
      );
      assert(top.some((l) => l.includes("zebra crossing")));
    });

    await t.step(
      "what arrives meanwhile waits below; End returns to live and shows it",
      async () => {
        bob.client.send("lobby", "sent while alice scrolled back");
        await screen.waitFor(
          "the marker counting one new line",
          (lines) => lines.some((l) => l.includes(MARKER) && l.includes("1 new below")),
        );
        const during = await screen.screen();
        assert(
          !during.some((l) => l.includes("sent while alice scrolled back")),
          during.join("\n"),
        );
        await screen.press("End");
        const live = await screen.waitFor(
          "the live screen again",
          (lines) =>
            !lines.some((l) => l.includes(MARKER)) &&
            lines.some((l) => l.endsWith("<bob> sent while alice scrolled back")) && lines,
        );
        assertEquals(lastLine(live), PROMPT);
        assert(live.some((l) => l.endsWith(line(LINES))), "the live screen is as it was");
      },
    );

    await t.step("PgDn pages forward and past the newest back to live", async () => {
      await screen.press("PageUp");
      await screen.press("PageUp");
      await screen.waitFor("scrolled back twice", (lines) => lines.some((l) => l.includes(MARKER)));
      await screen.press("PageDown");
      await screen.press("PageDown");
      await screen.press("PageDown");
      await screen.waitFor(
        "live after paging down",
        (lines) => !lines.some((l) => l.includes(MARKER)) && lastLine(lines) === PROMPT,
      );
    });

    await t.step("/search lists the matching stored messages", async () => {
      await screen.type("/search ZEBRA");
      await screen.press("Enter");
      const lines = await screen.waitFor(
        "the search result",
        (lines) => lines.some((l) => l.includes('1 message contains "ZEBRA"')) && lines,
      );
      const at = lines.findIndex((l) => l.includes('1 message contains "ZEBRA"'));
      assert(
        /^\s+\[\d\d:\d\d:\d\d\] #lobby <bob> line 07 from bob: the zebra crossing$/.test(
          lines[at + 1]!,
        ),
        lines[at + 1],
      );
      await screen.type("/search no such words");
      await screen.press("Enter");
      await screen.waitFor(
        "no match",
        (lines) => lines.some((l) => l.includes('No message contains "no such words"')),
      );
    });

    await t.step("Ctrl-R searches as you type; Enter shows the match in context", async () => {
      await screen.type("draft line");
      await screen.press("C-r");
      await screen.waitFor("the search prompt", (lines) => lastLine(lines) === "(search)");
      await screen.type("zebra");
      await screen.waitFor(
        "the match previewed",
        (lines) =>
          /^\(search 1\/1\) zebra {2}▸ \[\d\d:\d\d:\d\d\] #lobby <bob> line 07 from bob: the zebra/
            .test(lastLine(lines)),
      );
      await screen.press("Enter");
      const view = await screen.waitFor(
        "the match highlighted in the scrolled-back view",
        (lines) => lines.some((l) => l.includes(MARKER)) && lines,
      );
      const match = view.find((l) => l.includes("zebra crossing"));
      assert(match?.startsWith("» "), view.join("\n"));
      assert(view.some((l) => l.endsWith(line(6))) && view.some((l) => l.endsWith(line(8))));
      assertEquals(lastLine(view), `${PROMPT} draft line`, "the draft is back on the input line");
      await screen.press("Escape");
      await screen.waitFor(
        "live again",
        (lines) =>
          !lines.some((l) => l.includes(MARKER)) && lastLine(lines) === `${PROMPT} draft line`,
      );
      // Esc leaves a search without moving.
      await screen.press("C-r");
      await screen.type("nothing like this");
      await screen.waitFor(
        "no match",
        (lines) => lastLine(lines).startsWith("(search: no match) nothing like this"),
      );
      await screen.press("Escape");
      await screen.waitFor("the draft", (lines) => lastLine(lines) === `${PROMPT} draft line`);
      await screen.press("C-u");
      await screen.waitFor("an empty input line", (lines) => lastLine(lines) === PROMPT);
    });

    await t.step("the prompt and /rooms count unread messages of the other room", async () => {
      await screen.type("/join dev");
      await screen.press("Enter");
      await screen.waitFor("in dev", (lines) => lastLine(lines) === "[dev 🔒 2]>");
      await bob.waitFor(
        "bob to have keys with alice in dev",
        (event) =>
          event.type === "members" && event.room === "dev" && event.members.includes("alice"),
      );
      await screen.type("/join lobby");
      await screen.press("Enter");
      await screen.waitFor("back in lobby", (lines) => lastLine(lines) === PROMPT);
      bob.client.send("dev", "dev news one");
      bob.client.send("dev", "dev news two");
      await screen.waitFor(
        "two unread in dev",
        (lines) => lastLine(lines) === "[lobby 🔒 2 · dev 2]>",
      );
      await screen.type("/rooms");
      await screen.press("Enter");
      await screen.waitFor(
        "/rooms with the unread count",
        (lines) => lines.some((l) => l.endsWith("-- rooms: dev (2, 2 unread), lobby (2)")),
      );
      await screen.type("/join dev");
      await screen.press("Enter");
      const lines = await screen.waitFor(
        "the unread line and what came",
        (lines) =>
          lastLine(lines) === "[dev 🔒 2]>" &&
          lines.some((l) => l === "── 2 new in #dev since you were here ──") && lines,
      );
      const at = lines.lastIndexOf("── 2 new in #dev since you were here ──");
      assert(lines[at + 1]!.endsWith("#dev <bob> dev news one"), lines.join("\n"));
      assert(lines[at + 2]!.endsWith("#dev <bob> dev news two"), lines.join("\n"));
      // Messages of lobby arriving while alice is in dev count there.
      bob.client.send("lobby", "lobby news while alice is in dev");
      await screen.waitFor(
        "one unread in lobby",
        (lines) => lastLine(lines) === "[dev 🔒 2 · lobby 1]>",
      );
    });

    await t.step(
      "after a restart the history, the unread count and search are still there",
      async () => {
        await screen.type("/quit");
        await screen.press("Enter");
        await screen.waitFor("alice to exit", (lines) => lines.includes("exit=0"));
        await tmux!.kill();
        tmux = await startAlice(fx.port, aliceFile, configDir);
        screen = tmux;
        const lines = await screen.waitFor(
          "lobby's unread line on the way back",
          (lines) =>
            lastLine(lines) === PROMPT &&
            lines.some((l) => l === "── 1 new in #lobby since you were here ──") && lines,
        );
        const at = lines.indexOf("── 1 new in #lobby since you were here ──");
        assert(lines[at + 1]!.endsWith("#lobby <bob> lobby news while alice is in dev"));
        await screen.press("PageUp");
        await screen.waitFor(
          "the previous run's lines in scrollback",
          (lines) =>
            lines.some((l) => l.includes(MARKER)) &&
            lines.some((l) => / <bob> line \d\d from bob$/.test(l)),
        );
        await screen.press("End");
        await screen.waitFor("live", (lines) => !lines.some((l) => l.includes(MARKER)));
        await screen.press("C-r");
        await screen.type("zebra");
        await screen.waitFor(
          "the old match",
          (lines) => lastLine(lines).startsWith("(search 1/1) zebra  ▸ "),
        );
        await screen.press("Escape");
        await screen.waitFor("the prompt", (lines) => lastLine(lines) === PROMPT);
        await screen.type("/quit");
        await screen.press("Enter");
        await screen.waitFor("alice to exit", (lines) => lines.includes("exit=0"));
      },
    );

    await t.step("the history database holds none of it in clear", async () => {
      const parts: Uint8Array[] = [];
      for await (const entry of Deno.readDir(configDir)) {
        if (entry.name.startsWith("history-")) {
          parts.push(await Deno.readFile(`${configDir}/${entry.name}`));
          assertEquals((await Deno.stat(`${configDir}/${entry.name}`)).mode! & 0o777, 0o600);
        }
      }
      assert(parts.length > 0 && parts.some((part) => part.length > 0), "a history database");
      for (const part of parts) {
        for (const marker of ["from bob", "zebra", "dev news", "while alice", "<bob>"]) {
          assert(!contains(part, marker), `${JSON.stringify(marker)} is in the database`);
        }
      }
    });
  } finally {
    await tmux?.kill();
    for (const peer of peers) await peer.close().catch(() => {});
    await fx.close();
    await Deno.remove(configDir, { recursive: true }).catch(() => {});
  }
});
