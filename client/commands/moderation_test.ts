import { assertEquals, assertRejects } from "../../tests/support/assert.ts";
import type { ChatClient } from "../chat_client.ts";
import {
  MAX_MODERATION_TEXT_CHARS,
  MAX_TARGET_CHARS,
  type ModerationCommand,
} from "../../protocol/moderation/mod.ts";
import { type CommandContext, CommandError, commands } from "./mod.ts";

/** A context whose client records what it was asked to send. */
function recording(room: string | null = "lobby") {
  const sent: [string | undefined, ModerationCommand][] = [];
  const client = {
    moderate: (where: string | undefined, command: ModerationCommand) => {
      sent.push([where, command]);
    },
  } as unknown as ChatClient;
  const context: CommandContext = {
    client,
    currentRoom: () => room ?? undefined,
    setCurrentRoom: () => {},
    notice: () => {},
    quit: () => {},
  };
  return { sent, context };
}

Deno.test("moderation commands send what was typed, about the current room (none for /motd)", async () => {
  const { sent, context } = recording();
  for (
    const line of [
      "/kick bob spamming",
      "/ban bob 2h flooding",
      "/unban bob",
      "/banned",
      "/mute bob 10m",
      "/unmute bob",
      "/op carol",
      "/deop carol",
      "/voice dave",
      "/devoice dave",
      "/topic Be kind",
      "/topic",
      "/mode +im-t",
      "/mode",
      "/invite erin",
      "/motd",
    ]
  ) {
    await commands.execute(context, line);
  }
  assertEquals(sent, [
    ["lobby", { command: "kick", target: "bob", reason: "spamming" }],
    ["lobby", { command: "ban", target: "bob", durationMs: 7_200_000, reason: "flooding" }],
    ["lobby", { command: "unban", target: "bob" }],
    ["lobby", { command: "banned" }],
    ["lobby", { command: "mute", target: "bob", durationMs: 600_000 }],
    ["lobby", { command: "unmute", target: "bob" }],
    ["lobby", { command: "op", target: "carol" }],
    ["lobby", { command: "deop", target: "carol" }],
    ["lobby", { command: "voice", target: "dave" }],
    ["lobby", { command: "devoice", target: "dave" }],
    ["lobby", { command: "topic", text: "Be kind" }],
    ["lobby", { command: "topic" }],
    ["lobby", { command: "mode", changes: "+im-t" }],
    ["lobby", { command: "mode" }],
    ["lobby", { command: "invite", target: "erin" }],
    [undefined, { command: "motd" }],
  ]);
});

Deno.test("moderation commands refuse, with the server's code, what could not be sent, and send nothing", async () => {
  const { sent, context } = recording();
  const cases: [string, string][] = [
    ["/kick", "bad_command"],
    ["/mute bob 10m extra", "bad_command"],
    ["/ban bob 5y", "bad_duration"],
    ["/mute bob 0s", "bad_duration"],
    [`/topic ${"t".repeat(MAX_MODERATION_TEXT_CHARS)}`, "ok"],
    [`/topic ${"t".repeat(MAX_MODERATION_TEXT_CHARS + 1)}`, "topic_too_long"],
    [`/kick bob ${"r".repeat(MAX_MODERATION_TEXT_CHARS + 1)}`, "reason_too_long"],
    [`/kick ${"b".repeat(MAX_TARGET_CHARS + 1)}`, "bad_target"],
    ["/mode +iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii", "bad_mode"],
  ];
  for (const [line, code] of cases) {
    if (code === "ok") {
      await commands.execute(context, line);
      continue;
    }
    const error = await assertRejects(() => commands.execute(context, line), CommandError);
    assertEquals((error as CommandError).code, code, line);
  }
  assertEquals(sent.length, 1); // only the topic at the wire's edge
  const nowhere = recording(null);
  await assertRejects(() => commands.execute(nowhere.context, "/kick bob"), CommandError);
  await commands.execute(nowhere.context, "/motd");
  assertEquals(nowhere.sent, [[undefined, { command: "motd" }]]);
});
