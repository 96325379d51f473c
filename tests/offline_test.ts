/**
 * Offline delivery, the server's side (issue 12), over real TLS on 127.0.0.1 with a real SQLite
 * store: persistent memberships and auto-rejoin, the room log and `history` inside each device's
 * intervals only (checked on every frame a device received), devices enrolled later or revoked,
 * retention at and past its edges, inboxes, pre-keys, and bad input.
 */

import { assert, assertEquals } from "./support/assert.ts";
import { healthyPair, withServer } from "./support/healthy_pair.ts";
import {
  certOf,
  historyOf,
  inboxOf,
  join,
  joinedOf,
  online,
  pause,
  settle,
} from "./support/offline_client.ts";
import { RawClient } from "./support/raw_client.ts";
import { identityFromFile, startServer } from "./support/server_fixture.ts";
import { inTempDir } from "./support/cli.ts";
import { enroll } from "./support/enrolment.ts";
import { MAX_FRAME_BYTES } from "../protocol/framing.ts";
import type { ServerMessage } from "../protocol/messages.ts";

/** Whether any frame `client` ever received mentions `text`. */
const sawAnywhere = (client: RawClient, text: string) =>
  client.all.some((message) => JSON.stringify(message).includes(text));

Deno.test("a member stays one while offline: stored for, listed offline, rejoined by itself, caught up by history, across a server restart", async () => {
  const fx = await startServer();
  try {
    const aliceId = await fx.issue("alice");
    const bobId = await fx.issue("bob");
    const alice = await online(fx, aliceId);
    assertEquals((await join(alice.client, "lobby")).seq, 0);
    let bob = await online(fx, bobId);
    await join(bob.client, "lobby");
    await alice.client.next("presence", (m) => m.event === "join" && m.user === "bob");

    bob.client.close();
    const gone = await alice.client.next("presence", (m) => m.event === "leave");
    assertEquals([gone.reason, gone.member], ["quit", undefined]);
    assertEquals(gone.offline, { user: "bob", device: "main", cert: certOf(bobId) });

    // Stored for bob's device while he is away.
    await alice.client.send({ type: "msg", id: "m1", room: "lobby", payload: "sealed-1" });
    assertEquals(await alice.client.next("ack"), { type: "ack", id: "m1", recipients: 1 });

    // bob comes back: in the room without asking, told where the log stands.
    bob = await online(fx, bobId);
    const rejoined = await joinedOf(bob.client, "lobby");
    assertEquals(rejoined.seq, 1);
    assertEquals(rejoined.offline, []);
    assertEquals(rejoined.members.map((m) => m.session), [alice.welcome.session]);
    const back = await alice.client.next("presence", (m) => m.event === "join");
    assertEquals(back.session, bob.welcome.session);
    const history = await historyOf(bob.client, "lobby");
    assertEquals(history.entries.map((e) => [e.seq, e.from, e.device, e.session, e.payload]), [
      [1, "alice", "main", alice.welcome.session, "sealed-1"],
    ]);
    assertEquals(history.sessions, [{
      user: "alice",
      device: "main",
      session: alice.welcome.session,
      announce: "announce-of-alice-main",
    }]);
    assertEquals(history.missed, undefined);

    // Live messages carry the next numbers.
    await alice.client.send({ type: "msg", id: "m2", room: "lobby", payload: "sealed-2" });
    assertEquals((await bob.client.next("msg")).seq, 2);

    // A restart forgets no member and no message.
    await fx.restart();
    await Promise.all([alice.client.whenEnded(), bob.client.whenEnded()]);
    bob = await online(fx, bobId);
    const afterRestart = await joinedOf(bob.client, "lobby");
    assertEquals(afterRestart.seq, 2);
    assertEquals(afterRestart.members, []);
    assertEquals(afterRestart.offline, [{ user: "alice", device: "main", cert: certOf(aliceId) }]);
    assertEquals((await historyOf(bob.client, "lobby", 1)).entries.map((e) => e.payload), [
      "sealed-2",
    ]);
    const alice2 = await online(fx, aliceId);
    assertEquals((await joinedOf(alice2.client, "lobby")).seq, 2);
    await bob.client.next("presence", (m) => m.event === "join" && m.user === "alice");
    for (const client of [alice.client, bob.client, alice2.client]) client.close();
  } finally {
    await fx.close();
  }
});

