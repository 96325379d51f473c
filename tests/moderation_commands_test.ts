/**
 * Moderation with real processes: a real `openchat serve` (with an administrator and a message
 * of the day) and `openchat join --json` children. Every command is refused for a plain member,
 * with its code and nothing changed, and works for an operator (op and deop for the owner); the
 * events reach everyone; `/who` shows the roles; a kicked member is out and may come back, a
 * banned one is kept out until unbanned; an administrator acts as an owner.
 */

import { assert, assertEquals, assertStringIncludes } from "./support/assert.ts";
import { type Stage, WAIT_MS, withStage } from "./support/moderation_stage.ts";
import { acted, notDelivered, refused, roles, typed } from "./support/moderation_steps.ts";
import type { JoinProcess } from "./support/join_process.ts";
import { COMMAND_HELP, COMMAND_NAMES } from "../protocol/moderation/mod.ts";

const MOTD = "Welcome to the test server.\nBe kind.";

/** Runs `fn` on a server started with `--admin root --motd FILE`. */
async function withModeratedServer(fn: (stage: Stage) => Promise<void>): Promise<void> {
  const motd = await Deno.makeTempFile({ suffix: ".txt" });
  try {
    await Deno.writeTextFile(motd, MOTD + "\n");
    await withStage(fn, ["--admin", "root", "--motd", motd]);
  } finally {
    await Deno.remove(motd);
  }
}

/** Starts `names` in order (the first creates lobby) and waits until all see each other. */
async function people(stage: Stage, names: string[]): Promise<JoinProcess[]> {
  const started: JoinProcess[] = [];
  for (const name of names) {
    const process = await stage.join(name);
    await process.next("ready", () => true, WAIT_MS);
    started.push(process);
  }
  for (const process of started) await process.members("lobby", names, WAIT_MS);
  return started;
}

function heard(who: JoinProcess, text: string): boolean {
  return who.events.some((e) => e.type === "message" && e.text === text);
}

