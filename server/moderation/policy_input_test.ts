import { assert, assertEquals } from "../../tests/support/assert.ts";
import { MAX_DURATION_MS, MIN_DURATION_MS } from "../../protocol/duration.ts";
import { MAX_LIST_ENTRIES, MAX_REASON_CHARS, MAX_TOPIC_CHARS } from "../store/mod.ts";
import { parseCommandLine } from "../../protocol/moderation/command_line.ts";
import { MAX_REASON_LENGTH, MAX_TOPIC_LENGTH } from "../../protocol/moderation/limits.ts";
import {
  accepted,
  type Fixture,
  refused,
  refusedUnchanged,
  snapshot,
  T0,
  withFixture,
} from "./_test_support.ts";
import type { ModerationCommand } from "./types.ts";

/** Reads `line` as a user would type it and applies it as carol; returns the refusal code. */
async function typed(f: Fixture, line: string): Promise<string> {
  const before = await snapshot(f.store);
  const parsed = parseCommandLine(line);
  assert(parsed !== null, line);
  const decision = "ok" in parsed ? parsed : await f.policy.apply("carol", "lobby", parsed);
  assert(!decision.ok, `${line} was accepted`);
  assertEquals(await snapshot(f.store), before, `${line} changed the store`);
  return decision.code;
}

Deno.test("MAX_REASON_LENGTH and MAX_TOPIC_LENGTH sit within the store's own bounds", () => {
  assertEquals(MAX_REASON_LENGTH, 200);
  assertEquals(MAX_TOPIC_LENGTH, 300);
  assert(MAX_REASON_LENGTH <= MAX_REASON_CHARS);
  assert(MAX_TOPIC_LENGTH <= MAX_TOPIC_CHARS);
});

Deno.test(
  "apply() refuses a bad mode change as bad_mode, changing nothing",
  withFixture(async (f) => {
    await f.store.rooms.setModes("lobby", "t");
    const bad = [
      "",
      "+",
      "-",
      "i",
      "+x",
      "+ix",
      "++i",
      "+i+",
      "+-i",
      "+ii",
      "+i-i",
      "+I",
      " +i",
      "+i ",
      "+i m",
      "+i\u0000",
      "+".repeat(10_000),
      "+im" + "t".repeat(10_000),
    ];
    for (const changes of bad) {
      await refusedUnchanged(f, "carol", { command: "mode", changes }, "bad_mode");
    }
    for (const changes of [7, null, ["+i"]]) {
      await refusedUnchanged(f, "carol", { command: "mode", changes } as never, "bad_mode");
    }
    const refusal = await refusedUnchanged(
      f,
      "carol",
      { command: "mode", changes: "+x" },
      "bad_mode",
    );
    assert(refusal.message.includes('unknown mode letter "x"'), refusal.message);
    assert(refusal.message.includes('(received "+x")'), refusal.message);
  }),
);

Deno.test(
  "apply() refuses a bad duration as bad_duration, changing nothing",
  withFixture(async (f) => {
    const bad: unknown[] = [
      0,
      -1_000,
      MIN_DURATION_MS - 1,
      MAX_DURATION_MS + 1,
      1_500.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      "10m",
      null,
    ];
    for (const durationMs of bad) {
      for (const command of ["ban", "mute"] as const) {
        await refusedUnchanged(
          f,
          "carol",
          { command, target: "erin", durationMs } as ModerationCommand,
          "bad_duration",
        );
      }
    }
    // At the edges it is accepted.
    for (const durationMs of [MIN_DURATION_MS, MAX_DURATION_MS]) {
      const effects = accepted(
        await f.policy.apply("carol", "lobby", { command: "mute", target: "erin", durationMs }),
      );
      assertEquals(
        effects?.event && "until" in effects.event ? effects.event.until : 0,
        T0 + durationMs,
      );
    }
  }),
);

Deno.test(
  "a typed bad duration (10, 5y, 0s, 366d) is refused as bad_duration, changing nothing",
  withFixture(async (f) => {
    for (
      const line of [
        "/ban erin 10",
        "/ban erin 5y spam",
        "/ban erin 0s",
        "/ban erin 366d",
        "/ban erin 1.5h",
        "/mute erin 10",
        "/mute erin 5y",
        "/mute erin 0s",
        "/mute erin soon",
      ]
    ) {
      assertEquals(await typed(f, line), "bad_duration", line);
    }
    for (const line of ["/mode +x", "/mode ++i", "/mode i"]) {
      assertEquals(await typed(f, line), "bad_mode", line);
    }
    for (const line of ["/kick", "/ban", "/mute erin 10m loud", "/op", "/op a b", "/banned x"]) {
      assertEquals(await typed(f, line), "bad_command", line);
    }
    assertEquals(await typed(f, "/kick Erin"), "bad_target");
  }),
);

