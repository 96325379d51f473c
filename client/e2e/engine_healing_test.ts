/**
 * Healing and accountability (issue 10), frame by frame: a stolen snapshot of a session stops
 * opening anything after the bound SECURITY.md states, reflected key packages are refused,
 * dropped and reordered messages are reported, and direct messages are chains too.
 */

import { assert, assertEquals } from "../../tests/support/assert.ts";
import { type Party, World } from "../../tests/support/e2e_world.ts";
import { Thief } from "../../tests/support/thief.ts";
import type { Inbound } from "./inbound.ts";
import { AGREEMENT_GRACE_MS, AGREEMENT_REPLACE_AFTER_USE_MS } from "./agreement.ts";

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

/** Frames delivered to `party` from delivery index `from` on. */
function framesTo(world: World, party: Party, from: number): Inbound[] {
  return world.delivered.slice(from).filter((d) => d.to === party.session).map((d) => d.frame);
}

Deno.test("a snapshot of a session stops opening room and direct messages after its next rotation, and opens nothing from before", async () => {
  const world = await World.create();
  const [alice, bob, carol] = await lobbyOf(world, "alice", "bob", "carol");
  assert(await world.say(alice!, "lobby", "before 1"));
  assertEquals(await world.dm(alice!, "bob", "dm before"), "sealed");
  await world.settle();
  // Upkeep replaces the keys that opened those packages; a minute later they are gone.
  await world.advance(AGREEMENT_REPLACE_AFTER_USE_MS);
  await world.advance(AGREEMENT_GRACE_MS + 1);
  const before = world.delivered.length;
  // The thief copies bob's memory now, and the server keeps everything it sends bob.
  const thief = new Thief(bob!.engine.keySnapshot());
  const since = world.delivered.length;
  assert(await world.say(alice!, "lobby", "inside the epoch"));
  await world.settle();
  assertEquals(await new Thief(bob!.engine.keySnapshot()).read([]), []);

  // bob's next rotation (a membership change), then everyone's next (another one).
  const dave = await world.connect(await world.mint("dave"));
  world.join(dave, "lobby");
  await world.settle();
  assert(await world.say(bob!, "lobby", "bob after his rotation"));
  const erin = await world.connect(await world.mint("erin"));
  world.join(erin, "lobby");
  await world.settle();
  const healed = world.delivered.length;
  assert(await world.say(alice!, "lobby", "alice after"));
  assert(await world.say(carol!, "lobby", "carol after"));
  assertEquals(await world.dm(alice!, "bob", "dm after"), "sealed");
  await world.settle();
  assertEquals(world.eventsOf(bob!, "dm").map((d) => d.text), ["dm before", "dm after"]);

  const opened = await thief.read(framesTo(world, bob!, since));
  // Inside the stolen epoch the thief reads on (the bound), but nothing past the rotations.
  assertEquals(opened.includes("inside the epoch"), true);
  for (const text of ["alice after", "carol after", "dm after"]) {
    assertEquals(opened.includes(text), false, `${text} was opened by the snapshot`);
  }
  const afterOnly = await new Thief(thief.snapshot).read(framesTo(world, bob!, healed));
  assertEquals(afterOnly, []);
  // bob's own message after his rotation is on a fresh chain the snapshot never held.
  const own = bob!.sent.length; // bob's frames carry no msg payloads: take them from the others' view
  void own;
  const bobsPayloads = world.delivered.filter((d) =>
    d.to === alice!.session && d.frame.type === "msg" && d.frame.session === bob!.session
  ).map((d) => (d.frame as Extract<Inbound, { type: "msg" }>).payload);
  assertEquals(await thief.readOwn("lobby", bobsPayloads), []);
  // Nothing from before the snapshot: the used steps are gone.
  assertEquals(await new Thief(thief.snapshot).read(framesTo(world, bob!, 0).slice(0, before)), []);
});

Deno.test("a key package reflected to its own sender is refused, and the peer's genuine packages still work", async () => {
  const world = await World.create();
  const [alice, bob] = await lobbyOf(world, "alice", "bob");
  const fromAlice = world.delivered.filter((d) =>
    d.to === bob!.session && d.frame.type === "keys" && d.frame.session === alice!.session
  ).at(-1)!.frame as Extract<Inbound, { type: "keys" }>;
  // The server sends alice's own package back to alice, as if bob had sent it.
  world.inject(alice!, { ...fromAlice, from: "bob", device: "main", session: bob!.session });
  await world.settle();
  assertEquals(world.eventsOf(alice!, "error").map((e) => e.code), ["bad_signature"]);
  assert(await world.say(bob!, "lobby", "genuine"));
  await world.settle();
  assertEquals(world.eventsOf(alice!, "message").map((m) => m.text), ["genuine"]);
});