Deno.test("membership is per user: a join brings the user's other live devices, a leave from one device ends it on all", async () => {
  await withServer({}, async (fx) => {
    const phone = await online(fx, await fx.issue("alice", { device: "phone" }));
    const laptopId = await fx.issue("alice", { device: "laptop" });
    const laptop = await online(fx, laptopId);
    await settle(phone.client);
    await join(laptop.client, "lobby");
    // The phone was online and not in the room: it comes in with its user.
    const phoneJoined = await joinedOf(phone.client, "lobby");
    assertEquals(phoneJoined.members.map((m) => m.device), ["laptop"]);
    const bob = await online(fx, await fx.issue("bob"));
    const bobJoined = await join(bob.client, "lobby");
    assertEquals(bobJoined.members.map((m) => m.device).sort(), ["laptop", "phone"]);

    await laptop.client.send({ type: "leave", room: "lobby" });
    assertEquals(await laptop.client.next("left"), { type: "left", room: "lobby" });
    assertEquals(await phone.client.next("left"), { type: "left", room: "lobby" });
    for (let i = 0; i < 2; i++) {
      const left = await bob.client.next("presence", (m) => m.event === "leave");
      assertEquals([left.user, left.reason, left.member, left.offline], [
        "alice",
        "left",
        false,
        undefined,
      ]);
    }
    // No device of alice's is stored for any more.
    await bob.client.send({ type: "msg", id: "b1", room: "lobby", payload: "after-alice" });
    assertEquals((await bob.client.next("ack")).recipients, 0);
    // And her devices are not put back in when they connect again.
    laptop.client.close();
    const again = await online(fx, laptopId);
    await settle(again.client);
    assertEquals(again.client.all.filter((m) => m.type === "joined"), []);
    // A `who` for the room, a `history` for it: refused, she is not in it.
    await again.client.send({ type: "history", room: "lobby", after: 0 });
    const refused = await again.client.next("error");
    assertEquals([refused.code, refused.fatal, refused.room], ["not_in_room", false, "lobby"]);
    for (const client of [phone.client, bob.client, again.client]) client.close();
  });
});

Deno.test("carol leaves and comes back: nothing sent while she was out reaches her, live or from history, in any frame", async () => {
  await withServer({}, async (fx) => {
    const alice = await online(fx, await fx.issue("alice"));
    await join(alice.client, "lobby");
    const carolId = await fx.issue("carol");
    const carol = await online(fx, carolId);
    await join(carol.client, "lobby");
    const send = async (id: string, payload: string, recipients: number) => {
      await alice.client.send({ type: "msg", id, room: "lobby", payload });
      assertEquals((await alice.client.next("ack", (m) => m.id === id)).recipients, recipients);
    };
    await send("m1", "before-she-left", 1);
    assertEquals((await carol.client.next("msg")).seq, 1);

    await carol.client.send({ type: "leave", room: "lobby" });
    await carol.client.next("left");
    await send("m2", "SECRET-WHILE-OUT-1", 0);
    await send("m3", "SECRET-WHILE-OUT-2", 0);

    const rejoined = await join(carol.client, "lobby");
    assertEquals(rejoined.seq, 3);
    await send("m4", "after-she-came-back", 1);
    assertEquals((await carol.client.next("msg")).seq, 4);
    // Her history up to her join: the message from before she left, nothing from while out.
    const history = await historyOf(carol.client, "lobby");
    assertEquals(history.entries.map((e) => [e.seq, e.payload]), [[1, "before-she-left"]]);
    assertEquals(history.missed, undefined);

    // A new session of hers reads both of her intervals, and still nothing between.
    carol.client.close();
    const carol2 = await online(fx, carolId);
    assertEquals((await joinedOf(carol2.client, "lobby")).seq, 4);
    const later = await historyOf(carol2.client, "lobby");
    assertEquals(later.entries.map((e) => e.seq), [1, 4]);
    // Asking from inside the gap gives nothing from it either.
    assertEquals((await historyOf(carol2.client, "lobby", 1)).entries.map((e) => e.seq), [4]);
    for (const client of [carol.client, carol2.client]) {
      assert(!sawAnywhere(client, "SECRET-WHILE-OUT"), "carol received a message from her gap");
    }
    alice.client.close();
    carol2.client.close();
  });
});

