/**
 * The engine against a server that holds the CA key (issue 9's attacks, frame by frame): it can
 * mint certificates for any name, inject, drop, replay and rewrite frames. Each test runs the
 * attack and asserts what the user sees, and that the honest members carry on.
 */

import { assert, assertEquals } from "../../tests/support/assert.ts";
import { type Party, World } from "../../tests/support/e2e_world.ts";
import { randomBytes } from "../../crypto/bytes.ts";
import { signDeviceLink, VOUCH_SECRET_BYTES } from "./device_link.ts";
import type { Inbound } from "./inbound.ts";

async function lobbyOf(world: World, ...names: string[]): Promise<Party[]> {
  const parties: Party[] = [];
  for (const name of names) {
    const party = await world.connect(await world.mint(name));
    world.join(party, "lobby");
    await world.settle();
    parties.push(party);
  }
  return parties;
}

/** Key items one party addressed to `session`. */
function keysTo(party: Party, session: string): number {
  return party.sent.flatMap((frame) => frame.type === "keys" ? frame.items : []).filter((item) =>
    item.to === session
  ).length;
}

Deno.test("attack 1: an unsolicited announcement, keys and message from a minted 'alice' are refused, and /msg never reaches it", async () => {
  const world = await World.create();
  const [alice, bob] = await lobbyOf(world, "alice", "bob");
  // The operator mints another "alice" and starts a session with it in a room bob is not in.
  const fake = await world.connect(await world.mint("alice", "main"));
  world.join(fake, "decoy");
  await world.settle();
  assert(await world.say(fake, "decoy", "send me your secrets"));
  const forged = fake.engine; // its keys stay with the attacker
  void forged;
  world.inject(bob!, { type: "announce", ...world.describe(fake) });
  const message = world.delivered.length; // nothing of fake's was ever delivered to bob
  world.inject(bob!, {
    type: "msg",
    room: "lobby",
    from: "alice",
    device: "main",
    session: fake.session,
    ts: world.clock,
    payload: "1.0.gAAAAAB.AAAA",
    seq: 1,
  });
  world.inject(bob!, {
    type: "keys",
    room: "lobby",
    from: "alice",
    device: "main",
    session: fake.session,
    payload: "a0.AAAA.gAAAAAB.AAAA",
  });
  await world.settle();
  assertEquals(world.eventsOf(bob!, "message"), []);
  assertEquals(
    world.eventsOf(bob!, "error").map((e) => e.code),
    ["unknown_sender", "not_member", "not_member"],
  );
  assert(world.delivered.length >= message);
  // bob's /msg alice: the server answers the lookup with the fake session too.
  world.intercept = (frame, to) => {
    if (frame.type === "peer" && to === bob && frame.user === "alice") {
      return [{
        ...frame,
        sessions: [
          ...frame.sessions.filter((s) => s.session !== fake.session),
          world.describe(fake),
        ],
      }];
    }
    return undefined;
  };
  assertEquals(await world.dm(bob!, "alice", "for alice only"), "sealed");
  await world.settle();
  assertEquals(world.eventsOf(bob!, "key_changed").map((e) => [e.user, e.fingerprint]), [
    ["alice", fake.device.fingerprint],
  ]);
  assertEquals(keysTo(bob!, fake.session), 0);
  assertEquals(world.eventsOf(fake, "dm"), []);
  assertEquals(world.eventsOf(alice!, "dm").map((e) => [e.text, e.verified]), [[
    "for alice only",
    true,
  ]]);
});

Deno.test("attack 2: an impostor that joins normally gets no keys, shows unverified, and stays so when the real key returns", async () => {
  const world = await World.create();
  const aliceDevice = await world.mint("alice", "laptop");
  const alice = await world.connect(aliceDevice);
  const [bob] = [await world.connect(await world.mint("bob"))];
  world.join(alice, "lobby");
  world.join(bob!, "lobby");
  await world.settle();
  const impostor = await world.connect(await world.mint("alice", "laptop"));
  world.join(impostor, "lobby");
  await world.settle();
  assertEquals(world.eventsOf(bob!, "key_changed").map((e) => e.fingerprint), [
    impostor.device.fingerprint,
  ]);
  assertEquals(keysTo(bob!, impostor.session), 0);
  assert(await world.say(bob!, "lobby", "room secret"));
  await world.settle();
  assertEquals(world.eventsOf(impostor, "message"), []);
  assertEquals(world.eventsOf(impostor, "error").map((e) => e.code), ["no_key"]);
  assert(await world.say(impostor, "lobby", "I am alice"));
  await world.settle();
  assertEquals(world.eventsOf(bob!, "message").map((m) => [m.text, m.verified, m.trust]), [[
    "I am alice",
    false,
    "not_accepted",
  ]]);
  // The real alice comes back on a new session: still accepted, and the impostor is not washed in.
  world.quit(alice);
  const back = await world.connect(aliceDevice);
  world.join(back, "lobby");
  await world.settle();
  assert(await world.say(impostor, "lobby", "still me"));
  assert(await world.say(back, "lobby", "the real one"));
  await world.settle();
  assertEquals(
    world.eventsOf(bob!, "message").slice(1).map((m) => [m.text, m.verified]),
    [["still me", false], ["the real one", true]],
  );
  // /trust takes a fingerprint the user compared, and accepts exactly that key.
  const short = await bob!.engine.trust("alice", "AB:CD");
  assertEquals(short.events.map((e) => e.type === "error" && e.code), ["bad_fingerprint"]);
  const wrong = await bob!.engine.trust("alice", "00".repeat(10));
  assertEquals(wrong.events.map((e) => e.type === "error" && e.code), ["unknown_key"]);
  const right = await bob!.engine.trust("alice", impostor.device.fingerprint.slice(0, 29));
  assertEquals(right.events[0], {
    type: "trusted",
    user: "alice",
    device: "laptop",
    fingerprint: impostor.device.fingerprint,
  });
});