Deno.test("a dropped message and a reordered one are reported as gaps on the victim; the others carry on", async () => {
  const world = await World.create();
  const [alice, bob, carol] = await lobbyOf(world, "alice", "bob", "carol");
  let held: Inbound | undefined;
  let count = 0;
  world.intercept = (frame, to) => {
    if (to !== bob || frame.type !== "msg" || frame.session !== alice!.session) return undefined;
    count += 1;
    if (count === 2) return []; // dropped for bob only
    if (count === 4) {
      held = frame; // held back...
      return [];
    }
    if (count === 5) return [frame, held!]; // ...and delivered after the next one
    return undefined;
  };
  for (let i = 1; i <= 6; i++) assert(await world.say(alice!, "lobby", `m${i}`));
  await world.settle();
  assertEquals(world.eventsOf(carol!, "message").map((m) => m.text), [
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
  ]);
  assertEquals(world.eventsOf(bob!, "message").map((m) => m.text), ["m1", "m3", "m5", "m4", "m6"]);
  assertEquals(world.eventsOf(bob!, "gap").map((g) => [g.reason, g.count]), [
    ["skipped", 1],
    ["skipped", 1],
    ["reordered", 1],
  ]);
  // alice's next rotation says how many she sent: the one that never came is confirmed missing.
  const dave = await world.connect(await world.mint("dave"));
  world.join(dave, "lobby");
  await world.settle();
  assertEquals(world.eventsOf(bob!, "gap").at(-1), {
    type: "gap",
    room: "lobby",
    from: "alice",
    device: "main",
    count: 1,
    reason: "missing",
  });
  assertEquals(world.eventsOf(carol!, "gap"), []);
});

Deno.test("a direct message replayed long after it was first sent is refused", async () => {
  const world = await World.create();
  const [alice, bob] = await lobbyOf(world, "alice", "bob");
  assertEquals(await world.dm(alice!, "bob", "first"), "sealed");
  await world.settle();
  const first = world.delivered.find((d) => d.to === bob!.session && d.frame.type === "dm")!.frame;
  for (let i = 0; i < 250; i++) assertEquals(await world.dm(alice!, "bob", `n${i}`), "sealed");
  await world.settle();
  world.clock += 2 * 3_600_000;
  assertEquals(await world.dm(alice!, "bob", "hours later"), "sealed");
  await world.settle();
  world.inject(bob!, first);
  await world.settle();
  const texts = world.eventsOf(bob!, "dm").map((d) => d.text);
  assertEquals(texts.filter((t) => t === "first").length, 1);
  assertEquals(texts.at(-1), "hours later");
  assertEquals(world.eventsOf(bob!, "error").map((e) => e.code), ["replay"]);
});

Deno.test("a direct message reaches both of the recipient's devices and the sender's other device", async () => {
  const world = await World.create();
  const laptop = await world.mint("bob", "laptop");
  const phone = await world.mint("bob", "phone");
  const aliceLaptop = await world.mint("alice", "laptop");
  const alicePhone = await world.mint("alice", "phone");
  const parties: Party[] = [];
  for (const device of [aliceLaptop, alicePhone, laptop, phone]) {
    const party = await world.connect(device);
    world.join(party, "lobby");
    await world.settle();
    parties.push(party);
  }
  const [a1, a2, b1, b2] = parties as [Party, Party, Party, Party];
  // Each user's second device is accepted by the others only once someone vouches or verifies:
  for (const party of parties) {
    for (const other of parties) {
      if (party === other) continue;
      const prefix = other.device.fingerprint.slice(0, 23);
      if (
        !party.device.trust.accepted(other.device.user).some((d) =>
          d.fingerprint === other.device.fingerprint
        )
      ) {
        await party.engine.trust(other.device.user, prefix);
      }
    }
  }
  await world.settle();
  assertEquals(await world.dm(a1, "bob", "to all of bob"), "sealed");
  await world.settle();
  for (const party of [b1, b2]) {
    assertEquals(world.eventsOf(party, "dm").map((d) => [d.from, d.to, d.text, d.verified]), [[
      "alice",
      "bob",
      "to all of bob",
      true,
    ]]);
  }
  assertEquals(world.eventsOf(a2, "dm").map((d) => [d.from, d.to, d.text, d.copy]), [[
    "alice",
    "bob",
    "to all of bob",
    true,
  ]]);
  assertEquals(world.eventsOf(a1, "dm"), []);
});
