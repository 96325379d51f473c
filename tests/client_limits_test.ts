/**
 * The client's own limits at and past their edges, against a real server: the longest message,
 * the outbox bound, and the outbox deadline; each refused or reported, never dropped silently.
 */

import { assert, assertEquals, assertThrows } from "./support/assert.ts";
import { ChatPeer } from "./support/chat_peer.ts";
import { startServer } from "./support/server_fixture.ts";
import { MAX_OUTBOX } from "../client/chat_client.ts";
import { MAX_TEXT_BYTES } from "../client/e2e/payloads.ts";
import type { ClientEvent } from "../client/events.ts";

const isMembers = (n: number) => (e: ClientEvent) => e.type === "members" && e.members.length === n;

Deno.test("a message of exactly MAX_TEXT_BYTES arrives whole; one byte more is refused before sending", async () => {
  const fx = await startServer();
  const alice = await ChatPeer.join(fx, "alice");
  const bob = await ChatPeer.join(fx, "bob");
  try {
    await alice.waitFor("alice sees bob", isMembers(2));
    await bob.waitFor("bob sees alice", isMembers(2));
    // Three-byte characters, so the limit is on bytes, not characters.
    const longest = "€".repeat(Math.floor(MAX_TEXT_BYTES / 3)) + "x".repeat(MAX_TEXT_BYTES % 3);
    assertEquals(new TextEncoder().encode(longest).length, MAX_TEXT_BYTES);
    const id = alice.client.send("lobby", longest);
    await alice.waitFor("delivered", (e) => e.type === "delivered" && e.id === id);
    const got = await bob.waitFor(
      "the long message",
      (e) => e.type === "message" && e.text.length === longest.length,
    );
    assertEquals(got.type === "message" && got.text === longest, true);

    const queuedBefore = alice.events.filter((e) => e.type === "queued").length;
    assertThrows(
      () => alice.client.send("lobby", longest + "x"),
      RangeError,
      `Message too long (at most ${MAX_TEXT_BYTES} bytes)`,
    );
    assertThrows(() => alice.client.send("lobby", ""), RangeError, "Nothing to send");
    assertEquals(alice.events.filter((e) => e.type === "queued").length, queuedBefore);
  } finally {
    await alice.close();
    await bob.close();
    await fx.close();
  }
});

Deno.test("the outbox holds MAX_OUTBOX messages while disconnected, refuses the next, and reports every one", async () => {
  const fx = await startServer();
  const alice = await ChatPeer.join(fx, "alice", ["lobby"], {
    reconnect: true,
    outboxTimeoutMs: 1_500,
  });
  try {
    await alice.waitFor("ready", (e) => e.type === "ready");
    await fx.server.shutdown();
    await alice.waitFor("disconnected", (e) => e.type === "status" && e.state === "disconnected");
    const ids = new Set<string>();
    for (let i = 0; i < MAX_OUTBOX; i++) ids.add(alice.client.send("lobby", `waiting ${i}`));
    assertThrows(
      () => alice.client.send("lobby", "one too many"),
      RangeError,
      `Already ${MAX_OUTBOX} messages waiting`,
    );
    // Past the deadline every one of them is reported, with the reason.
    await alice.waitFor(
      "all undelivered",
      () =>
        alice.events.filter((e) => e.type === "undelivered" && ids.has(e.id)).length === MAX_OUTBOX,
      10_000,
    );
    const reasons = alice.events.filter((e): e is Extract<ClientEvent, { type: "undelivered" }> =>
      e.type === "undelivered"
    );
    assert(
      reasons.every((e) => e.reason.startsWith("not sent within 1.5 s: not connected")),
      reasons[0]?.reason,
    );
    // And the outbox has room again.
    alice.client.send("lobby", "room again");
  } finally {
    await alice.client.quit(0);
    await fx.close();
  }
});