Deno.test("a device enrolled later reads nothing from before it existed; rooms hear of it while offline, and of its revocation", async () => {
  await inTempDir(async (dir) => {
    await withServer({}, async (fx) => {
      const laptop = await online(fx, await fx.issue("alice", { device: "laptop" }));
      await join(laptop.client, "lobby");
      const bob = await online(fx, await fx.issue("bob"));
      const bobJoined = await join(bob.client, "lobby");
      for (const id of ["m1", "m2"]) {
        await laptop.client.send({ type: "msg", id, room: "lobby", payload: `OLD-${id}` });
        await laptop.client.next("ack", (m) => m.id === id);
      }

      await laptop.client.send({ type: "device_invite", id: "i1", device: "tablet" });
      const offer = await laptop.client.next("device_invite");
      const enrolment = await enroll(offer.token, `${dir}/tablet`);
      assertEquals(enrolment.code, 0, enrolment.stderr);
      const tabletId = await identityFromFile(`${dir}/tablet/identity.pem`, "alice", "tablet");
      // bob's room hears of the new member device, with its certificate, as a membership change.
      const added = await bob.client.next("offline_device");
      assertEquals(added, {
        type: "offline_device",
        room: "lobby",
        version: bobJoined.version + 1, // messages change no version; a member device does
        user: "alice",
        device: "tablet",
        state: "added",
        cert: certOf(tabletId),
      });
      await laptop.client.send({ type: "msg", id: "m3", room: "lobby", payload: "FOR-TABLET" });
      assertEquals((await laptop.client.next("ack", (m) => m.id === "m3")).recipients, 2);

      const tablet = await online(fx, tabletId);
      const joined = await joinedOf(tablet.client, "lobby");
      assertEquals(joined.seq, 3);
      const history = await historyOf(tablet.client, "lobby");
      assertEquals(history.entries.map((e) => e.payload), ["FOR-TABLET"]);
      assert(!sawAnywhere(tablet.client, "OLD-m"), "the new device got a message from before it");
      tablet.client.close();
      const leaving = await bob.client.next("presence", (m) => m.event === "leave");
      assertEquals(leaving.offline?.device, "tablet");

      await laptop.client.send({ type: "device_revoke", id: "r1", device: "tablet" });
      await laptop.client.next("device_revoked");
      const removed = await bob.client.next("offline_device", (m) => m.state === "removed");
      assertEquals([removed.user, removed.device, removed.cert], ["alice", "tablet", undefined]);
      await laptop.client.send({ type: "msg", id: "m4", room: "lobby", payload: "after" });
      assertEquals((await laptop.client.next("ack", (m) => m.id === "m4")).recipients, 1);
      // Nothing is kept for it any more: no bundle, no inbox.
      await laptop.client.send({ type: "bundles", id: "b1", devices: ["alice/tablet"] });
      assertEquals((await laptop.client.next("bundles")).bundles, []);
      laptop.client.close();
      bob.client.close();
    });
  });
});

Deno.test("retention by count at the server: at the limit nothing is missed, past it the oldest go and history says how many", async () => {
  const fx = await startServer({}, { storeOptions: { maxMessagesPerRoom: 3 } });
  try {
    const alice = await online(fx, await fx.issue("alice"));
    await join(alice.client, "lobby");
    const bobId = await fx.issue("bob");
    const bob = await online(fx, bobId);
    await join(bob.client, "lobby");
    bob.client.close();
    await alice.client.next("presence", (m) => m.event === "leave");
    const send = async (n: number) => {
      await alice.client.send({ type: "msg", id: `m${n}`, room: "lobby", payload: `p${n}` });
      await alice.client.next("ack", (m) => m.id === `m${n}`);
    };
    for (let n = 1; n <= 3; n++) await send(n);
    let reader = await online(fx, bobId);
    await joinedOf(reader.client, "lobby");
    const atLimit = await historyOf(reader.client, "lobby");
    assertEquals([atLimit.entries.map((e) => e.seq), atLimit.missed], [[1, 2, 3], undefined]);
    reader.client.close();
    await alice.client.next("presence", (m) => m.event === "leave");
    for (let n = 4; n <= 5; n++) await send(n);
    reader = await online(fx, bobId);
    await joinedOf(reader.client, "lobby");
    const past = await historyOf(reader.client, "lobby");
    assertEquals([past.entries.map((e) => e.seq), past.missed], [[3, 4, 5], 2]);
    // From where it had read, nothing was missed.
    const fromThree = await historyOf(reader.client, "lobby", 3);
    assertEquals([fromThree.entries.map((e) => e.seq), fromThree.missed], [[4, 5], undefined]);
    alice.client.close();
    reader.client.close();
  } finally {
    await fx.close();
  }
});

