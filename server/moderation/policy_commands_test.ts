import { assert, assertEquals } from "../../tests/support/assert.ts";
import { INVITE_LIFETIME_MS } from "../../protocol/moderation/limits.ts";
import {
  accepted,
  type Fixture,
  fixture,
  refused,
  refusedUnchanged,
  snapshot,
  T0,
  withFixture,
} from "./_test_support.ts";
import type { Effects, ModerationCommand } from "./types.ts";

const HOUR = 3_600_000;

/** One command, the least standing that may give it, how to prepare for it, and what it did. */
interface Case {
  command: ModerationCommand;
  /** Who may give it: operators and up, or owners and up. */
  needs: "operator" | "owner";
  /** The code a plain member is refused with, when it is not the one `needs` implies. */
  memberCode?: string;
  setup?: (f: Fixture) => Promise<void>;
  check: (f: Fixture, effects: Effects, actor: string) => Promise<void>;
}

const banErin = (f: Fixture) =>
  f.store.moderation.putListEntry("lobby", "ban", "erin", {
    by: "alice",
    reason: "spam",
    at: T0,
    until: null,
  });

const CASES: readonly Case[] = [
  {
    command: { command: "kick", target: "erin", reason: "spam" },
    needs: "operator",
    async check(f, effects, actor) {
      assertEquals(effects.remove, ["erin"]);
      assertEquals(effects.event, {
        action: "kick",
        room: "lobby",
        actor,
        ts: T0,
        target: "erin",
        reason: "spam",
      });
      assertEquals(await f.store.members.isMember("lobby", "erin"), false);
      accepted(await f.policy.canJoin("erin", "lobby"), "a kicked user joining again");
    },
  },
  {
    command: { command: "ban", target: "erin", durationMs: 2 * HOUR, reason: "spam" },
    needs: "operator",
    async check(f, effects, actor) {
      assertEquals(effects.remove, ["erin"]);
      assertEquals(effects.event, {
        action: "ban",
        room: "lobby",
        actor,
        ts: T0,
        target: "erin",
        until: T0 + 2 * HOUR,
        reason: "spam",
      });
      assertEquals(await f.store.members.isMember("lobby", "erin"), false);
      const refusal = refused(await f.policy.canJoin("erin", "lobby"), "banned");
      assertEquals(refusal.until, T0 + 2 * HOUR);
    },
  },
  {
    command: { command: "unban", target: "erin" },
    needs: "operator",
    setup: banErin,
    async check(f, effects, actor) {
      assertEquals(effects.event, {
        action: "unban",
        room: "lobby",
        actor,
        ts: T0,
        target: "erin",
      });
      accepted(await f.policy.canJoin("erin", "lobby"));
    },
  },
  {
    command: { command: "banned" },
    needs: "operator",
    setup: banErin,
    check(_f, effects) {
      assertEquals(effects.event, null);
      assertEquals(effects.reply, {
        kind: "banned",
        room: "lobby",
        bans: [{ user: "erin", by: "alice", reason: "spam", at: T0, until: null }],
      });
      return Promise.resolve();
    },
  },
  {
    command: { command: "mute", target: "erin", durationMs: 10 * 60_000 },
    needs: "operator",
    async check(f, effects, actor) {
      assertEquals(effects.remove, []);
      assertEquals(effects.event, {
        action: "mute",
        room: "lobby",
        actor,
        ts: T0,
        target: "erin",
        until: T0 + 10 * 60_000,
      });
      refused(await f.policy.canSpeak("erin", "lobby"), "muted");
      assertEquals(await f.store.members.isMember("lobby", "erin"), true);
    },
  },
  {
    command: { command: "unmute", target: "erin" },
    needs: "operator",
    setup: (f) =>
      f.store.moderation.putListEntry("lobby", "mute", "erin", {
        by: "alice",
        reason: "",
        at: T0,
        until: null,
      }),
    async check(f, effects, actor) {
      assertEquals(effects.event, {
        action: "unmute",
        room: "lobby",
        actor,
        ts: T0,
        target: "erin",
      });
      accepted(await f.policy.canSpeak("erin", "lobby"));
    },
  },
  {
    command: { command: "op", target: "erin" },
    needs: "owner",
    async check(f, effects, actor) {
      assertEquals(effects.event, { action: "op", room: "lobby", actor, ts: T0, target: "erin" });
      assertEquals(await f.policy.roleOf("erin", "lobby"), "operator");
    },
  },
  {
    command: { command: "deop", target: "carol" },
    needs: "owner",
    async check(f, effects, actor) {
      assertEquals(effects.event, {
        action: "deop",
        room: "lobby",
        actor,
        ts: T0,
        target: "carol",
      });
      assertEquals(await f.policy.roleOf("carol", "lobby"), "member");
    },
  },
  {
    command: { command: "voice", target: "erin" },
    needs: "operator",
    async check(f, effects, actor) {
      assertEquals(effects.event, {
        action: "voice",
        room: "lobby",
        actor,
        ts: T0,
        target: "erin",
      });
      assertEquals(await f.policy.roleOf("erin", "lobby"), "voiced");
    },
  },
  {
    command: { command: "devoice", target: "dave" },
    needs: "operator",
    async check(f, effects, actor) {
      assertEquals(effects.event, {
        action: "devoice",
        room: "lobby",
        actor,
        ts: T0,
        target: "dave",
      });
      assertEquals(await f.policy.roleOf("dave", "lobby"), "member");
    },
  },
  {
    command: { command: "topic", text: "  Be kind  " },
    needs: "operator",
    memberCode: "topic_protected",
    // Only operators set the topic of a +t room.
    setup: async (f) => void await f.store.rooms.setModes("lobby", "t"),
    async check(f, effects, actor) {
      assertEquals(effects.event, {
        action: "topic",
        room: "lobby",
        actor,
        ts: T0,
        topic: "Be kind",
      });
      assertEquals((await f.store.rooms.get("lobby"))?.topic, "Be kind");
    },
  },
  {
    command: { command: "mode", changes: "+it" },
    needs: "operator",
    async check(f, effects, actor) {
      assertEquals(effects.event, {
        action: "mode",
        room: "lobby",
        actor,
        ts: T0,
        modes: "it",
        changes: "+it",
      });
      assertEquals((await f.store.rooms.get("lobby"))?.modes, "it");
    },
  },
  {
    command: { command: "invite", target: "frank" },
    needs: "operator",
    setup: async (f) => void await f.store.rooms.setModes("lobby", "i"),
    async check(f, effects, actor) {
      const until = T0 + INVITE_LIFETIME_MS;
      assertEquals(effects.event, {
        action: "invite",
        room: "lobby",
        actor,
        ts: T0,
        target: "frank",
        until,
      });
      assertEquals(effects.notify, ["frank"]);
      accepted(await f.policy.canJoin("frank", "lobby"));
    },
  },
];