Deno.test("moderation: a member is refused every operator command with its code and nothing changes; an operator's topic, mode, mute, voice and invite reach everyone and take effect", async () => {
  await withModeratedServer(async (stage) => {
    const [alice, bob, carol, dave] = await people(stage, ["alice", "bob", "carol", "dave"]);
    const everyone = [alice!, bob!, carol!, dave!];
    // The message of the day came with the connection.
    assertEquals(alice!.events.find((e) => e.type === "motd"), { type: "motd", text: MOTD });

    // bob, a plain member: every operator command refused, with its code.
    for (
      const [line, code] of [
        ["/kick dave", "not_operator"],
        ["/kick dave spamming", "not_operator"],
        ["/ban dave", "not_operator"],
        ["/ban dave 1h spamming", "not_operator"],
        ["/unban dave", "not_operator"],
        ["/banned", "not_operator"],
        ["/mute dave", "not_operator"],
        ["/mute dave 10m", "not_operator"],
        ["/unmute dave", "not_operator"],
        ["/voice dave", "not_operator"],
        ["/devoice dave", "not_operator"],
        ["/mode +i", "not_operator"],
        ["/mode -t", "not_operator"],
        ["/invite erin", "not_operator"],
        ["/op dave", "not_owner"],
        ["/deop alice", "not_owner"],
      ]
    ) {
      await refused(bob!, line!, code!);
    }
    // ...and nothing changed: roles, modes, bans, and dave still speaks.
    assertEquals(await roles(bob!), [
      "alice(owner)",
      "bob(member)",
      "carol(member)",
      "dave(member)",
    ]);
    assertEquals((await typed(bob!, "/mode", "modes")).modes, "");
    assertEquals((await typed(alice!, "/banned", "bans")).bans, []);
    await dave!.say("dave is still here");
    await alice!.next("message", (e) => e.text === "dave is still here", WAIT_MS);
    // What any member may: show the topic and the modes, read the message of the day.
    const shown = await typed(bob!, "/topic", "topic");
    assertEquals([shown.topic, shown.modes], ["", ""]);
    assertEquals((await typed(bob!, "/motd", "motd")).text, MOTD);

    // The owner makes carol an operator; everyone sees it, and /who says so.
    await acted(alice!, "/op carol", "op", everyone, (e) => e.target === "carol");
    assertEquals(await roles(dave!), [
      "alice(owner)",
      "bob(member)",
      "carol(operator)",
      "dave(member)",
    ]);
    await refused(carol!, "/op dave", "not_owner");
    await refused(carol!, "/kick alice", "cannot_act_on_owner");

    // A topic change reaches everyone; +t keeps it for operators.
    const topic = "Be kind to each other";
    for (
      const event of await Promise.all(
        everyone.map(async (p) => {
          const from = p.events.length;
          if (p === carol) await carol!.type(`/topic ${topic}`);
          return p.since(from, "moderation", (e) => e.action === "topic", WAIT_MS);
        }),
      )
    ) {
      assertEquals([event.actor, event.room, event.topic], ["carol", "lobby", topic]);
    }
    await acted(carol!, "/mode +t", "mode", everyone, (e) => e.changes === "+t" && e.modes === "t");
    await refused(bob!, "/topic mine now", "topic_protected");
    const kept = await typed(bob!, "/topic", "topic");
    assertEquals([kept.topic, kept.modes], [topic, "t"]);

    // A mute: the server refuses dave's messages with a clear reason until unmuted.
    const mute = await acted(carol!, "/mute dave 1h", "mute", everyone, (e) => e.target === "dave");
    assertEquals(Date.parse(mute.until!) - Date.parse(mute.ts), 3_600_000);
    await notDelivered(dave!, "dave while muted", "muted");
    assertEquals((await roles(alice!))[3], "dave(member,muted)");
    await acted(carol!, "/unmute dave", "unmute", everyone, (e) => e.target === "dave");
    await dave!.say("dave speaks again");
    await alice!.next("message", (e) => e.text === "dave speaks again", WAIT_MS);

    // +m: only the voiced and up speak.
    await acted(
      carol!,
      "/mode +m",
      "mode",
      everyone,
      (e) => e.changes === "+m" && e.modes === "mt",
    );
    await notDelivered(bob!, "bob in a moderated room", "moderated");
    await acted(carol!, "/voice bob", "voice", everyone, (e) => e.target === "bob");
    await bob!.say("bob with a voice");
    await dave!.next("message", (e) => e.text === "bob with a voice", WAIT_MS);
    await notDelivered(dave!, "dave in a moderated room", "moderated");
    await carol!.say("carol speaks as an operator");
    await bob!.next("message", (e) => e.text === "carol speaks as an operator", WAIT_MS);
    await acted(carol!, "/devoice bob", "devoice", everyone, (e) => e.target === "bob");
    await acted(
      carol!,
      "/mode -mt",
      "mode",
      everyone,
      (e) => e.changes === "-mt" && e.modes === "",
    );
    await bob!.say("bob speaks in an open room");
    await carol!.next("message", (e) => e.text === "bob speaks in an open room", WAIT_MS);

    // An invite is announced to the room (erin is not online to hear it).
    const invite = await acted(
      carol!,
      "/invite erin",
      "invite",
      everyone,
      (e) => e.target === "erin",
    );
    assert(Date.parse(invite.until!) > Date.parse(invite.ts));

    // Nobody ever received what the server refused.
    for (const p of everyone) {
      for (
        const text of ["dave while muted", "bob in a moderated room", "dave in a moderated room"]
      ) {
        assert(!heard(p, text), `${text} reached someone`);
      }
    }
  });
});

