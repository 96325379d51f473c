import { assertEquals } from "../../tests/support/assert.ts";
import { COMMAND_HELP, parseCommandLine } from "./command_line.ts";
import { COMMAND_NAMES } from "./types.ts";

Deno.test("parseCommandLine() reads every moderation command", () => {
  const cases: [string, unknown][] = [
    ["/kick bob", { command: "kick", target: "bob" }],
    ["/kick bob  spamming   links ", {
      command: "kick",
      target: "bob",
      reason: "spamming   links",
    }],
    ["/ban bob", { command: "ban", target: "bob" }],
    ["/ban bob 2h", { command: "ban", target: "bob", durationMs: 7_200_000 }],
    ["/ban bob 7d spam", {
      command: "ban",
      target: "bob",
      durationMs: 604_800_000,
      reason: "spam",
    }],
    ["/ban bob spam for days", { command: "ban", target: "bob", reason: "spam for days" }],
    ["/unban bob", { command: "unban", target: "bob" }],
    ["/banned", { command: "banned" }],
    ["/mute bob", { command: "mute", target: "bob" }],
    ["/mute bob 30s", { command: "mute", target: "bob", durationMs: 30_000 }],
    ["/unmute bob", { command: "unmute", target: "bob" }],
    ["/op bob", { command: "op", target: "bob" }],
    ["/deop bob", { command: "deop", target: "bob" }],
    ["/voice bob", { command: "voice", target: "bob" }],
    ["/devoice bob", { command: "devoice", target: "bob" }],
    ["/topic", { command: "topic" }],
    ["/topic   Be kind, be brief ", { command: "topic", text: "Be kind, be brief" }],
    ["/mode", { command: "mode" }],
    ["/mode +i-m", { command: "mode", changes: "+i-m" }],
    ["/invite frank", { command: "invite", target: "frank" }],
    ["/motd", { command: "motd" }],
  ];
  for (const [line, command] of cases) assertEquals(parseCommandLine(line), command, line);
});

Deno.test("parseCommandLine() returns null for what is not a moderation command", () => {
  for (const line of ["hello", "/join lobby", "/msg bob hi", "/", "", "kick bob", "/KICK bob"]) {
    assertEquals(parseCommandLine(line), null, line);
  }
});

Deno.test("parseCommandLine() refuses missing or extra arguments with the usage", () => {
  const cases: [string, string][] = [
    ["/kick", "Usage: /kick NAME [REASON]"],
    ["/ban", "Usage: /ban NAME [DURATION] [REASON]"],
    ["/op", "Usage: /op NAME"],
    ["/op bob carol", "Usage: /op NAME"],
    ["/mute bob 10m now", "Usage: /mute NAME [DURATION]"],
    ["/mode +i +m", "Usage: /mode [+|-][imt]"],
    ["/banned bob", "Usage: /banned"],
    ["/motd please", "Usage: /motd"],
  ];
  for (const [line, message] of cases) {
    assertEquals(parseCommandLine(line), { ok: false, code: "bad_command", message }, line);
  }
});

Deno.test("parseCommandLine() refuses a word meant as a duration that is not one", () => {
  for (
    const line of ["/ban bob 10", "/ban bob 5y spam", "/ban bob 0s", "/mute bob 10", "/mute bob x"]
  ) {
    const result = parseCommandLine(line);
    assertEquals(result && "code" in result ? result.code : undefined, "bad_duration", line);
  }
});

Deno.test("COMMAND_HELP has a record for every command", () => {
  assertEquals(Object.keys(COMMAND_HELP).sort(), [...COMMAND_NAMES].sort());
});
