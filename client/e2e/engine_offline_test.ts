/**
 * Offline delivery (issue 12), frame by frame: chain keys and direct messages for devices that
 * are offline go to their pre-keys and wait in their inboxes; a device that comes back reads its
 * inbox, then each room's log, verified like live traffic and marked as history.
 */

import { assert, assertEquals } from "../../tests/support/assert.ts";
import { type Party, World } from "../../tests/support/e2e_world.ts";

async function lobbyOf(world: World, room: string, ...parties: Party[]): Promise<void> {
  for (const party of parties) {
    world.join(party, room);
    await world.settle();
  }
}

Deno.test("a member who was offline reads, on return, what two rooms and a direct message carried, verified, in order, once", async () => {
  const world = await World.create();
  const [aliceDevice, bobDevice, carolDevice] = [
    await world.mint("alice"),
    await world.mint("bob"),
    await world.mint("carol"),
  ];
  const alice = await world.connect(aliceDevice);
  let bob = await world.connect(bobDevice);
  const carol = await world.connect(carolDevice);
  await lobbyOf(world, "lobby", alice, bob, carol);
  await lobbyOf(world, "dev", alice, bob, carol);
  assert(await world.say(alice, "lobby", "before bob left"));
  await world.settle();
  // bob's client stops; alice and carol talk on, and alice writes to him.
  world.quit(bob);
  await world.settle();
  const sent: string[] = [];
  for (let i = 0; i < 20; i++) {
    const [who, room] = i % 2 ? [carol, "dev"] : [alice, "lobby"];
    const text = `${room} ${i}`;
    assert(await world.say(who, room, text), text);
    sent.push(text);
  }
  assertEquals(await world.dm(alice, "bob", "while you were away"), "sealed");
  await world.settle();
  assert((world.inboxes.get("bob/main") ?? []).length > 0, "nothing waited in bob's inbox");

  bob = await world.reconnect(bobDevice);
  const history = world.eventsOf(bob, "message").filter((m) => m.history);
  assertEquals(history.map((m) => m.text).sort(), [...sent].sort());
  assert(history.every((m) => m.verified), JSON.stringify(history.find((m) => !m.verified)));
  for (const room of ["lobby", "dev"]) {
    const seqs = history.filter((m) => m.room === room).map((m) => m.seq!);
    assertEquals(seqs, [...seqs].sort((a, b) => a - b));
  }
  const dms = world.eventsOf(bob, "dm");
  assertEquals(dms.map((d) => [d.from, d.text, d.verified, d.history]), [
    ["alice", "while you were away", true, true],
  ]);
  assertEquals(world.eventsOf(bob, "error"), []);
  // And then live, without a gap or a duplicate.
  assert(await world.say(carol, "lobby", "welcome back"));
  await world.settle();
  const live = world.eventsOf(bob, "message").filter((m) => !m.history);
  assertEquals(live.map((m) => m.text), ["welcome back"]);
});

Deno.test("pre-keys: a one-time pre-key is used once, a device that ran out still receives, a forged pre-key is refused", async () => {
  const world = await World.create();
  const aliceDevice = await world.mint("alice");
  const bobDevice = await world.mint("bob");
  const alice = await world.connect(aliceDevice);
  let bob = await world.connect(bobDevice);
  await lobbyOf(world, "lobby", alice, bob);
  const before = world.published("bob/main")!.onetime.length;
  // bob goes offline: alice's new chain is wrapped to one of his one-time pre-keys.
  world.quit(bob);
  await world.settle();
  assertEquals(world.published("bob/main")!.onetime.length, before - 1);
  assert(await world.say(alice, "lobby", "one"));
  await world.settle();
  // The same package again (the server replays the inbox item): the one-time key is gone.
  const replay = [...world.inboxes.get("bob/main")!];
  world.inboxes.set("bob/main", [
    ...replay,
    ...replay.map((item) => ({ ...item, seq: item.seq + 1000 })),
  ]);
  // bob ran out meanwhile: the next package goes to his signed pre-key.
  world.published("bob/main")!.onetime.length = 0;
  world.join(alice, "side");
  await world.settle();
  assert(await world.say(alice, "lobby", "two"));
  await world.settle();
  bob = await world.reconnect(bobDevice);
  assertEquals(
    world.eventsOf(bob, "message").filter((m) => m.history).map((m) => m.text),
    ["one", "two"],
  );
  const codes = world.eventsOf(bob, "error").map((e) => e.code);
  assert(codes.includes("stale_key") || codes.includes("replay"), codes.join(","));

  // A pre-key the server swaps in (signed by nobody) is refused by the sender.
  const held = world.published("bob/main")!;
  const parts = held.signed!.split(".");
  parts[2] = parts[2]!.slice(0, -2) + (parts[2]!.endsWith("AA") ? "BA" : "AA");
  held.signed = parts.join(".");
  held.onetime.length = 0;
  const inboxBefore = (world.inboxes.get("bob/main") ?? []).length;
  world.quit(bob); // alice's new chain would go to bob's pre-key: the forged one
  await world.settle();
  assert(world.eventsOf(alice, "error").some((e) => e.code === "bad_signature"));
  assertEquals((world.inboxes.get("bob/main") ?? []).length, inboxBefore);
});

Deno.test("a server that hands a device enrolled later the room's log from before it existed shows it nothing of it: no key for it reached the device", async () => {
  const world = await World.create();
  const alice = await world.connect(await world.mint("alice"));
  const bob = await world.connect(await world.mint("bob"));
  await lobbyOf(world, "lobby", alice, bob);
  assert(await world.say(alice, "lobby", "before the phone existed"));
  assert(await world.say(bob, "lobby", "me neither"));
  await world.settle();
  // bob's new phone; this world's server gives it the whole log (an honest one gives it none).
  const phone = await world.reconnect(await world.mint("bob", "phone"));
  assertEquals(world.eventsOf(phone, "message").map((m) => m.text), []);
  const codes = world.eventsOf(phone, "error").map((e) => e.code);
  assertEquals(codes.length, 2, codes.join(","));
  assert(codes.every((code) => code === "no_key"), codes.join(","));
});
