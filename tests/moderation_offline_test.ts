/**
 * Moderation and the membership the server keeps (issue 12), on an in-process server with raw
 * clients: a kick takes out every live device of the user at once; a ban of a member who is
 * offline takes his devices off the room (announced, so the others re-key), nothing sent after
 * it is stored for them, and after an unban he reads only what was sent while he was a member.
 * An administrator moderates a room without being in it, and receives nothing of it.
 */

import { assert, assertEquals } from "./support/assert.ts";
import { historyOf, inboxOf, join, joinedOf, online, settle } from "./support/offline_client.ts";
import type { RawClient } from "./support/raw_client.ts";
import { startServer } from "./support/server_fixture.ts";

let ids = 0;
/** Sends `moderate` from `client` and returns its `moderated` answer. */
async function moderate(client: RawClient, fields: Record<string, unknown>) {
  const id = `m${++ids}`;
  await client.send({ type: "moderate", id, room: "lobby", ...fields });
  return await client.next("moderated", (m) => m.id === id);
}

Deno.test("moderation: a kick takes every live device of the user out at once: each is told, then left; the others see each leave as kicked", async () => {
  const fx = await startServer();
  try {
    const alice = await online(fx, await fx.issue("alice"));
    await join(alice.client, "lobby");
    const laptop = await online(fx, await fx.issue("bob", { device: "laptop" }));
    await join(laptop.client, "lobby");
    const phone = await online(fx, await fx.issue("bob", { device: "phone" }));
    await joinedOf(phone.client, "lobby"); // back into bob's room by itself
    await moderate(alice.client, { command: "kick", target: "bob", reason: "both of you" });
    for (const bob of [laptop, phone]) {
      const told = await bob.client.next("moderation");
      assert(told.action === "kick" && told.reason === "both of you", JSON.stringify(told));
      await bob.client.next("left", (m) => m.room === "lobby");
    }
    const leaves = [
      await alice.client.next("presence", (m) => m.event === "leave"),
      await alice.client.next("presence", (m) => m.event === "leave"),
    ];
    assertEquals(leaves.map((m) => [m.device, m.reason, m.member]).sort(), [
      ["laptop", "kicked", false],
      ["phone", "kicked", false],
    ]);
    for (const c of [alice.client, laptop.client, phone.client]) c.close();
  } finally {
    await fx.close();
  }
});

Deno.test("moderation: banning an offline member removes his devices from the room (the version changes), stores nothing more for them, and after an unban he reads only his own intervals", async () => {
  const fx = await startServer();
  try {
    const alice = await online(fx, await fx.issue("alice"));
    await join(alice.client, "lobby");
    const bobIdentity = await fx.issue("bob");
    const bob = await online(fx, bobIdentity);
    await join(bob.client, "lobby");
    bob.client.close();
    const gone = await alice.client.next("presence", (m) => m.event === "leave");
    assertEquals(gone.offline?.device, "main");
    await alice.client.send({ type: "msg", id: "a1", room: "lobby", payload: "before-the-ban" });
    assertEquals((await alice.client.next("ack", (m) => m.id === "a1")).recipients, 1);

    const done = await moderate(alice.client, { command: "ban", target: "bob", reason: "away" });
    assert(done.kind === "done" && done.event.action === "ban");
    const removed = await alice.client.next("offline_device");
    assertEquals([removed.user, removed.device, removed.state], ["bob", "main", "removed"]);
    assert(removed.version > gone.version, "the membership version did not change");

    // Nothing reaches bob's device any more: neither a key package nor the log.
    await alice.client.send({
      type: "keys",
      room: "lobby",
      items: [{ to: "bob/main", payload: "key-after-the-ban" }],
    });
    await alice.client.send({ type: "msg", id: "a2", room: "lobby", payload: "after-the-ban" });
    assertEquals((await alice.client.next("ack", (m) => m.id === "a2")).recipients, 0);

    await moderate(alice.client, { command: "unban", target: "bob" });
    const back = await online(fx, bobIdentity);
    await settle(back.client);
    assert(!back.client.all.some((m) => m.type === "joined"), "bob came back as a member");
    const inbox = await inboxOf(back.client);
    assertEquals(inbox.items.map((item) => item.payload), []);
    await join(back.client, "lobby");
    const history = await historyOf(back.client, "lobby");
    assertEquals(history.entries.map((e) => e.payload), ["before-the-ban"]);
    for (const c of [alice.client, back.client]) c.close();
  } finally {
    await fx.close();
  }
});

Deno.test("moderation: an administrator who is not a member moderates a room and receives no message and no key of it", async () => {
  const fx = await startServer({}, { admins: ["root"] });
  try {
    const alice = await online(fx, await fx.issue("alice"));
    await join(alice.client, "lobby");
    const bob = await online(fx, await fx.issue("bob"));
    await join(bob.client, "lobby");
    const root = await online(fx, await fx.issue("root"));
    const done = await moderate(root.client, { command: "topic", text: "set from outside" });
    assert(done.kind === "done" && done.event.action === "topic");
    await moderate(root.client, { command: "op", target: "bob" });
    for (const member of [alice, bob]) {
      await member.client.next("moderation", (m) => m.action === "op" && m.actor === "root");
    }
    await alice.client.send({ type: "msg", id: "a1", room: "lobby", payload: "members-only" });
    assertEquals((await alice.client.next("ack", (m) => m.id === "a1")).recipients, 1);
    await bob.client.next("msg", (m) => m.payload === "members-only");
    await settle(root.client);
    assertEquals(
      root.client.all.filter((m) =>
        m.type === "msg" || m.type === "keys" || m.type === "joined" || m.type === "presence"
      ),
      [],
    );
    for (const c of [alice.client, bob.client, root.client]) c.close();
  } finally {
    await fx.close();
  }
});
