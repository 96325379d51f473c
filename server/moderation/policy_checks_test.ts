import { assertEquals } from "../../tests/support/assert.ts";
import { SqliteStore } from "../store/mod.ts";
import { INVITE_LIFETIME_MS } from "../../protocol/moderation/limits.ts";
import { ModerationPolicy } from "./policy.ts";
import { accepted, ADMINS, refused, T0, withFixture } from "./_test_support.ts";

const HOUR = 3_600_000;

Deno.test(
  "canJoin() a timed ban lifts itself exactly at its end",
  withFixture(async (f) => {
    accepted(
      await f.policy.apply("carol", "lobby", {
        command: "ban",
        target: "erin",
        durationMs: 2 * HOUR,
        reason: "flooding",
      }),
    );
    f.clock.now = T0 + 2 * HOUR - 1;
    const refusal = refused(await f.policy.canJoin("erin", "lobby"), "banned");
    assertEquals(refusal.until, T0 + 2 * HOUR);
    assertEquals(
      refusal.message,
      "You are banned from lobby for 1s (until 2025-01-01T02:00:00.000Z): flooding",
    );
    f.clock.now = T0 + 2 * HOUR;
    accepted(await f.policy.canJoin("erin", "lobby"));
    // Lifted means gone from /banned too.
    const effects = accepted(await f.policy.apply("carol", "lobby", { command: "banned" }))!;
    assertEquals(effects.reply, { kind: "banned", room: "lobby", bans: [] });
  }),
);

Deno.test(
  "canSpeak() a timed mute lifts itself exactly at its end",
  withFixture(async (f) => {
    accepted(
      await f.policy.apply("carol", "lobby", {
        command: "mute",
        target: "erin",
        durationMs: 60_000,
      }),
    );
    refused(await f.policy.canSpeak("erin", "lobby"), "muted");
    f.clock.now = T0 + 60_000 - 1;
    assertEquals(refused(await f.policy.canSpeak("erin", "lobby"), "muted").until, T0 + 60_000);
    f.clock.now = T0 + 60_000;
    accepted(await f.policy.canSpeak("erin", "lobby"));
  }),
);

Deno.test(
  "canJoin() a ban survives a restart, and a timed one still lifts at its end afterwards",
  withFixture(async (f) => {
    accepted(await f.policy.apply("carol", "lobby", { command: "ban", target: "bob" }));
    accepted(
      await f.policy.apply("carol", "lobby", { command: "ban", target: "erin", durationMs: HOUR }),
    );
    accepted(await f.policy.apply("carol", "lobby", { command: "mute", target: "dave" }));
    await f.restart();
    const forever = refused(await f.policy.canJoin("bob", "lobby"), "banned");
    assertEquals(forever.until, null);
    assertEquals(forever.message, "You are banned from lobby for ever");
    refused(await f.policy.canJoin("erin", "lobby"), "banned");
    refused(await f.policy.canSpeak("dave", "lobby"), "muted");
    f.clock.now = T0 + HOUR;
    await f.restart();
    accepted(await f.policy.canJoin("erin", "lobby"));
    refused(await f.policy.canJoin("bob", "lobby"), "banned");
  }),
);

Deno.test(
  "canJoin() sees a ban made by another process at once",
  withFixture(async (f) => {
    const peer = await SqliteStore.open(f.path);
    try {
      const other = new ModerationPolicy({ store: peer, admins: ADMINS, clock: () => T0 });
      accepted(await other.apply("carol", "lobby", { command: "ban", target: "erin" }));
      refused(await f.policy.canJoin("erin", "lobby"), "banned");
      accepted(await other.apply("carol", "lobby", { command: "unban", target: "erin" }));
      accepted(await f.policy.canJoin("erin", "lobby"));
    } finally {
      await peer.close();
    }
  }),
);

Deno.test(
  "canJoin() an invite-only room admits members, operators, administrators and the invited",
  withFixture(async (f) => {
    accepted(await f.policy.apply("carol", "lobby", { command: "mode", changes: "+i" }));
    const refusal = refused(await f.policy.canJoin("frank", "lobby"), "invite_only");
    assertEquals(refusal.message, "lobby is invite-only (+i): an operator must /invite you");
    // Members already in (reconnecting), administrators, and operators who left.
    accepted(await f.policy.canJoin("erin", "lobby"));
    accepted(await f.policy.canJoin("root", "lobby"));
    await f.store.members.leave("lobby", "carol");
    accepted(await f.policy.canJoin("carol", "lobby"));
    // A voice is not an invitation.
    await f.store.members.leave("lobby", "dave");
    refused(await f.policy.canJoin("dave", "lobby"), "invite_only");
    // The invited, once.
    accepted(await f.policy.apply("alice", "lobby", { command: "invite", target: "frank" }));
    accepted(await f.policy.canJoin("frank", "lobby"));
    assertEquals(await f.policy.onJoin("frank", "lobby"), true);
    await f.store.members.join("lobby", "frank", T0);
    accepted(await f.policy.canJoin("frank", "lobby"));
    accepted(await f.policy.apply("alice", "lobby", { command: "kick", target: "frank" }));
    refused(await f.policy.canJoin("frank", "lobby"), "invite_only");
    assertEquals(await f.policy.onJoin("frank", "lobby"), false);
    // -i opens the room again.
    accepted(await f.policy.apply("alice", "lobby", { command: "mode", changes: "-i" }));
    accepted(await f.policy.canJoin("frank", "lobby"));
  }),
);