Deno.test("retention by age at the server: an entry exactly retention old stays, a millisecond older goes", async () => {
  let now = Date.UTC(2025, 5, 1);
  const fx = await startServer({}, { storeOptions: { retentionMs: 1000 }, clock: () => now });
  try {
    const alice = await online(fx, await fx.issue("alice"));
    await join(alice.client, "lobby");
    const bobId = await fx.issue("bob");
    const bob = await online(fx, bobId);
    await join(bob.client, "lobby");
    bob.client.close();
    await alice.client.next("presence", (m) => m.event === "leave");
    const start = now;
    for (const [id, at] of [["m1", start], ["m2", start + 500]] as const) {
      now = at;
      await alice.client.send({ type: "msg", id, room: "lobby", payload: id });
      await alice.client.next("ack", (m) => m.id === id);
    }
    const read = async () => {
      const reader = await online(fx, bobId);
      await joinedOf(reader.client, "lobby");
      const history = await historyOf(reader.client, "lobby");
      reader.client.close();
      await alice.client.next("presence", (m) => m.event === "leave");
      return [history.entries.map((e) => [e.payload, e.ts]), history.missed];
    };
    now = start + 1000;
    await fx.server.prune();
    assertEquals(await read(), [[["m1", start], ["m2", start + 500]], undefined]);
    now = start + 1001;
    await fx.server.prune();
    assertEquals(await read(), [[["m2", start + 500]], 1]);
    now = start + 1501;
    await fx.server.prune();
    assertEquals(await read(), [[], 2]);
    alice.client.close();
  } finally {
    await fx.close();
  }
});

Deno.test("inbox: key packages and direct messages for an offline device wait, are read with their senders, acknowledged, and dropped past the limit", async () => {
  const fx = await startServer({}, { storeOptions: { maxInboxItems: 3 } });
  try {
    const alice = await online(fx, await fx.issue("alice"));
    await join(alice.client, "lobby");
    const bobId = await fx.issue("bob");
    const bob = await online(fx, bobId);
    await join(bob.client, "lobby");
    await fx.issue("carol");
    bob.client.close();
    await alice.client.next("presence", (m) => m.event === "leave");

    await alice.client.send({ type: "dm", id: "d1", to: "bob", device: "main", payload: "dm-1" });
    assertEquals(await alice.client.next("ack"), { type: "ack", id: "d1", recipients: 1 });
    await alice.client.send({
      type: "keys",
      room: "lobby",
      // carol is no member of lobby: hers is dropped.
      items: [{ to: "bob/main", payload: "room-key" }, { to: "carol/main", payload: "nope" }],
    });
    await alice.client.send({
      type: "keys",
      // bob has no device "ghost": dropped.
      items: [{ to: "bob/main", payload: "direct-key" }, { to: "bob/ghost", payload: "nope" }],
    });
    await alice.client.send({ type: "dm", id: "d2", to: "bob", device: "ghost", payload: "x" });
    const noDevice = await alice.client.next("error", (m) => m.id === "d2");
    assertEquals([noDevice.code, noDevice.fatal], ["no_such_device", false]);

    let reader = await online(fx, bobId);
    const inbox = await inboxOf(reader.client);
    assertEquals(
      inbox.items.map((i) => [i.seq, i.kind, i.room, i.from, i.device, i.payload]),
      [
        [1, "dm", undefined, "alice", "main", "dm-1"],
        [2, "keys", "lobby", "alice", "main", "room-key"],
        [3, "keys", undefined, "alice", "main", "direct-key"],
      ],
    );
    assertEquals(inbox.sessions.map((s) => [s.user, s.session, s.announce]), [
      ["alice", alice.welcome.session, "announce-of-alice-main"],
    ]);
    assertEquals([inbox.dropped, inbox.frames.length], [0, 1]);
    await reader.client.send({ type: "inbox_ack", upto: 2 });
    assertEquals((await inboxOf(reader.client)).items.map((i) => i.payload), ["direct-key"]);
    await reader.client.send({ type: "inbox_ack", upto: 99 });
    const past = await reader.client.next("error");
    assertEquals([past.code, past.fatal], ["bad_field", false]);
    reader.client.close();
    await alice.client.next("presence", (m) => m.event === "leave");

    // Four more for a three-item inbox: the two oldest unread ones go, and bob is told.
    for (let n = 4; n <= 7; n++) {
      await alice.client.send({
        type: "dm",
        id: `d${n}`,
        to: "bob",
        device: "main",
        payload: `dm-${n}`,
      });
      await alice.client.next("ack", (m) => m.id === `d${n}`);
    }
    reader = await online(fx, bobId);
    const full = await inboxOf(reader.client);
    assertEquals([full.items.map((i) => i.seq), full.dropped], [[5, 6, 7], 2]);
    await reader.client.send({ type: "inbox_ack", upto: 7 });
    assertEquals(await inboxOf(reader.client).then((i) => [i.items, i.dropped]), [[], 0]);
    alice.client.close();
    reader.client.close();
  } finally {
    await fx.close();
  }
});

