/**
 * The catch-up bookkeeping of one connection: what it asks for, holds while a log is read, and
 * releases afterwards.
 */

import { assertEquals } from "../tests/support/assert.ts";
import { CatchUp, MAX_HELD_DURING_INBOX, MAX_HELD_LIVE, MemoryCursors } from "./catch_up.ts";
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

Deno.test("catch-up holds everything the server sends while the inbox is read, then releases it in order; a room whose log is read holds its own after that", async () => {
  const cursors = new MemoryCursors();
  const catchUp = new CatchUp(cursors);
  assertEquals(await catchUp.start(), { type: "inbox", after: 0 });
  const direct = {
    type: "dm",
    from: "alice",
    session: "s-alice",
    payload: "d",
  } as unknown as Extract<
    ServerMessage,
    { type: "dm" }
  >;
  const joined = { type: "joined", room: "lobby", seq: 2 } as unknown as ServerMessage;
  const live: ServerMessage[] = [keys(), joined, keys("dev"), msg("dev", 4), direct, keys("lobby")];
  for (const frame of live) assertEquals(catchUp.holdForInbox(frame), true);
  const error = { type: "error", code: "muted", message: "m" } as unknown as ServerMessage;
  assertEquals(catchUp.holdForInbox(error), false, "errors are not held");
  const inbox = { type: "inbox", items: [{ seq: 9 }], sessions: [], dropped: 0 };
  const batch = (done: boolean) =>
    ({ ...inbox, done }) as unknown as Extract<ServerMessage, { type: "inbox" }>;
  assertEquals(catchUp.holdForInbox(batch(false)), false, "the inbox itself is not held");
  assertEquals(await catchUp.inboxRead(batch(false)), []);
  assertEquals(catchUp.releaseHeld(), [], "not before the inbox's last batch");
  assertEquals(await catchUp.inboxRead(batch(true)), [{ type: "inbox_ack", upto: 9 }]);
  assertEquals(catchUp.releaseHeld(), live);
  assertEquals(catchUp.holdForInbox(msg("dev", 5)), false, "the inbox window is over");
  // Handled in order, the `joined` starts lobby's history: its key package waits for it.
  assertEquals(await catchUp.joined("lobby", 2), { type: "history", room: "lobby", after: 0 });
  assertEquals(catchUp.hold(keys("lobby")), true);
  assertEquals(catchUp.hold(keys()), false, "direct key packages wait for no room");
});

Deno.test("catch-up: when the server cannot give the inbox, what was held goes on", async () => {
  const catchUp = new CatchUp(new MemoryCursors());
  await catchUp.start();
  const frame = keys("dev");
  assertEquals(catchUp.holdForInbox(frame), true);
  catchUp.inboxFailed();
  assertEquals(catchUp.releaseHeld(), [frame]);
  assertEquals(catchUp.holdForInbox(keys("dev")), false);
});

Deno.test("catch-up holds at most MAX_HELD_DURING_INBOX frames while the inbox is read, then handles them at once", async () => {
  const catchUp = new CatchUp(new MemoryCursors());
  await catchUp.start();
  for (let i = 0; i < MAX_HELD_DURING_INBOX; i++) {
    assertEquals(catchUp.holdForInbox(keys("dev")), true);
  }
  assertEquals(catchUp.holdForInbox(keys("dev")), false);
});