Deno.test("moderation: an operator kicks (out, may come back) and bans (kept out until unbanned, /banned lists it); the owner deops; an administrator acts on the owner; /help lists every command", async () => {
  await withModeratedServer(async (stage) => {
    const [alice, bob, carol, dave] = await people(stage, ["alice", "bob", "carol", "dave"]);
    const everyone = [alice!, bob!, carol!, dave!];
    await acted(alice!, "/op carol", "op", everyone, (e) => e.target === "carol");

    // A kick: everyone sees who and why; dave is out, the others carry on without him.
    await acted(
      carol!,
      "/kick dave spamming links",
      "kick",
      everyone,
      (e) => e.target === "dave" && e.reason === "spamming links",
    );
    await dave!.next("leave", (e) => e.user === "dave" && e.room === "lobby", WAIT_MS);
    for (const p of [alice!, bob!, carol!]) {
      await p.members("lobby", ["alice", "bob", "carol"], WAIT_MS);
    }
    await alice!.say("said after the kick");
    await bob!.next("message", (e) => e.text === "said after the kick", WAIT_MS);
    // A kick is not a ban: dave joins again.
    await dave!.type("/join lobby");
    for (const p of everyone) await p.members("lobby", ["alice", "bob", "carol", "dave"], WAIT_MS);

    // A ban: out, and kept out.
    const ban = await acted(
      carol!,
      "/ban dave 1h flooding",
      "ban",
      everyone,
      (e) => e.target === "dave",
    );
    assertEquals([ban.reason, Date.parse(ban.until!) - Date.parse(ban.ts)], [
      "flooding",
      3_600_000,
    ]);
    for (const p of [alice!, bob!, carol!]) {
      await p.members("lobby", ["alice", "bob", "carol"], WAIT_MS);
    }
    const bans = await typed(carol!, "/banned", "bans");
    assertEquals(bans.bans.map((b) => [b.user, b.by, b.reason, b.until]), [
      ["dave", "carol", "flooding", ban.until],
    ]);
    assertStringIncludes(await refused(dave!, "/join lobby", "banned"), "flooding");
    await acted(carol!, "/unban dave", "unban", [alice!, bob!], (e) => e.target === "dave");
    assertEquals((await typed(carol!, "/banned", "bans")).bans, []);
    await dave!.type("/join lobby");
    for (const p of everyone) await p.members("lobby", ["alice", "bob", "carol", "dave"], WAIT_MS);
    assert(!heard(dave!, "said after the kick"), "dave read what was said while he was out");

    // The owner takes carol's rights: she is a member again.
    await acted(alice!, "/deop carol", "deop", everyone, (e) => e.target === "carol");
    await refused(carol!, "/kick dave", "not_operator");

    // root, a server administrator (--admin), stands above the owner in every room.
    const root = await stage.join("root");
    const all = [...everyone, root];
    for (const p of all) {
      await p.members("lobby", ["alice", "bob", "carol", "dave", "root"], WAIT_MS);
    }
    assertEquals(await roles(root), [
      "alice(owner)",
      "bob(member)",
      "carol(member)",
      "dave(member)",
      "root(admin)",
    ]);
    await refused(root, "/kick root", "cannot_act_on_self");
    await acted(root, "/kick alice owner or not", "kick", all, (e) => e.target === "alice");
    for (const p of [bob!, carol!, dave!, root]) {
      await p.members("lobby", ["bob", "carol", "dave", "root"], WAIT_MS);
    }

    // /help lists every moderation command with its usage, in pipe mode as on the terminal.
    const from = bob!.events.length;
    await bob!.type("/help");
    await bob!.since(from, "notice", (e) => e.message.startsWith("Plain lines"), WAIT_MS);
    const help = bob!.events.slice(from).map((e) => e.type === "notice" ? e.message : "");
    for (const name of COMMAND_NAMES) {
      const usage = `/${name}${COMMAND_HELP[name].usage ? " " + COMMAND_HELP[name].usage : ""}  `;
      assert(help.some((line) => line.startsWith(usage)), `/help lacks ${usage}`);
    }
  });
});