/** The actors who may give a command needing `needs`, and the code a member is refused with. */
const ACTORS = {
  operator: { allowed: ["carol", "alice", "root"], refusedAs: "not_operator" },
  owner: { allowed: ["alice", "root"], refusedAs: "not_owner" },
} as const;

for (const c of CASES) {
  const { allowed, refusedAs } = ACTORS[c.needs];
  Deno.test(`apply() ${c.command.command} works for ${allowed.join(", ")}`, async () => {
    for (const actor of allowed) {
      const f = await fixture();
      try {
        await c.setup?.(f);
        const effects = accepted(await f.policy.apply(actor, "lobby", c.command), actor)!;
        if (effects.event) {
          assertEquals(effects.reply, { kind: "done", event: effects.event });
        }
        await c.check(f, effects, actor);
      } finally {
        await f.dispose();
      }
    }
  });

  Deno.test(
    `apply() ${c.command.command} is refused for a plain member as ${
      c.memberCode ?? refusedAs
    }, changing nothing`,
    withFixture(async (f) => {
      await c.setup?.(f);
      await refusedUnchanged(f, "bob", c.command, c.memberCode ?? refusedAs);
      // A voiced member has no authority either.
      await refusedUnchanged(f, "dave", c.command, c.memberCode ?? refusedAs);
    }),
  );
}

Deno.test(
  "apply() op and deop are refused for an operator as not_owner",
  withFixture(async (f) => {
    await refusedUnchanged(f, "carol", { command: "op", target: "erin" }, "not_owner");
    await refusedUnchanged(f, "carol", { command: "deop", target: "carol" }, "not_owner");
  }),
);

