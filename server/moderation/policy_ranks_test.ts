import { assertEquals, assertThrows } from "../../tests/support/assert.ts";
import { MAX_REASON_CHARS, MAX_TOPIC_CHARS } from "../store/mod.ts";
import { ModerationPolicy } from "./policy.ts";
import { accepted, fixture, refused, refusedUnchanged, T0, withFixture } from "./_test_support.ts";
import type { ModerationCommand } from "./types.ts";

/** Commands that act on `target`, with what each needs from its actor. */
const onTarget = (target: string): ModerationCommand[] => [
  { command: "kick", target },
  { command: "ban", target },
  { command: "mute", target },
  { command: "voice", target },
  { command: "devoice", target },
  { command: "unban", target },
  { command: "unmute", target },
];

Deno.test(
  "apply() nobody but an administrator can act on the room's owner",
  withFixture(async (f) => {
    for (const command of onTarget("alice")) {
      await refusedUnchanged(f, "carol", command, "cannot_act_on_owner");
    }
    // A second owner cannot act on the first either.
    await f.store.moderation.setRole("lobby", "bob", "owner");
    for (const command of [...onTarget("alice"), { command: "deop", target: "alice" } as const]) {
      await refusedUnchanged(f, "bob", command, "cannot_act_on_owner");
    }
    // An administrator can.
    accepted(await f.policy.apply("root", "lobby", { command: "kick", target: "alice" }));
    accepted(await f.policy.apply("root", "lobby", { command: "ban", target: "alice" }));
    refused(await f.policy.canJoin("alice", "lobby"), "banned");
    // And only an administrator can lift that ban.
    await refusedUnchanged(f, "bob", { command: "unban", target: "alice" }, "cannot_act_on_owner");
    accepted(await f.policy.apply("toor", "lobby", { command: "unban", target: "alice" }));
  }),
);

Deno.test(
  "apply() operators cannot act on other operators; owners can",
  withFixture(async (f) => {
    await f.store.moderation.setRole("lobby", "erin", "operator");
    for (const command of onTarget("erin")) {
      await refusedUnchanged(f, "carol", command, "cannot_act_on_operator");
    }
    accepted(await f.policy.apply("alice", "lobby", { command: "mute", target: "erin" }));
    accepted(await f.policy.apply("alice", "lobby", { command: "kick", target: "erin" }));
  }),
);

Deno.test(
  "apply() only another administrator can act on an administrator",
  withFixture(async (f) => {
    await f.store.members.join("lobby", "root", T0);
    await f.store.members.join("lobby", "toor", T0);
    for (const actor of ["alice", "carol"]) {
      for (const command of onTarget("root")) {
        await refusedUnchanged(f, actor, command, "cannot_act_on_admin");
      }
    }
    accepted(await f.policy.apply("toor", "lobby", { command: "mute", target: "root" }));
    refused(await f.policy.canSpeak("root", "lobby"), "muted");
    accepted(await f.policy.apply("toor", "lobby", { command: "kick", target: "root" }));
  }),
);

Deno.test(
  "apply() nobody can act on themselves",
  withFixture(async (f) => {
    for (const command of onTarget("carol")) {
      await refusedUnchanged(f, "carol", command, "cannot_act_on_self");
    }
    await refusedUnchanged(f, "alice", { command: "deop", target: "alice" }, "cannot_act_on_self");
    await refusedUnchanged(f, "root", { command: "ban", target: "root" }, "cannot_act_on_self");
  }),
);

Deno.test(
  "apply() kick, mute, op and voice need the target to be a member",
  withFixture(async (f) => {
    for (
      const command of [
        { command: "kick", target: "frank" },
        { command: "mute", target: "frank" },
        { command: "voice", target: "frank" },
      ] as const
    ) {
      await refusedUnchanged(f, "carol", command, "no_such_member");
    }
    await refusedUnchanged(f, "alice", { command: "op", target: "frank" }, "no_such_member");
  }),
);

Deno.test(
  "setAdmins() changes the administrators at runtime; a bad name changes nothing",
  withFixture(async (f) => {
    await f.store.members.join("lobby", "root", T0);
    f.policy.setAdmins(["bob"]);
    assertEquals([...f.policy.admins], ["bob"]);
    assertEquals(await f.policy.roleOf("bob", "lobby"), "admin");
    assertEquals(await f.policy.roleOf("root", "lobby"), "member");
    accepted(await f.policy.apply("bob", "lobby", { command: "kick", target: "alice" }));
    refused(
      await f.policy.apply("root", "lobby", { command: "kick", target: "erin" }),
      "not_operator",
    );
    assertThrows(() => f.policy.setAdmins(["carol", "Bad Name"]), TypeError, '"Bad Name"');
    assertEquals([...f.policy.admins], ["bob"]);
  }),
);

Deno.test("new ModerationPolicy() refuses bad administrators and limits", async () => {
  const f = await fixture();
  try {
    const make = (options: object) => () => new ModerationPolicy({ store: f.store, ...options });
    assertThrows(make({ admins: ["../root"] }), TypeError);
    for (
      const limits of [
        { maxReasonLength: 0 },
        { maxReasonLength: MAX_REASON_CHARS + 1 },
        { maxTopicLength: MAX_TOPIC_CHARS + 1 },
        { maxTopicLength: 1.5 },
        { inviteLifetimeMs: -1 },
      ]
    ) {
      assertThrows(make({ limits }), RangeError, "received");
    }
    // At the store's own bounds is fine.
    make({ limits: { maxReasonLength: MAX_REASON_CHARS, maxTopicLength: MAX_TOPIC_CHARS } })();
  } finally {
    await f.dispose();
  }
});

Deno.test(
  "who() lists every member with its role and whether it is muted",
  withFixture(async (f) => {
    await f.store.members.join("lobby", "root", T0);
    accepted(await f.policy.apply("carol", "lobby", { command: "mute", target: "erin" }));
    const who = await f.policy.who("lobby");
    assertEquals(who, {
      ok: true,
      members: [
        { user: "alice", role: "owner", muted: false },
        { user: "bob", role: "member", muted: false },
        { user: "carol", role: "operator", muted: false },
        { user: "dave", role: "voiced", muted: false },
        { user: "erin", role: "member", muted: true },
        { user: "root", role: "admin", muted: false },
      ],
    });
    refused(await f.policy.who("nowhere"), "no_such_room");
  }),
);

Deno.test(
  "onCreate() makes the creator the owner once; a second creator changes nothing",
  withFixture(async (f) => {
    assertEquals(await f.policy.onCreate("den", "bob"), true);
    assertEquals(await f.policy.roleOf("bob", "den"), "owner");
    assertEquals(await f.policy.onCreate("den", "erin"), false);
    assertEquals(await f.policy.roleOf("erin", "den"), "member");
    assertEquals((await f.store.rooms.get("den"))?.createdBy, "bob");
  }),
);
