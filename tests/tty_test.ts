/**
 * The chat screen under a real terminal: `openchat join` runs in a detached tmux session (on a
 * private tmux server) against an in-process server, and bob, driven through the ChatClient API,
 * talks to it. The test types, pastes and presses keys with `tmux send-keys`/`paste-buffer`, and
 * reads the screen back with `tmux capture-pane`.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "./support/assert.ts";
import { ChatPeer } from "./support/chat_peer.ts";
import { openchatCommand } from "./support/cli.ts";
import { startServer } from "./support/server_fixture.ts";
import { lastLine, TmuxSession } from "./support/tmux.ts";
import { requireTool } from "./support/tools.ts";
import type { ClientEvent } from "../client/events.ts";
import { displayWidth } from "../client/tty/width.ts";

const COLUMNS = 120;
const ROWS = 30;
const REPO = new URL("..", import.meta.url).pathname;
const HARNESS = new URL("./support/tty_harness.ts", import.meta.url).pathname;

type Message = Extract<ClientEvent, { type: "message" }>;
const isMessage = (event: ClientEvent): event is Message => event.type === "message";

Deno.test("the chat screen in tmux: typing survives arriving messages, Enter and paste send whole lines", async (t) => {
  await requireTool("tmux", ["-V"]);
  const fx = await startServer();
  const configDir = await Deno.makeTempDir({ prefix: "openchat-tty-" });
  const peers: ChatPeer[] = [];
  let tmux: TmuxSession | undefined;
  try {
    const bob = await ChatPeer.join(fx, "bob");
    peers.push(bob);
    const aliceFile = await fx.identityFile(await fx.issue("alice"));
    tmux = await TmuxSession.start({
      command: openchatCommand([
        "join",
        `127.0.0.1:${fx.port}`,
        "--identity",
        aliceFile,
        "--config-dir",
        configDir,
      ]),
      after: `echo "exit=$?";`,
      columns: COLUMNS,
      rows: ROWS,
      cwd: REPO,
      env: { NO_COLOR: "1", LANG: "C.UTF-8" },
    });
    const screen = tmux;
    const PROMPT = "[lobby 🔒 2]> ";

    await screen.waitFor(
      "alice's prompt with bob verified",
      (lines) => lastLine(lines) === PROMPT.trimEnd(),
    );
    await bob.waitFor(
      "bob to have keys with alice",
      (event) => event.type === "members" && event.members.includes("alice"),
    );

    await t.step("a half-typed line stays intact while messages arrive above it", async () => {
      const typed = "half typed line";
      await screen.type(typed);
      await screen.waitFor("the typed text", (lines) => lastLine(lines) === PROMPT + typed);
      for (let i = 1; i <= 5; i++) bob.client.send("lobby", `message ${i} from bob`);
      const lines = await screen.waitFor(
        "bob's fifth message on alice's screen",
        (lines) => lines.some((line) => line.endsWith("<bob> message 5 from bob")) && lines,
      );
      const last = lines.findLastIndex((line) => line !== "");
      assertEquals(lines[last], PROMPT + typed, "the input line is intact and last");
      const received = lines.filter((line) => line.includes("<bob> message"));
      assertEquals(received.length, 5, lines.join("\n"));
      received.forEach((line, i) =>
        assertMatch(
          line,
          new RegExp(`^\\[\\d\\d:\\d\\d:\\d\\d\\] #lobby <bob> message ${i + 1} from bob$`),
        )
      );
      assert(
        lines.slice(0, last).every((line) => !line.includes(typed)),
        "the typed text appears nowhere but on the input line",
      );
      const cursor = await screen.cursor();
      assertEquals(cursor, { x: displayWidth(PROMPT + typed), y: last, visible: true });
    });

    await t.step("Enter sends exactly the typed line, and bob gets it verified", async () => {
      await screen.press("Enter");
      const got = await bob.waitFor(
        "alice's message",
        (event): event is Message => isMessage(event) && event.from === "alice",
      );
      assertEquals(got.text, "half typed line");
      assertEquals(got.verified, true);
      assertEquals(got.room, "lobby");
      const lines = await screen.waitFor(
        "alice's own line, and an empty input line",
        (lines) =>
          lines.some((line) => line.endsWith("#lobby <alice> half typed line")) &&
          lastLine(lines) === PROMPT.trimEnd() && lines,
      );
      assert(!lines.some((line) => line.includes("NOT delivered")), lines.join("\n"));
    });

    await t.step("a multi-line bracketed paste is one message with its line break", async () => {
      await screen.paste("first pasted line\nsecond pasted line");
      await screen.waitFor(
        "the paste on the input line",
        (lines) => lastLine(lines) === `${PROMPT}first pasted line⏎second pasted line`,
      );
      assertEquals(bob.messages().filter((m) => m.from === "alice").length, 1, "nothing sent yet");
      await screen.press("Enter");
      const got = await bob.waitFor(
        "the pasted message",
        (event): event is Message => isMessage(event) && event.text.startsWith("first pasted"),
      );
      assertEquals(got.text, "first pasted line\nsecond pasted line");
      assertEquals(got.verified, true);
      await screen.waitFor("the input line to empty", (l) => lastLine(l) === PROMPT.trimEnd());
      const fromAlice = bob.messages().filter((m) => m.from === "alice").map((m) => m.text);
      assertEquals(fromAlice, ["half typed line", "first pasted line\nsecond pasted line"]);
    });

    await t.step("a line longer than the terminal scrolls sideways and is sent whole", async () => {
      const long = Array.from({ length: 40 }, (_, i) => `w${String(i).padStart(3, "0")}`).join(" ");
      assert(long.length > COLUMNS);
      await screen.type(long);
      const lines = await screen.waitFor(
        "the end of the long line in view",
        (lines) => lastLine(lines).endsWith("w038 w039") && lines,
      );
      const input = lastLine(lines);
      assert(input.startsWith(PROMPT), input);
      assert(displayWidth(input) < COLUMNS, `${displayWidth(input)} columns: ${input}`);
      assertEquals(lines.filter((line) => line.includes("w039")).length, 1, "no wrapped copy");
      const cursor = await screen.cursor();
      assertEquals(cursor.x, displayWidth(input));
      await screen.press("Home");
      await screen.waitFor(
        "the start of the line after Home",
        async (lines) =>
          lastLine(lines).startsWith(`${PROMPT}w000 w001`) && (await screen.cursor()).x ===
            displayWidth(PROMPT),
      );
      await screen.press("Enter");
      const got = await bob.waitFor(
        "the long message",
        (event): event is Message => isMessage(event) && event.text.startsWith("w000"),
      );
      assertEquals(got.text, long);
    });

    await t.step("Tab completes a user name and a command", async () => {
      await screen.type("hi b");
      await screen.press("Tab");
      await screen.waitFor("bob completed", (lines) => lastLine(lines) === `${PROMPT}hi bob`);
      await screen.press("C-u");
      await screen.type("/whoi");
      await screen.press("Tab");
      await screen.waitFor("/whois completed", (lines) => lastLine(lines) === `${PROMPT}/whois`);
      await screen.press("C-u");
      await screen.waitFor("an empty input line", (lines) => lastLine(lines) === PROMPT.trimEnd());
    });

    await t.step("a changed key shows ⚠ in the prompt until /trust", async () => {
      // bob comes back with a new certificate, so a new key: alice must be warned.
      const newBob = await ChatPeer.join(fx, "bob");
      peers.push(newBob);
      const lines = await screen.waitFor(
        "the key-change warning and ⚠ in the prompt",
        (lines) =>
          lines.some((line) =>
            line.includes("WARNING: a device key of bob that you do not accept: bob/main")
          ) &&
          lastLine(lines) === "[lobby ⚠ 2]>" && lines,
      );
      assertStringIncludes(lines.join("\n"), "/trust bob");
      // alice compares the fingerprint with bob out of band, then accepts exactly that key.
      const fingerprint = newBob.client.identity.keyFingerprint;
      await screen.type(`/trust bob ${fingerprint.slice(0, 23)}`);
      await screen.press("Enter");
      await screen.waitFor(
        "the lock back after /trust",
        (lines) =>
          lines.some((line) => line.includes("you now accept bob/main")) &&
          lastLine(lines) === PROMPT.trimEnd(),
      );
    });

    await t.step("no colour under NO_COLOR", async () => {
      const raw = await screen.tmux("capture-pane", "-p", "-e", "-t", screen.target);
      // deno-lint-ignore no-control-regex
      assert(!/\x1b\[[0-9;]*m/.test(raw), `colour codes on screen: ${JSON.stringify(raw)}`);
    });

    await t.step("/quit exits 0, clears the prompt and shows the cursor", async () => {
      await screen.type("/quit");
      await screen.press("Enter");
      const lines = await screen.waitFor(
        "the exit code",
        (lines) => lines.includes("exit=0") && lines,
      );
      assert(!lines.some((line) => line.startsWith("[lobby")), "the prompt was cleared");
      assertEquals((await screen.cursor()).visible, true);
    });
  } finally {
    await tmux?.kill();
    for (const peer of peers) await peer.close().catch(() => {});
    await fx.close();
    await Deno.remove(configDir, { recursive: true }).catch(() => {});
  }
});

Deno.test("the chat screen gives the terminal back (cooked mode) before the process exits, after Ctrl-C", async () => {
  await requireTool("tmux", ["-V"]);
  await requireTool("stty", ["--version"]);
  const fx = await startServer();
  const configDir = await Deno.makeTempDir({ prefix: "openchat-tty-" });
  let tmux: TmuxSession | undefined;
  try {
    const aliceFile = await fx.identityFile(await fx.issue("alice"));
    tmux = await TmuxSession.start({
      command: [
        Deno.execPath(),
        "run",
        "--allow-all",
        "--quiet",
        HARNESS,
        String(fx.port),
        aliceFile,
        configDir,
      ],
      after: `echo "exit=$?";`,
      columns: COLUMNS,
      rows: ROWS,
      cwd: REPO,
      env: { NO_COLOR: "1", LANG: "C.UTF-8" },
    });
    const screen = tmux;
    await screen.waitFor("the prompt", (lines) => lastLine(lines) === "[lobby 🔒 1]>");
    await screen.type("unsent draft");
    await screen.press("C-c");
    const lines = await screen.waitFor(
      "the harness report",
      (lines) => lines.includes("exit=0") && lines,
    );
    const report = lines.find((line) => line.startsWith("harness: "));
    assertEquals(report, "harness: code=0 modes=echo,icanon,icrnl,isig,opost", lines.join("\n"));
    const drafts = lines.filter((line) => line.includes("unsent draft"));
    assertEquals(drafts.length, 1, lines.join("\n"));
    // Left on the screen, not wiped; the prompt says the connection is closed.
    assertMatch(drafts[0]!, /^\[lobby … 1\]> unsent draft$/);
    assertEquals((await screen.cursor()).visible, true);
  } finally {
    await tmux?.kill();
    await fx.close();
    await Deno.remove(configDir, { recursive: true }).catch(() => {});
  }
});