Deno.test(
  "apply() topic in a -t room can be set by any member",
  withFixture(async (f) => {
    const effects = accepted(
      await f.policy.apply("bob", "lobby", { command: "topic", text: "hi" }),
    );
    assertEquals(effects?.event, {
      action: "topic",
      room: "lobby",
      actor: "bob",
      ts: T0,
      topic: "hi",
    });
    // And cleared by blank text.
    accepted(await f.policy.apply("erin", "lobby", { command: "topic", text: "  " }));
    assertEquals((await f.store.rooms.get("lobby"))?.topic, "");
  }),
);

Deno.test(
  "apply() shows the topic, modes and motd to any member without changing anything",
  withFixture(async (f) => {
    await f.store.rooms.setTopic("lobby", "Be kind");
    await f.store.rooms.setModes("lobby", "mt");
    const before = await snapshot(f.store);
    const show = async (command: ModerationCommand) =>
      accepted(await f.policy.apply("bob", "lobby", command))!;
    const topic = await show({ command: "topic" });
    assertEquals(topic.reply, { kind: "topic", room: "lobby", topic: "Be kind", modes: "mt" });
    assertEquals(topic.event, null);
    assertEquals((await show({ command: "mode" })).reply, {
      kind: "modes",
      room: "lobby",
      modes: "mt",
    });
    assertEquals((await show({ command: "motd" })).reply, { kind: "motd", text: null });
    assertEquals(await snapshot(f.store), before);
  }),
);

Deno.test("apply() motd answers the server's message of the day to anyone, in any room", async () => {
  const f = await fixture({ motd: "Welcome to openchat" });
  try {
    for (const [actor, room] of [["frank", "lobby"], ["bob", "nowhere"]]) {
      const effects = accepted(await f.policy.apply(actor!, room!, { command: "motd" }))!;
      assertEquals(effects.reply, { kind: "motd", text: "Welcome to openchat" });
    }
    f.policy.setMotd("");
    const effects = accepted(await f.policy.apply("bob", "lobby", { command: "motd" }))!;
    assertEquals(effects.reply, { kind: "motd", text: null });
  } finally {
    await f.dispose();
  }
});

Deno.test(
  "apply() refuses a non-member (but not an administrator) as not_in_room",
  withFixture(async (f) => {
    await refusedUnchanged(f, "frank", { command: "topic" }, "not_in_room");
    await f.store.moderation.setRole("lobby", "frank", "operator");
    // An operator who left keeps the role but must come back to use it.
    await refusedUnchanged(f, "frank", { command: "kick", target: "bob" }, "not_in_room");
    accepted(await f.policy.apply("root", "lobby", { command: "kick", target: "bob" }));
  }),
);

Deno.test(
  "apply() refuses a room that does not exist as no_such_room",
  withFixture(async (f) => {
    for (const room of ["nowhere", "Bad Room", ""]) {
      refused(await f.policy.apply("root", room, { command: "topic" }), "no_such_room", room);
    }
  }),
);

Deno.test(
  "apply() ban of someone who is not a member keeps them out of the room",
  withFixture(async (f) => {
    const effects = accepted(
      await f.policy.apply("carol", "lobby", { command: "ban", target: "frank" }),
    )!;
    assertEquals(effects.event, {
      action: "ban",
      room: "lobby",
      actor: "carol",
      ts: T0,
      target: "frank",
      until: null,
    });
    assertEquals(effects.remove, ["frank"]);
    refused(await f.policy.canJoin("frank", "lobby"), "banned");
  }),
);

Deno.test(
  "apply() kick and ban end every device's interval, so nothing sent afterwards is readable",
  withFixture(async (f) => {
    const entry = {
      senderUser: "alice",
      senderDevice: "laptop",
      senderSession: "c2Vzc2lvbg",
      version: 1,
      ts: T0,
      payload: "c2VhbGVk",
    };
    for (const device of ["bob/laptop", "bob/phone", "erin/laptop"]) {
      await f.store.log.openInterval("lobby", device);
    }
    await f.store.log.append("lobby", entry);
    accepted(await f.policy.apply("carol", "lobby", { command: "kick", target: "bob" }));
    accepted(await f.policy.apply("carol", "lobby", { command: "ban", target: "erin" }));
    const after = await f.store.log.append("lobby", entry);
    for (const device of ["bob/laptop", "bob/phone", "erin/laptop"]) {
      const page = await f.store.log.readForDevice("lobby", device, 0, 100);
      assertEquals(page.entries.map((e) => e.seq), [1], device);
      assert(!page.entries.some((e) => e.seq === after));
    }
  }),
);