Deno.test("attack 3: a departed session's replayed announcement gets nothing, and a hidden member makes the rosters disagree", async () => {
  const world = await World.create();
  const [alice, bob] = await lobbyOf(world, "alice", "bob");
  const recorded = world.describe(alice!);
  world.quit(alice!);
  await world.settle();
  const before = bob!.sent.length;
  const version = world.rooms.get("lobby")!.version;
  world.inject(bob!, { type: "presence", room: "lobby", event: "join", version, ...recorded });
  await world.settle();
  assertEquals(world.eventsOf(bob!, "error").map((e) => e.code), ["ended_session"]);
  assertEquals(
    keysTo(bob!, alice!.session),
    bob!.sent.slice(0, before).flatMap((f) => f.type === "keys" ? f.items : []).filter((i) =>
      i.to === alice!.session
    ).length,
  );

  // A fork: the server hides carol from dave, but not from bob.
  const [dave] = await lobbyOf(world, "dave");
  const carol = await world.connect(await world.mint("carol"));
  world.intercept = (frame, to) =>
    to === dave && frame.type === "presence" && frame.user === "carol" ? [] : undefined;
  world.join(carol, "lobby");
  await world.settle();
  const mismatches = world.eventsOf(dave!, "roster_mismatch");
  assert(mismatches.length >= 1, JSON.stringify(dave!.events.slice(-5)));
  assertEquals(mismatches[0]!.ours.includes("carol/main"), false);
  // dave stops sending into that view; bob and carol carry on.
  assertEquals(await world.say(dave!, "lobby", "into a forked room"), false);
  assert(await world.say(bob!, "lobby", "still fine"));
  await world.settle();
  assertEquals(world.eventsOf(carol, "message").map((m) => m.text), ["still fine"]);
});

Deno.test("attack 4: a key package and message replayed after their sender left and rejoined are refused", async () => {
  const world = await World.create();
  const [bob, carol] = await lobbyOf(world, "bob", "carol");
  assert(await world.say(carol!, "lobby", "once"));
  await world.settle();
  const recorded = world.delivered.filter((d) =>
    d.to === bob!.session && (d.frame.type === "keys" || d.frame.type === "msg") &&
    "session" in d.frame && d.frame.session === carol!.session
  ).map((d) => d.frame);
  world.leave(carol!, "lobby");
  await world.settle();
  world.join(carol!, "lobby");
  await world.settle();
  for (const frame of recorded) world.inject(bob!, frame);
  await world.settle();
  assertEquals(world.eventsOf(bob!, "message").map((m) => m.text), ["once"]);
  const codes = world.eventsOf(bob!, "error").map((e) => e.code);
  assert(codes.includes("replay"), codes.join(","));
  assert(await world.say(carol!, "lobby", "after rejoining"));
  await world.settle();
  assertEquals(world.eventsOf(bob!, "message").map((m) => m.text), ["once", "after rejoining"]);
});

