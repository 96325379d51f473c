/**
 * The catch-up bookkeeping of one connection: what it asks for, holds while a log is read, and
 * releases afterwards.
 */

import { assertEquals } from "../tests/support/assert.ts";
import { CatchUp, MAX_HELD_LIVE, MemoryCursors } from "./catch_up.ts";
import type { ServerMessage } from "../protocol/messages.ts";

type Msg = Extract<ServerMessage, { type: "msg" }>;
type Keys = Extract<ServerMessage, { type: "keys" }>;

const msg = (room: string, seq: number): Msg => ({
  type: "msg",
  room,
  seq,
  from: "alice",
  device: "main",
  session: "s-alice",
  ts: 0,
  payload: `p${seq}`,
} as Msg);
const keys = (room?: string): Keys => ({
  type: "keys",
  ...(room ? { room } : {}),
  from: "alice",
  device: "main",
  session: "s-alice",
  payload: "k",
} as Keys);

Deno.test("catch-up holds a room's live messages and key packages, in arrival order, while its log is read; drops what the log already gave", async () => {
  const cursors = new MemoryCursors();
  await cursors.setLastSeq("lobby", 3);
  const catchUp = new CatchUp(cursors);
  assertEquals(await catchUp.joined("lobby", 6), { type: "history", room: "lobby", after: 3 });
  const live = [msg("lobby", 5), keys("lobby"), msg("lobby", 7)];
  for (const frame of live) assertEquals(catchUp.hold(frame), true);
  // A direct key package and another room's traffic are not held.
  assertEquals(catchUp.hold(keys()), false);
  assertEquals(catchUp.hold(msg("dev", 1)), false);
  const page = { type: "history", room: "lobby", entries: [{ seq: 4 }, { seq: 5 }, { seq: 6 }] };
  const released = await catchUp.historyRead(
    { ...page, done: true } as unknown as Extract<ServerMessage, { type: "history" }>,
  );
  // Seq 5 came in the log: not again. The key package and seq 7 follow, in their order.
  assertEquals(released, [live[1], live[2]]);
  assertEquals(catchUp.hold(msg("lobby", 8)), false, "reading is over");
});

Deno.test("catch-up holds at most MAX_HELD_LIVE frames per room (the rest are in the log too)", async () => {
  const catchUp = new CatchUp(new MemoryCursors());
  await catchUp.joined("lobby", 1);
  for (let seq = 2; seq < MAX_HELD_LIVE + 5; seq++) catchUp.hold(msg("lobby", seq));
  const released = await catchUp.historyRead(
    { type: "history", room: "lobby", entries: [{ seq: 1 }], done: true } as unknown as Extract<
      ServerMessage,
      { type: "history" }
    >,
  );
  assertEquals(released.length, MAX_HELD_LIVE);
});