Deno.test(
  "canJoin() an invite expires after INVITE_LIFETIME_MS, exactly",
  withFixture(async (f) => {
    await f.store.rooms.setModes("lobby", "i");
    accepted(await f.policy.apply("carol", "lobby", { command: "invite", target: "frank" }));
    f.clock.now = T0 + INVITE_LIFETIME_MS - 1;
    accepted(await f.policy.canJoin("frank", "lobby"));
    f.clock.now = T0 + INVITE_LIFETIME_MS;
    refused(await f.policy.canJoin("frank", "lobby"), "invite_only");
  }),
);

Deno.test(
  "canJoin() a ban beats an invite, and takes it away",
  withFixture(async (f) => {
    await f.store.rooms.setModes("lobby", "i");
    accepted(await f.policy.apply("carol", "lobby", { command: "invite", target: "frank" }));
    accepted(await f.policy.apply("carol", "lobby", { command: "ban", target: "frank" }));
    refused(await f.policy.canJoin("frank", "lobby"), "banned");
    accepted(await f.policy.apply("carol", "lobby", { command: "unban", target: "frank" }));
    refused(await f.policy.canJoin("frank", "lobby"), "invite_only");
  }),
);

Deno.test(
  "canSpeak() a moderated room lets operators and voiced members speak",
  withFixture(async (f) => {
    accepted(await f.policy.apply("carol", "lobby", { command: "mode", changes: "+m" }));
    for (const user of ["alice", "carol", "dave", "root"]) {
      accepted(await f.policy.canSpeak(user, "lobby"), user);
    }
    for (const user of ["bob", "erin"]) {
      refused(await f.policy.canSpeak(user, "lobby"), "moderated");
    }
    accepted(await f.policy.apply("carol", "lobby", { command: "voice", target: "bob" }));
    accepted(await f.policy.canSpeak("bob", "lobby"));
    accepted(await f.policy.apply("carol", "lobby", { command: "devoice", target: "bob" }));
    refused(await f.policy.canSpeak("bob", "lobby"), "moderated");
    accepted(await f.policy.apply("carol", "lobby", { command: "mode", changes: "-m" }));
    accepted(await f.policy.canSpeak("bob", "lobby"));
  }),
);

Deno.test(
  "canSpeak() a mute silences a voiced member or an operator too",
  withFixture(async (f) => {
    await f.store.rooms.setModes("lobby", "m");
    accepted(await f.policy.apply("carol", "lobby", { command: "mute", target: "dave" }));
    accepted(await f.policy.apply("alice", "lobby", { command: "mute", target: "carol" }));
    for (const user of ["dave", "carol"]) {
      assertEquals(refused(await f.policy.canSpeak(user, "lobby"), "muted").until, null);
    }
  }),
);

Deno.test(
  "canJoin() and canSpeak() refuse a room that does not exist",
  withFixture(async (f) => {
    for (const room of ["nowhere", "No Room"]) {
      refused(await f.policy.canJoin("bob", room), "no_such_room");
      refused(await f.policy.canSpeak("bob", room), "no_such_room");
    }
  }),
);

Deno.test(
  "canSpeakEach() gives each user the verdict canSpeak gives, once per user however often named",
  withFixture(async (f) => {
    accepted(await f.policy.apply("carol", "lobby", { command: "mute", target: "erin" }));
    const users = ["bob", "erin", "bob", "alice", "erin"];
    let verdicts = await f.policy.canSpeakEach(users, "lobby");
    assertEquals([...verdicts.keys()], ["bob", "erin", "alice"]);
    for (const user of new Set(users)) {
      assertEquals(verdicts.get(user), await f.policy.canSpeak(user, "lobby"), user);
    }
    refused(verdicts.get("erin")!, "muted");
    accepted(verdicts.get("bob")!);
    // A moderated room: each user's role decides, in the same answer as the mutes.
    accepted(await f.policy.apply("carol", "lobby", { command: "mode", changes: "+m" }));
    verdicts = await f.policy.canSpeakEach(["bob", "carol", "erin"], "lobby");
    refused(verdicts.get("bob")!, "moderated");
    accepted(verdicts.get("carol")!);
    refused(verdicts.get("erin")!, "muted");
    // Nobody asked, nobody answered.
    assertEquals((await f.policy.canSpeakEach([], "lobby")).size, 0);
    // A room that does not exist, or a name that is no room name: no_such_room for everyone.
    for (const room of ["nowhere", "NOT A ROOM"]) {
      verdicts = await f.policy.canSpeakEach(["bob", "carol"], room);
      for (const user of ["bob", "carol"]) refused(verdicts.get(user)!, "no_such_room");
    }
  }),
);