Deno.test(
  "apply() takes a reason of MAX_REASON_LENGTH and refuses one longer as reason_too_long",
  withFixture(async (f) => {
    const longest = "r".repeat(MAX_REASON_LENGTH);
    for (const command of ["kick", "ban"] as const) {
      await refusedUnchanged(
        f,
        "carol",
        { command, target: "erin", reason: longest + "r" },
        "reason_too_long",
      );
    }
    // Surrounding blanks do not count.
    const effects = accepted(
      await f.policy.apply("carol", "lobby", {
        command: "ban",
        target: "erin",
        reason: ` ${longest} `,
      }),
    );
    assertEquals(effects?.event && "reason" in effects.event ? effects.event.reason : "", longest);
    accepted(
      await f.policy.apply("carol", "lobby", { command: "kick", target: "bob", reason: longest }),
    );
  }),
);

Deno.test(
  "apply() takes a topic of MAX_TOPIC_LENGTH and refuses one longer as topic_too_long",
  withFixture(async (f) => {
    const longest = "t".repeat(MAX_TOPIC_LENGTH);
    await refusedUnchanged(f, "carol", { command: "topic", text: longest + "t" }, "topic_too_long");
    accepted(await f.policy.apply("carol", "lobby", { command: "topic", text: longest }));
    assertEquals((await f.store.rooms.get("lobby"))?.topic, longest);
  }),
);

Deno.test(
  "apply() refuses control characters in a reason or topic as bad_text",
  withFixture(async (f) => {
    for (const text of ["\u001b[2J", "line\nbreak", "bell\u0007", "\u009b31m", "tab\there"]) {
      await refusedUnchanged(f, "carol", { command: "topic", text }, "bad_text");
      await refusedUnchanged(
        f,
        "carol",
        { command: "kick", target: "erin", reason: text },
        "bad_text",
      );
      await refusedUnchanged(
        f,
        "carol",
        { command: "ban", target: "erin", reason: text },
        "bad_text",
      );
    }
    for (const reason of [42, null, {}]) {
      await refusedUnchanged(
        f,
        "carol",
        { command: "kick", target: "erin", reason } as never,
        "bad_command",
      );
    }
  }),
);

Deno.test(
  "apply() refuses a target that is not a user name as bad_target",
  withFixture(async (f) => {
    for (const target of ["", "Erin", "../erin", "erin/laptop", "e".repeat(33), 42, undefined]) {
      for (const command of ["kick", "ban", "mute", "unban", "invite", "voice"] as const) {
        await refusedUnchanged(f, "carol", { command, target } as ModerationCommand, "bad_target");
      }
      await refusedUnchanged(
        f,
        "alice",
        { command: "op", target } as ModerationCommand,
        "bad_target",
      );
    }
  }),
);

Deno.test(
  "apply() refuses an unknown command as bad_command",
  withFixture(async (f) => {
    for (
      const command of [
        { command: "nuke" },
        { command: "__proto__" },
        { command: "constructor" },
        { command: "toString" },
        {},
        null,
        "kick",
      ]
    ) {
      await refusedUnchanged(f, "root", command as never, "bad_command");
    }
  }),
);

Deno.test(
  "apply() enforces tighter limits given to the policy, at and past their edge",
  withFixture(async (f) => {
    await refusedUnchanged(
      f,
      "carol",
      { command: "kick", target: "erin", reason: "123456" },
      "reason_too_long",
    );
    await refusedUnchanged(f, "carol", { command: "topic", text: "12345678" }, "topic_too_long");
    accepted(await f.policy.apply("carol", "lobby", { command: "topic", text: "1234567" }));
    accepted(
      await f.policy.apply("carol", "lobby", { command: "kick", target: "erin", reason: "12345" }),
    );
  }, { limits: { maxReasonLength: 5, maxTopicLength: 7 } }),
);

Deno.test(
  "apply() a full ban list is refused as list_full, changing nothing",
  withFixture(async (f) => {
    // Filled through the store: quicker than a thousand bans through the policy.
    for (let i = 0; i < MAX_LIST_ENTRIES; i++) {
      await f.store.moderation.putListEntry("lobby", "ban", `u${i}`, {
        by: "alice",
        reason: "",
        at: T0,
        until: null,
      });
    }
    await refusedUnchanged(f, "carol", { command: "ban", target: "erin" }, "list_full");
    refused(await f.policy.canJoin("u0", "lobby"), "banned");
  }),
);
