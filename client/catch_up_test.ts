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

Deno.test("catch-up holds all live traffic while the inbox is read, then releases it in order; a room still being read keeps its own", async () => {
  const cursors = new MemoryCursors();
  const catchUp = new CatchUp(cursors);
  assertEquals(await catchUp.start(), { type: "inbox", after: 0 });
  // The server puts us back into lobby (its log has more) while the inbox is still coming.
  assertEquals(await catchUp.joined("lobby", 2), { type: "history", room: "lobby", after: 0 });
  const direct = {
    type: "dm",
    from: "alice",
    session: "s-alice",
    payload: "d",
  } as unknown as Extract<
    ServerMessage,
    { type: "dm" }
  >;
  const live = [keys(), keys("dev"), msg("dev", 4), direct, keys("lobby"), msg("lobby", 3)];
  for (const frame of live) assertEquals(catchUp.hold(frame), true);
  const inbox = { type: "inbox", items: [{ seq: 9 }], sessions: [], dropped: 0 };
  assertEquals(
    await catchUp.inboxRead({ ...inbox, done: false } as unknown as Extract<
      ServerMessage,
      { type: "inbox" }
    >),
    [],
  );
  assertEquals(catchUp.released(), [], "not before the inbox's last batch");
  assertEquals(
    await catchUp.inboxRead({ ...inbox, done: true } as unknown as Extract<
      ServerMessage,
      { type: "inbox" }
    >),
    [{ type: "inbox_ack", upto: 9 }],
  );
  // Everything but lobby's, in order; lobby's wait for its log.
  assertEquals(catchUp.released(), [live[0], live[1], live[2], live[3]]);
  assertEquals(catchUp.hold(msg("dev", 5)), false, "the inbox window is over");
  const released = await catchUp.historyRead(
    {
      type: "history",
      room: "lobby",
      entries: [{ seq: 1 }, { seq: 2 }],
      done: true,
    } as unknown as Extract<ServerMessage, { type: "history" }>,
  );
  assertEquals(released, [live[4], live[5]]);
});

Deno.test("catch-up: when the server cannot give the inbox, what was held goes on", async () => {
  const catchUp = new CatchUp(new MemoryCursors());
  await catchUp.start();
  const frame = keys("dev");
  assertEquals(catchUp.hold(frame), true);
  catchUp.inboxFailed();
  assertEquals(catchUp.released(), [frame]);
  assertEquals(catchUp.hold(keys("dev")), false);
});