Deno.test("pre-keys: stored and counted in welcome, each one-time key handed out once, then the signed one alone; bounded", async () => {
  await withServer({}, async (fx) => {
    const bobId = await fx.issue("bob");
    let bob = await online(fx, bobId);
    assertEquals(bob.welcome.prekeys, { signed: false, onetime: 0 });
    await bob.client.send({
      type: "prekeys",
      signed: "s1.signed",
      onetime: ["o1.a", "o2.b", "o1.a"],
    });
    assertEquals(await bob.client.next("prekeys_stored"), { type: "prekeys_stored", onetime: 2 });
    bob.client.close();
    bob = await online(fx, bobId);
    assertEquals(bob.welcome.prekeys, { signed: true, onetime: 2 });

    await fx.issue("carol"); // a valid device with no pre-keys: left out
    const alice = await online(fx, await fx.issue("alice"));
    const take = async (id: string) => {
      await alice.client.send({
        type: "bundles",
        id,
        devices: ["bob/main", "bob/main", "carol/main", "nobody/main"],
      });
      return (await alice.client.next("bundles", (m) => m.id === id)).bundles;
    };
    const first = await take("b1");
    assertEquals(first, [{
      user: "bob",
      device: "main",
      cert: certOf(bobId),
      signed: "s1.signed",
      onetime: "o1.a",
    }]);
    assertEquals((await take("b2"))[0]?.onetime, "o2.b");
    const exhausted = await take("b3");
    assertEquals([exhausted.length, exhausted[0]?.signed, exhausted[0]?.onetime], [
      1,
      "s1.signed",
      undefined,
    ]);
    // A new signed pre-key replaces the last.
    await bob.client.send({ type: "prekeys", signed: "s2.signed", onetime: [] });
    assertEquals((await bob.client.next("prekeys_stored")).onetime, 0);
    assertEquals((await take("b4"))[0]?.signed, "s2.signed");

    // At most 200 one-time pre-keys: a batch past it is refused whole, the session goes on.
    const batch = (from: number) => Array.from({ length: 100 }, (_, i) => `k${from + i}.x`);
    await bob.client.send({ type: "prekeys", onetime: batch(0) });
    await bob.client.send({ type: "prekeys", onetime: batch(100) });
    await bob.client.next("prekeys_stored", (m) => m.onetime === 200);
    await bob.client.send({ type: "prekeys", onetime: ["one.more"] });
    const full = await bob.client.next("error");
    assertEquals([full.code, full.fatal], ["too_many_prekeys", false]);
    await settle(bob.client);
    assert(!bob.client.ended);
    alice.client.close();
    bob.client.close();
  });
});

