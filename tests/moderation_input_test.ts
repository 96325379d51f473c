/**
 * Bad moderation input, from a real `openchat join --json` and from raw frames: each is refused
 * with its documented code and changes nothing, the session goes on (a frame past the wire's
 * bounds is `bad_field` and closes only its own session), and the other members are undisturbed.
 * Every bound is tried at its edge (accepted) and past it (refused). Then, on in-process
 * servers: a server without a store refuses moderation cleanly, and the automatic rejoin after
 * a reconnection checks bans (and lets a member back into an invite-only room).
 */

import { assert, assertEquals } from "./support/assert.ts";
import { RawClient } from "./support/raw_client.ts";
import { WAIT_MS, withStage } from "./support/moderation_stage.ts";
import { acted, refused, typed } from "./support/moderation_steps.ts";
import { join, joinedOf, online } from "./support/offline_client.ts";
import { startServer } from "./support/server_fixture.ts";
import { MAX_DURATION_MS, MIN_DURATION_MS } from "../protocol/duration.ts";
import {
  MAX_MODERATION_TEXT_CHARS,
  MAX_REASON_LENGTH,
  MAX_TARGET_CHARS,
  MAX_TOPIC_LENGTH,
} from "../protocol/moderation/mod.ts";

Deno.test("moderation: every bad input typed is refused with its code and changes nothing; limits hold at their edge; the others are undisturbed", async () => {
  await withStage(async (stage) => {
    const alice = await stage.join("alice");
    await alice.next("ready", () => true, WAIT_MS);
    const bob = await stage.join("bob");
    const carol = await stage.join("carol");
    for (const p of [alice, bob, carol]) {
      await p.members("lobby", ["alice", "bob", "carol"], WAIT_MS);
    }
    const others = [bob, carol];
    const watched = others.map((p) => p.events.length);

    for (
      const [line, code] of [
        // Judged by the server.
        ["/mode +x", "bad_mode"],
        ["/mode imt", "bad_mode"],
        ["/mode +i-i", "bad_mode"],
        ["/mode +", "bad_mode"],
        ["/kick Bob!", "bad_target"],
        ["/ban ../etc", "bad_target"],
        ["/kick nobody", "no_such_member"],
        ["/mute nobody 10m", "no_such_member"],
        ["/kick alice", "cannot_act_on_self"],
        ["/unban bob", "no_change"],
        ["/unmute bob", "no_change"],
        ["/deop bob", "no_change"],
        ["/mode -i", "no_change"],
        [`/topic ${"t".repeat(MAX_TOPIC_LENGTH + 1)}`, "topic_too_long"],
        [`/ban erin ${"r".repeat(MAX_REASON_LENGTH + 1)}`, "reason_too_long"],
        ["/topic a bell \u0007 rings", "bad_text"],
        ["/kick bob escape \u001b[2J", "bad_text"],
        // Caught by the client before sending, with the code the server gives.
        ["/ban bob 5y", "bad_duration"],
        ["/ban bob 0s", "bad_duration"],
        ["/ban bob 10 minutes", "bad_duration"],
        ["/mute bob 366d", "bad_duration"],
        ["/mute bob 1.5h", "bad_duration"],
        ["/kick", "bad_command"],
        ["/op", "bad_command"],
        ["/banned now", "bad_command"],
        ["/mute bob 10m too long", "bad_command"],
        [`/topic ${"t".repeat(MAX_MODERATION_TEXT_CHARS + 1)}`, "topic_too_long"],
        [`/kick bob ${"r".repeat(MAX_MODERATION_TEXT_CHARS + 1)}`, "reason_too_long"],
        [`/kick ${"b".repeat(MAX_TARGET_CHARS + 1)}`, "bad_target"],
      ]
    ) {
      await refused(alice, line!, code!);
    }
    // Nothing changed: no list, no mode, no topic; bob and carol are still members.
    assertEquals((await typed(alice, "/banned", "bans")).bans, []);
    const room = await typed(alice, "/topic", "topic");
    assertEquals([room.topic, room.modes], ["", ""]);

    // At the edges: the longest topic and reason are taken.
    const topic = "t".repeat(MAX_TOPIC_LENGTH);
    await acted(alice, `/topic ${topic}`, "topic", others, (e) => e.topic === topic);
    const reason = "r".repeat(MAX_REASON_LENGTH);
    await acted(alice, `/ban erin 365d ${reason}`, "ban", others, (e) => e.reason === reason);
    await acted(alice, "/mute bob 1s", "mute", others);

    // The others were undisturbed: nothing but those three events, no error, still chatting.
    for (const [i, p] of others.entries()) {
      const since = p.events.slice(watched[i]);
      assertEquals(since.filter((e) => e.type === "error"), []);
      assertEquals(
        since.filter((e) => e.type === "moderation").map((e) =>
          e.type === "moderation" && e.action
        ),
        ["topic", "ban", "mute"],
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // the 1s mute lifts
    await bob.say("bob after all that");
    await carol.next("message", (e) => e.text === "bob after all that", WAIT_MS);
    await carol.say("carol too");
    await alice.next("message", (e) => e.text === "carol too", WAIT_MS);
  });
});

Deno.test("moderation: bad moderate frames are refused with their code and the session goes on; one past the wire's bounds closes only its own session", async () => {
  await withStage(async (stage) => {
    const alice = await stage.join("alice");
    await alice.next("ready", () => true, WAIT_MS);
    const bob = await stage.join("bob");
    for (const p of [alice, bob]) await p.members("lobby", ["alice", "bob"], WAIT_MS);
    // Another device of alice, the owner, speaking raw frames; it never announces, so it is in
    // no room and nobody sees it: moderation acts for the user, wherever the session is.
    const raw = await RawClient.connect(stage.serve.port, stage.caPem);
    await raw.authenticate(stage.caPem, await stage.identity("alice", "raw"));
    let n = 0;
    /** Sends a `moderate` frame and returns its answer: `moderated` or `error` with its id. */
    const ask = async (fields: Record<string, unknown>) => {
      const id = `r${++n}`;
      await raw.send({ type: "moderate", id, room: "lobby", ...fields });
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const answer = raw.all.find((m) =>
          (m.type === "error" || m.type === "moderated") && m.id === id
        );
        if (answer?.type === "error" || answer?.type === "moderated") return answer;
        assert(Date.now() < deadline, `no answer to ${JSON.stringify(fields)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const refusedRaw = async (fields: Record<string, unknown>, code: string) => {
      const answer = await ask(fields);
      assert(answer.type === "error", `${JSON.stringify(fields)} was accepted`);
      assertEquals([answer.code, answer.fatal], [code, false], JSON.stringify(fields));
    };
    for (
      const [fields, code] of [
        [{ command: "ban", target: "erin", durationMs: MIN_DURATION_MS - 1 }, "bad_duration"],
        [{ command: "ban", target: "erin", durationMs: MAX_DURATION_MS + 1 }, "bad_duration"],
        [{ command: "mute", target: "bob", durationMs: 0 }, "bad_duration"],
        [{ command: "mute", target: "bob", durationMs: -5_000 }, "bad_duration"],
        [{ command: "mute", target: "bob", durationMs: 1_500.5 }, "bad_duration"],
        [{ command: "mute", target: "bob", durationMs: 1e300 }, "bad_duration"],
        [{ command: "nuke", target: "bob" }, "bad_command"],
        [{ command: "KICK", target: "bob" }, "bad_command"],
        [{ command: "constructor" }, "bad_command"],
        [{ command: "kick" }, "bad_target"],
        [{ command: "kick", target: "b".repeat(MAX_TARGET_CHARS) }, "bad_target"],
        [{ command: "mode", changes: "+q" }, "bad_mode"],
        [{ command: "topic", text: "t".repeat(MAX_MODERATION_TEXT_CHARS) }, "topic_too_long"],
        [
          { command: "kick", target: "bob", reason: "r".repeat(MAX_REASON_LENGTH + 1) },
          "reason_too_long",
        ],
        [{ command: "kick", target: "zed" }, "no_such_member"],
        [{ command: "kick", room: "nowhere", target: "bob" }, "no_such_room"],
      ] as const
    ) {
      await refusedRaw(fields, code);
    }
    // At the edges of the durations: both taken.
    for (const durationMs of [MIN_DURATION_MS, MAX_DURATION_MS]) {
      const answer = await ask({ command: "ban", target: "erin", durationMs });
      assert(answer.type === "moderated" && answer.kind === "done", JSON.stringify(answer));
      assertEquals(
        answer.event.action === "ban" && answer.event.until! - answer.event.ts,
        durationMs,
      );
    }
    // The session is fine; alice's other device heard the two bans, bob too.
    await raw.send({ type: "ping" });
    await raw.next("pong");
    for (const p of [alice, bob]) {
      await p.next("moderation", (e) => e.action === "ban" && e.until !== null, WAIT_MS);
    }

    // Past the wire's own bound: malformed, fatal for this session only.
    await raw.send({
      type: "moderate",
      id: "past",
      room: "lobby",
      command: "topic",
      text: "t".repeat(MAX_MODERATION_TEXT_CHARS + 1),
    });
    const fatal = await raw.next("error", (m) => m.fatal);
    assertEquals([fatal.code, fatal.id], ["bad_field", undefined]);
    await raw.whenEnded();
    await alice.say("alice unbothered");
    await bob.next("message", (e) => e.text === "alice unbothered", WAIT_MS);
    const topic = await typed(bob, "/topic", "topic");
    assertEquals(topic.topic, "");
    for (const p of [alice, bob]) {
      assertEquals(p.events.filter((e) => e.type === "error"), []);
    }
  });
});

Deno.test("moderation: a server without a store refuses moderate cleanly (moderation_unavailable) and the session goes on", async () => {
  const fx = await startServer({}, { store: false });
  try {
    const { client } = await online(fx, await fx.issue("alice"));
    await join(client, "lobby");
    for (const command of ["kick", "motd", "banned"]) {
      await client.send({
        type: "moderate",
        id: `x${command}`,
        room: "lobby",
        command,
        target: "bob",
      });
      const error = await client.next("error", (m) => m.id === `x${command}`);
      assertEquals([error.code, error.fatal], ["moderation_unavailable", false]);
    }
    await client.send({ type: "who", room: "lobby" });
    assertEquals(await client.next("who"), { type: "who", room: "lobby", members: ["alice"] });
    client.close();
  } finally {
    await fx.close();
  }
});

Deno.test("moderation: the automatic rejoin after reconnecting checks bans (refused, nothing joined) and lets a member back into an invite-only room", async () => {
  const fx = await startServer();
  try {
    const alice = await online(fx, await fx.issue("alice"));
    await join(alice.client, "lobby");
    await join(alice.client, "quiet");
    const bob = await online(fx, await fx.issue("bob"));
    await join(bob.client, "lobby");
    await join(bob.client, "quiet");
    bob.client.close();
    await alice.client.next("presence", (m) => m.event === "leave" && m.room === "quiet");

    // Written behind the server's back (as another server on the same store would), while bob
    // is still a member: the check at rejoin is what keeps him out.
    const store = fx.store!;
    await store.moderation.putListEntry("lobby", "ban", "bob", {
      by: "alice",
      reason: "written elsewhere",
      at: Date.now(),
      until: null,
    });
    await store.rooms.setModes("quiet", "i");
    assert(await store.members.isMember("lobby", "bob"));

    const back = await online(fx, await fx.issue("bob"));
    const refusal = await back.client.next("error", (m) => m.room === "lobby");
    assertEquals([refusal.code, refusal.fatal], ["banned", false]);
    assert(refusal.message.includes("written elsewhere"));
    const quiet = await joinedOf(back.client, "quiet"); // a member needs no invite
    assertEquals(quiet.room, "quiet");
    await back.client.send({ type: "ping" });
    await back.client.next("pong");
    assert(!back.client.all.some((m) => m.type === "joined" && m.room === "lobby"));
    await alice.client.next("presence", (m) => m.event === "join" && m.room === "quiet");
    assert(
      !alice.client.all.some((m) =>
        m.type === "presence" && m.room === "lobby" && m.session === back.welcome.session
      ),
      "bob's new session came into lobby",
    );
    back.client.close();
    alice.client.close();
  } finally {
    await fx.close();
  }
});