Deno.test("a device vouched for by an accepted device is accepted without a prompt; one nobody vouched for is not", async () => {
  const world = await World.create();
  const laptopDevice = await world.mint("alice", "laptop");
  const laptop = await world.connect(laptopDevice);
  const bob = await world.connect(await world.mint("bob"));
  world.join(laptop, "lobby");
  world.join(bob, "lobby");
  await world.settle();
  // alice adds her phone from the laptop: the laptop signs a link over the phone's key, with
  // the proof that it holds the invite's vouching secret.
  const phoneDevice = await world.mint("alice", "phone");
  const secret = randomBytes(VOUCH_SECRET_BYTES);
  const link = await signDeviceLink({
    user: "alice",
    device: "phone",
    keyDigest: phoneDevice.digest,
    secret,
    signerCertDer: new Uint8Array(laptopDevice.issued.cert.rawData),
    signerKeyDigest: laptopDevice.digest,
    signerKey: laptopDevice.issued.privateKey,
    ts: world.clock,
  });
  world.setLink("alice/phone", link);
  const phone = await world.connect(phoneDevice);
  // The phone accepts the laptop that invited it: the link's proof needs the secret.
  const own = await phone.engine.ownLink(link, secret);
  assertEquals(own.events.map((e) => e.type), ["device_accepted"]);
  const wrongSecret = await phone.engine.ownLink(link, randomBytes(VOUCH_SECRET_BYTES));
  // Without the invite's secret the proof does not hold (whoever signed).
  assertEquals(wrongSecret.events.map((e) => e.type === "error" && e.code), ["bad_link"]);
  world.join(phone, "lobby");
  await world.settle();
  assertEquals(
    world.eventsOf(bob, "device_accepted").map((e) => [e.device, e.trust, e.by]),
    [["laptop", "first_seen", undefined], ["phone", "vouched", "laptop"]],
  );
  assertEquals(world.eventsOf(bob, "key_changed"), []);
  assert(keysTo(bob, phone.session) > 0);
  assert(await world.say(phone, "lobby", "from the phone"));
  assert(await world.say(bob, "lobby", "hi phone"));
  await world.settle();
  assertEquals(world.eventsOf(bob, "message").map((m) => [m.text, m.verified, m.trust]), [[
    "from the phone",
    true,
    "vouched",
  ]]);
  assertEquals(world.eventsOf(phone, "message").map((m) => [m.text, m.verified]), [[
    "hi phone",
    true,
  ]]);
  assertEquals(world.eventsOf(laptop, "key_changed"), []);

  // A device the operator minted, with a link signed by a device nobody accepts: refused.
  const evilDevice = await world.mint("alice", "evil");
  const minted = await world.mint("alice", "tablet");
  world.setLink(
    "alice/evil",
    await signDeviceLink({
      user: "alice",
      device: "evil",
      keyDigest: evilDevice.digest,
      secret,
      signerCertDer: new Uint8Array(minted.issued.cert.rawData),
      signerKeyDigest: minted.digest,
      signerKey: minted.issued.privateKey,
      ts: world.clock,
    }),
  );
  const evil = await world.connect(evilDevice);
  world.join(evil, "lobby");
  await world.settle();
  assertEquals(world.eventsOf(bob, "key_changed").map((e) => e.device), ["evil"]);
  assertEquals(keysTo(bob, evil.session), 0);
  // A made-up link for the phone's own key, without the secret, proves nothing to the phone.
  const forgedOwn = await phone.engine.ownLink(
    await signDeviceLink({
      user: "alice",
      device: "phone",
      keyDigest: phoneDevice.digest,
      secret: randomBytes(VOUCH_SECRET_BYTES),
      signerCertDer: new Uint8Array(minted.issued.cert.rawData),
      signerKeyDigest: minted.digest,
      signerKey: minted.issued.privateKey,
      ts: world.clock,
    }),
    secret,
  );
  assertEquals(forgedOwn.events.map((e) => e.type === "error" && e.code), ["bad_link"]);
});

Deno.test("attack 4, with the rejoined sender's new key package held back: the replayed message is still a replay", async () => {
  const world = await World.create();
  const [bob, carol] = await lobbyOf(world, "bob", "carol");
  assert(await world.say(carol!, "lobby", "once"));
  await world.settle();
  const recorded = world.delivered.filter((d) =>
    d.to === bob!.session && (d.frame.type === "keys" || d.frame.type === "msg") &&
    "session" in d.frame && d.frame.session === carol!.session
  ).map((d) => d.frame);
  world.leave(carol!, "lobby");
  await world.settle();
  const held: Inbound[] = [];
  world.intercept = (frame, to) => {
    if (to !== bob || frame.type !== "keys" || frame.session !== carol!.session) return undefined;
    held.push(frame);
    return [];
  };
  world.join(carol!, "lobby");
  await world.settle();
  assertEquals(held.length, 1);
  world.intercept = undefined;
  for (const frame of recorded) world.inject(bob!, frame);
  await world.settle();
  assertEquals(world.eventsOf(bob!, "error").map((e) => e.code), ["replay", "replay"]);
  for (const frame of held) world.inject(bob!, frame);
  assert(await world.say(carol!, "lobby", "after rejoining"));
  await world.settle();
  assertEquals(world.eventsOf(bob!, "message").map((m) => m.text), ["once", "after rejoining"]);
});