Deno.test(
  "apply() a second ban replaces the first's duration and reason",
  withFixture(async (f) => {
    accepted(
      await f.policy.apply("carol", "lobby", { command: "ban", target: "erin", reason: "a" }),
    );
    accepted(
      await f.policy.apply("carol", "lobby", {
        command: "ban",
        target: "erin",
        durationMs: HOUR,
        reason: "b",
      }),
    );
    const effects = accepted(await f.policy.apply("carol", "lobby", { command: "banned" }))!;
    assertEquals(effects.reply, {
      kind: "banned",
      room: "lobby",
      bans: [{ user: "erin", by: "carol", reason: "b", at: T0, until: T0 + HOUR }],
    });
  }),
);

Deno.test(
  "apply() refuses what is already so as no_change, changing nothing",
  withFixture(async (f) => {
    await f.store.rooms.setModes("lobby", "i");
    await f.store.rooms.setTopic("lobby", "same");
    await f.store.members.join("lobby", "toor", T0);
    const cases: [string, ModerationCommand][] = [
      ["carol", { command: "unban", target: "erin" }],
      ["carol", { command: "unmute", target: "erin" }],
      ["alice", { command: "op", target: "carol" }],
      ["alice", { command: "deop", target: "erin" }],
      ["carol", { command: "voice", target: "dave" }],
      ["alice", { command: "voice", target: "carol" }],
      ["carol", { command: "devoice", target: "erin" }],
      ["carol", { command: "mode", changes: "+i" }],
      ["carol", { command: "mode", changes: "-mt" }],
      ["carol", { command: "topic", text: "same" }],
      ["carol", { command: "invite", target: "bob" }],
      ["root", { command: "op", target: "alice" }],
      ["root", { command: "deop", target: "alice" }],
      ["root", { command: "voice", target: "toor" }],
    ];
    for (const [actor, command] of cases) await refusedUnchanged(f, actor, command, "no_change");
  }),
);

Deno.test(
  "apply() an unban after the ban lifted by itself is no_change",
  withFixture(async (f) => {
    accepted(
      await f.policy.apply("carol", "lobby", { command: "ban", target: "erin", durationMs: 1_000 }),
    );
    f.clock.now = T0 + 1_000;
    await refusedUnchanged(f, "carol", { command: "unban", target: "erin" }, "no_change");
  }),
);

Deno.test(
  "apply() mode reports only what changed, and keeps the other letters",
  withFixture(async (f) => {
    await f.store.rooms.setModes("lobby", "m");
    const effects = accepted(
      await f.policy.apply("carol", "lobby", { command: "mode", changes: "+im-t" }),
    )!;
    assertEquals(effects.event, {
      action: "mode",
      room: "lobby",
      actor: "carol",
      ts: T0,
      modes: "im",
      changes: "+i",
    });
    const next = accepted(
      await f.policy.apply("carol", "lobby", { command: "mode", changes: "-m+t" }),
    )!;
    assertEquals(next.event && "changes" in next.event ? next.event.changes : "", "+t-m");
    assertEquals((await f.store.rooms.get("lobby"))?.modes, "it");
  }),
);

Deno.test(
  "apply() op replaces a voice; deop of an operator who left still works",
  withFixture(async (f) => {
    accepted(await f.policy.apply("alice", "lobby", { command: "op", target: "dave" }));
    assertEquals(await f.policy.roleOf("dave", "lobby"), "operator");
    await f.store.members.leave("lobby", "carol");
    accepted(await f.policy.apply("alice", "lobby", { command: "deop", target: "carol" }));
    assertEquals(await f.policy.roleOf("carol", "lobby"), "member");
    // Giving a role needs a member.
    refused(
      await f.policy.apply("alice", "lobby", { command: "op", target: "carol" }),
      "no_such_member",
    );
  }),
);
