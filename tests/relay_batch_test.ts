/**
 * The room messages that arrive in one turn of the server's event loop are checked, stored and
 * relayed together (group commit, `server/offline.ts`), over real TLS on 127.0.0.1 with a real
 * SQLite store: each is still judged on its own (a muted sender among others is refused, the
 * others pass), and the accepted ones are numbered once each, in one order for everyone.
 */

import { assert, assertEquals } from "./support/assert.ts";
import { join, online } from "./support/offline_client.ts";
import { startServer } from "./support/server_fixture.ts";

/** Senders writing at once; two of them muted. */
const SENDERS = ["bob", "carol", "dave", "erin", "frank", "grace"];
const MUTED = new Set(["dave", "grace"]);
/** Messages each sender writes in one go. */
const EACH = 5;

Deno.test("messages of one turn: a muted sender's are refused, every other one is stored once, acked and relayed in one order", async () => {
  const fx = await startServer();
  try {
    const alice = await online(fx, await fx.issue("alice"));
    await join(alice.client, "lobby"); // alice made the room: she owns it
    const senders = new Map<string, Awaited<ReturnType<typeof online>>>();
    for (const name of SENDERS) {
      const sender = await online(fx, await fx.issue(name));
      await join(sender.client, "lobby");
      senders.set(name, sender);
    }
    for (const [i, name] of [...MUTED].entries()) {
      await alice.client.send({
        type: "moderate",
        id: `mute-${i}`,
        room: "lobby",
        command: "mute",
        target: name,
      });
      await alice.client.next("moderated", (m) => m.id === `mute-${i}`);
    }

    // Everyone writes at once: the server reads them in the same turns and batches them.
    await Promise.all(
      [...senders].map(([name, { client }]) =>
        Promise.all(
          Array.from({ length: EACH }, (_, k) =>
            client.send({
              type: "msg",
              id: `${name}-${k}`,
              room: "lobby",
              payload: `${name}-${k}`,
            })),
        )
      ),
    );
    for (const [name, { client }] of senders) {
      for (let k = 0; k < EACH; k++) {
        const id = `${name}-${k}`;
        if (MUTED.has(name)) {
          const refusal = await client.next("error", (m) => m.id === id);
          assertEquals([refusal.code, refusal.room], ["muted", "lobby"]);
        } else {
          const ack = await client.next("ack", (m) => m.id === id);
          assertEquals(ack.recipients, SENDERS.length); // alice and the five others
        }
      }
    }

    // alice saw every accepted message once, none of the muted, numbered 1..n in her order.
    const expected = SENDERS.filter((name) => !MUTED.has(name)).length * EACH;
    const seen: { seq: number; payload: string; from: string }[] = [];
    for (let i = 0; i < expected; i++) seen.push(await alice.client.next("msg"));
    assertEquals(seen.map((m) => m.seq), Array.from({ length: expected }, (_, i) => i + 1));
    assertEquals(new Set(seen.map((m) => m.payload)).size, expected);
    assert(seen.every((m) => !MUTED.has(m.from)), "a muted sender's message was relayed");
    // Each sender's own messages keep the order they were written in.
    for (const name of SENDERS) {
      const own = seen.filter((m) => m.from === name).map((m) => m.payload);
      if (!MUTED.has(name)) {
        assertEquals(
          own,
          Array.from({ length: EACH }, (_, k) => `${name}-${k}`),
        );
      }
    }
    // Every other member received the same order.
    const bob = senders.get("bob")!.client;
    const bobSaw = bob.all.filter((m) => m.type === "msg").map((m) => m.type === "msg" && m.seq);
    assertEquals(bobSaw, seen.filter((m) => m.from !== "bob").map((m) => m.seq));
  } finally {
    await fx.close();
  }
});
