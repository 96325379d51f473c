import { assertEquals } from "../tests/support/assert.ts";
import { CatchUp, MAX_HELD_LIVE, MemoryCursors } from "./catch_up.ts";
import type { ServerMessage } from "../protocol/messages.ts";

type Keys = Extract<ServerMessage, { type: "keys" }>;
type Inbox = Extract<ServerMessage, { type: "inbox" }>;

const keys = (payload: string): Keys => ({
  type: "keys",
  room: "lobby",
  from: "alice",
  device: "laptop",
  session: "c2Vzc2lvbi1hbGljZS0x",
  payload,
});
const inbox = (done: boolean): Inbox => ({
  type: "inbox",
  items: [],
  sessions: [],
  dropped: 0,
  done,
});

Deno.test("CatchUp holds live key packages while the inbox is read, then hands them over in order", async () => {
  const catchUp = new CatchUp(new MemoryCursors());
  // Before the inbox is asked for (a server without a store), nothing is held.
  assertEquals(catchUp.holdKeys(keys("k0")), false);
  await catchUp.start();
  assertEquals(catchUp.holdKeys(keys("k1")), true);
  assertEquals(catchUp.holdKeys(keys("k2")), true);
  assertEquals(catchUp.keysAfterInbox(inbox(false)), []);
  assertEquals(catchUp.keysAfterInbox(inbox(true)).map((k) => k.payload), ["k1", "k2"]);
  // Once the inbox is read, live keys are handled at once again.
  assertEquals(catchUp.holdKeys(keys("k3")), false);
  assertEquals(catchUp.keysAfterInbox(inbox(true)), []);
});

Deno.test("CatchUp holds at most MAX_HELD_LIVE key packages; the rest are handled at once", async () => {
  const catchUp = new CatchUp(new MemoryCursors());
  await catchUp.start();
  for (let i = 0; i < MAX_HELD_LIVE; i++) assertEquals(catchUp.holdKeys(keys(`k${i}`)), true);
  assertEquals(catchUp.holdKeys(keys("over")), false);
  assertEquals(catchUp.keysAfterInbox(inbox(true)).length, MAX_HELD_LIVE);
});
