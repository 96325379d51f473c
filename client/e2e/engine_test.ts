import { assert, assertEquals } from "../../tests/support/assert.ts";
import { World } from "../../tests/support/e2e_world.ts";

Deno.test("two members of a room read each other, verified, and a third joins and reads what follows", async () => {
  const world = await World.create();
  const alice = await world.connect(await world.mint("alice"));
  const bob = await world.connect(await world.mint("bob"));
  world.join(alice, "lobby");
  world.join(bob, "lobby");
  await world.settle();
  assert(await world.say(alice, "lobby", "hi bob"));
  await world.settle();
  const got = world.eventsOf(bob, "message");
  assertEquals(got.map((m) => [m.from, m.text, m.verified, m.trust]), [[
    "alice",
    "hi bob",
    true,
    "first_seen",
  ]]);
  const carol = await world.connect(await world.mint("carol"));
  world.join(carol, "lobby");
  await world.settle();
  assert(await world.say(bob, "lobby", "hello all"));
  await world.settle();
  assertEquals(world.eventsOf(carol, "message").map((m) => m.text), ["hello all"]);
  assertEquals(world.eventsOf(alice, "message").map((m) => m.text), ["hello all"]);
  assertEquals(world.eventsOf(carol, "error"), []);
  assertEquals(world.eventsOf(bob, "error"), []);
});
