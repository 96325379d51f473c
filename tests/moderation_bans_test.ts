/**
 * Bans, mutes and invite-only rooms over time and restarts, with real processes: a timed ban and
 * a timed mute lift themselves; a ban keeps out every device of the user, also after the server
 * restarts (with the room's owner, topic and modes); an invite-only room lets in only the
 * invited, once.
 */

import { assert, assertEquals, assertStringIncludes } from "./support/assert.ts";
import { WAIT_MS, withStage } from "./support/moderation_stage.ts";
import { acted, notDelivered, refused, roles, typed } from "./support/moderation_steps.ts";

/** Waits until `iso` has passed on this machine's clock (the server's too), plus a margin. */
async function after(iso: string): Promise<void> {
  const wait = Date.parse(iso) - Date.now() + 200;
  assert(wait < WAIT_MS, `waiting ${wait} ms is too long for a test`);
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

Deno.test("moderation: a timed ban and a timed mute lift themselves at their time", async () => {
  await withStage(async (stage) => {
    const alice = await stage.join("alice");
    await alice.next("ready", () => true, WAIT_MS);
    const bob = await stage.join("bob");
    for (const p of [alice, bob]) await p.members("lobby", ["alice", "bob"], WAIT_MS);

    const mute = await acted(alice, "/mute bob 2s", "mute", [bob], (e) => e.target === "bob");
    await notDelivered(bob, "muted for now", "muted");
    await after(mute.until!);
    await bob.say("the mute lifted");
    await alice.next("message", (e) => e.text === "the mute lifted", WAIT_MS);
    assertEquals(await roles(alice), ["alice(owner)", "bob(member)"]);

    const ban = await acted(alice, "/ban bob 3s", "ban", [bob], (e) => e.target === "bob");
    assertEquals(Date.parse(ban.until!) - Date.parse(ban.ts), 3_000);
    await alice.members("lobby", ["alice"], WAIT_MS);
    assertStringIncludes(await refused(bob, "/join lobby", "banned"), "You are banned from lobby");
    await after(ban.until!);
    // Nobody unbanned him: the ban lifted by itself, and /banned no longer lists it.
    await bob.type("/join lobby");
    for (const p of [alice, bob]) await p.members("lobby", ["alice", "bob"], WAIT_MS);
    assertEquals((await typed(alice, "/banned", "bans")).bans, []);
    await bob.say("back after the ban");
    await alice.next("message", (e) => e.text === "back after the ban", WAIT_MS);
  });
});

Deno.test("moderation: a banned user cannot join from another device, nor after the server restarts; owner, topic, modes and the ban survive the restart", async () => {
  await withStage(async (stage) => {
    const alice = await stage.join("alice");
    await alice.next("ready", () => true, WAIT_MS);
    const bob = await stage.join("bob");
    for (const p of [alice, bob]) await p.members("lobby", ["alice", "bob"], WAIT_MS);
    await acted(alice, "/topic the quiet room", "topic", [bob]);
    await acted(alice, "/mode +t", "mode", [bob], (e) => e.modes === "t");

    await acted(
      alice,
      "/ban bob trolling",
      "ban",
      [bob],
      (e) => e.target === "bob" && e.until === null,
    );
    await alice.members("lobby", ["alice"], WAIT_MS);
    // Every device of bob: his phone, started now, is refused at its first join.
    const phone = await stage.join("bob", { device: "phone" });
    const refusal = await phone.next("error", () => true, WAIT_MS);
    assertEquals(refusal.code, "banned", refusal.message);
    assertStringIncludes(refusal.message, "trolling");
    assert(!phone.events.some((e) => e.type === "ready"), "the phone got in");
    await refused(bob, "/join lobby", "banned");

    const before = alice.events.length;
    await stage.restart();
    // alice reconnects by herself and is put back in lobby, still its owner.
    await alice.since(before, "status", (e) => e.state === "disconnected", WAIT_MS);
    await alice.since(before, "ready", () => true, WAIT_MS);
    assertEquals(await roles(alice), ["alice(owner)"]);
    const topic = await typed(alice, "/topic", "topic");
    assertEquals([topic.topic, topic.modes], ["the quiet room", "t"]);
    const bans = await typed(alice, "/banned", "bans");
    assertEquals(bans.bans.map((b) => [b.user, b.by, b.reason, b.until]), [
      ["bob", "alice", "trolling", null],
    ]);
    // bob, from a fresh start of either device, is still kept out.
    for (const device of ["main", "phone"]) {
      const again = await stage.join("bob", { device });
      const error = await again.next("error", () => true, WAIT_MS);
      assertEquals(error.code, "banned", `bob/${device}: ${error.message}`);
    }
    // Stored for nobody: none of bob's devices is a member device of lobby any more.
    const id = await alice.say("still alone");
    const delivered = alice.events.find((e) => e.type === "delivered" && e.id === id);
    assertEquals(delivered?.type === "delivered" && delivered.recipients, 0);
  });
});

Deno.test("moderation: an invite-only room refuses the uninvited; an invite lets erin in once, and she hears of it", async () => {
  await withStage(async (stage) => {
    const alice = await stage.join("alice");
    await alice.next("ready", () => true, WAIT_MS);
    await acted(alice, "/mode +i", "mode", [], (e) => e.modes === "i");
    const erin = await stage.join("erin");
    const first = await erin.next("error", () => true, WAIT_MS);
    assertEquals(first.code, "invite_only", first.message);

    // The invite reaches erin although she is in no room.
    const invite = await acted(alice, "/invite erin", "invite", [erin], (e) => e.target === "erin");
    assertEquals(invite.room, "lobby");
    await erin.type("/join lobby");
    for (const p of [alice, erin]) await p.members("lobby", ["alice", "erin"], WAIT_MS);
    await erin.say("thanks for the invite");
    await alice.next("message", (e) => e.text === "thanks for the invite", WAIT_MS);

    // The invite was used up: after leaving, she needs another.
    await erin.type("/leave lobby");
    await alice.members("lobby", ["alice"], WAIT_MS);
    await refused(erin, "/join lobby", "invite_only");
    // A second invite; inviting a member is no change; after a kick she needs yet another.
    await acted(alice, "/invite erin", "invite", [erin]);
    await erin.type("/join lobby");
    for (const p of [alice, erin]) await p.members("lobby", ["alice", "erin"], WAIT_MS);
    await refused(alice, "/invite erin", "no_change");
    await acted(alice, "/kick erin", "kick", [erin], (e) => e.target === "erin");
    await alice.members("lobby", ["alice"], WAIT_MS);
    await refused(erin, "/join lobby", "invite_only");
  });
});