Deno.test("history of full-size messages comes in frames that each fit, done on the last only", async () => {
  await withServer({ rateBurst: 1000, ratePerSecond: 1000 }, async (fx) => {
    const alice = await online(fx, await fx.issue("alice"), "A".repeat(4000));
    await join(alice.client, "lobby");
    const bobId = await fx.issue("bob");
    const bob = await online(fx, bobId);
    await join(bob.client, "lobby");
    bob.client.close();
    await alice.client.next("presence", (m) => m.event === "leave");
    for (let n = 0; n < 6; n++) {
      const payload = `${n}`.repeat(60_000);
      await alice.client.send({ type: "msg", id: `m${n}`, room: "lobby", payload });
      await alice.client.next("ack", (m) => m.id === `m${n}`);
    }
    const reader = await online(fx, bobId);
    await joinedOf(reader.client, "lobby");
    const history = await historyOf(reader.client, "lobby");
    assertEquals(history.entries.map((e) => e.payload[0]), ["0", "1", "2", "3", "4", "5"]);
    assertEquals(history.frames.length, 6);
    assertEquals(history.frames.map((f) => f.done), [false, false, false, false, false, true]);
    for (const frame of history.frames) {
      assert(JSON.stringify(frame).length <= MAX_FRAME_BYTES);
      // Each frame describes the sender of its own entries.
      if (frame.entries.length > 0) assertEquals(frame.sessions.map((s) => s.user), ["alice"]);
    }
    alice.client.close();
    reader.client.close();
  });
});

Deno.test("bad input to the store's frames is refused with clear codes, other sessions undisturbed", async () => {
  await withServer({}, async (fx) => {
    const pair = await healthyPair(fx);
    const malloryId = await fx.issue("mallory");
    // Refused, and the session goes on.
    const mallory = await online(fx, malloryId);
    const soft: [unknown, string][] = [
      [{ type: "history", room: "lobby", after: 0 }, "not_in_room"],
      [{ type: "history", room: "nowhere", after: 0 }, "not_in_room"],
      [{ type: "inbox_ack", upto: 1 }, "bad_field"],
      [{ type: "dm", id: "d1", to: "bob", device: "tablet", payload: "x" }, "no_such_device"],
      [{ type: "dm", id: "d2", to: "nobody", device: "main", payload: "x" }, "no_such_device"],
      [{ type: "keys", room: "lobby", items: [{ to: "bob/main", payload: "x" }] }, "not_in_room"],
    ];
    for (const [frame, code] of soft) {
      await mallory.client.send(frame);
      const error = await mallory.client.next("error");
      assertEquals([error.code, error.fatal], [code, false], JSON.stringify(frame));
      await pair.stillWorking(JSON.stringify(frame));
    }
    assertEquals(sawAnywhere(pair.bob, "mallory"), false);
    mallory.client.close();
    // Malformed: the session is closed, nobody else notices.
    const address = (to: string) => ({ type: "keys", items: [{ to, payload: "x" }] });
    const fatal: unknown[] = [
      address("Bob/main"),
      address("bob/"),
      address("bob/main/extra"),
      address("/main"),
      { type: "bundles", id: "b1", devices: Array.from({ length: 65 }, () => "bob/main") },
      { type: "bundles", id: "b2", devices: ["bob"] },
      { type: "prekeys", onetime: Array.from({ length: 101 }, (_, i) => `k${i}`) },
      { type: "prekeys", onetime: ["has space"] },
      { type: "dm", id: "d3", to: "bob", session: "A".repeat(22), device: "main", payload: "x" },
      { type: "history", room: "lobby", after: -1 },
      { type: "inbox", after: 1.5 },
    ];
    for (const frame of fatal) {
      const { client } = await online(fx, malloryId);
      await client.send(frame);
      await client.expectRefusal("bad_field");
      await pair.stillWorking(JSON.stringify(frame).slice(0, 80));
    }
    pair.close();
  });
});

Deno.test("without a store the server keeps today's behaviour: nothing stored, the store's frames refused", async () => {
  const fx = await startServer({}, { store: false });
  try {
    const alice = await online(fx, await fx.issue("alice"));
    const joined = await join(alice.client, "lobby");
    assertEquals([joined.seq, joined.offline], [0, []]);
    const bob = await online(fx, await fx.issue("bob"));
    await join(bob.client, "lobby");
    await alice.client.send({ type: "msg", id: "m1", room: "lobby", payload: "x" });
    const relayed: ServerMessage = await bob.client.next("msg");
    assertEquals(relayed.type === "msg" && relayed.seq, 0);
    assertEquals((await alice.client.next("ack")).recipients, 1);
    bob.client.close();
    await alice.client.next("presence", (m) => m.event === "leave");
    await alice.client.send({ type: "msg", id: "m2", room: "lobby", payload: "y" });
    assertEquals((await alice.client.next("ack")).recipients, 0);
    await alice.client.send({ type: "history", room: "lobby", after: 0 });
    await alice.client.expectRefusal("unexpected");
    await pause(10);
  } finally {
    await fx.close();
  }
});
