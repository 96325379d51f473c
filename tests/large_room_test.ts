import { assertEquals } from "./support/assert.ts";
import { RawClient } from "./support/raw_client.ts";
import { ChatPeer } from "./support/chat_peer.ts";
import { startServer } from "./support/server_fixture.ts";
import { decodeServerMessage } from "../protocol/messages.ts";
import { MAX_FRAME_BYTES } from "../protocol/framing.ts";
import { joinedFrames } from "../server/router.ts";

// A real announcement is about 700 characters, so a room of about 90 no longer fits one frame.
const ANNOUNCEMENT = "a".repeat(700);

Deno.test("joinedFrames() splits a long member list into frames that fit, all but the last marked more", () => {
  const members = Array.from({ length: 300 }, (_, i) => ({
    user: `user${i}`,
    device: "main",
    session: "s".repeat(22),
    announce: ANNOUNCEMENT,
  }));
  const frames = joinedFrames("lobby", 7, members);
  assertEquals(frames.length > 3, true);
  const decoded = frames.map((frame) => {
    assertEquals(frame.length <= MAX_FRAME_BYTES + 4, true);
    return decodeServerMessage(frame.subarray(4));
  });
  assertEquals(decoded.map((m) => m.type === "joined" && m.more === true), [
    ...decoded.slice(0, -1).map(() => true),
    false,
  ]);
  assertEquals(decoded.flatMap((m) => m.type === "joined" ? m.members : []), members);
  assertEquals(joinedFrames("lobby", 7, []).length, 1);
});

Deno.test("joining a room of 120 members with real-sized announcements lists every member", async () => {
  const fx = await startServer({ maxRoomMembers: 200 });
  const clients: RawClient[] = [];
  try {
    for (let i = 0; i < 120; i += 10) {
      clients.push(
        ...await Promise.all(Array.from({ length: 10 }, async (_, k) => {
          const client = await RawClient.connect(fx.port, fx.caPem);
          await client.authenticate(fx.caPem, await fx.issue(`member${i + k}`));
          await client.send({ type: "announce", payload: ANNOUNCEMENT });
          await client.send({ type: "join", room: "big" });
          await client.next("joined", (m) => m.room === "big" && !m.more);
          return client;
        })),
      );
    }
    const last = await RawClient.connect(fx.port, fx.caPem);
    clients.push(last);
    await last.authenticate(fx.caPem, await fx.issue("latecomer"));
    await last.send({ type: "announce", payload: ANNOUNCEMENT });
    await last.send({ type: "join", room: "big" });
    const listed: string[] = [];
    let pieces = 0;
    for (;;) {
      const piece = await last.next("joined");
      pieces += 1;
      listed.push(...piece.members.map((m) => m.user));
      if (!piece.more) break;
    }
    assertEquals(pieces > 1, true);
    assertEquals(listed.sort(), clients.slice(0, 120).map((_, i) => `member${i}`).sort());
    // The client gathers every piece before it takes the room as joined.
    const peer = await ChatPeer.join(fx, "carol", ["big"]);
    try {
      await peer.waitFor("the room listing", (e) => e.type === "error" || e.type === "ready");
      const deadline = Date.now() + 10_000;
      while ((peer.client.roomState("big").members.length ?? 0) < 121 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assertEquals(peer.client.roomState("big").members.length, 121);
    } finally {
      await peer.close();
    }
  } finally {
    for (const client of clients) client.close();
    await fx.close();
  }
});
