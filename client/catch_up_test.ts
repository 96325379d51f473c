import { assertEquals } from "../tests/support/assert.ts";
import type { ServerMessage } from "../protocol/messages.ts";
import { CatchUp, MAX_HELD_DURING_INBOX, MemoryCursors } from "./catch_up.ts";

const keys = (payload: string): ServerMessage => ({
  type: "keys",
  from: "alice",
  device: "main",
  session: "c2Vzc2lvbg",
  payload,
});
const inbox = (done: boolean): ServerMessage => ({
  type: "inbox",
  items: [],
  sessions: [],
  dropped: 0,
  done,
});

Deno.test("CatchUp holds what comes while the inbox is read and hands it back in order after", async () => {
  const catchUp = new CatchUp(new MemoryCursors());
  assertEquals(catchUp.holdForInbox(keys("early")), false); // no inbox read asked for yet
  await catchUp.start();
  assertEquals(catchUp.holdForInbox(keys("k1")), true);
  assertEquals(catchUp.holdForInbox(keys("k2")), true);
  assertEquals(catchUp.holdForInbox(inbox(false)), false); // the inbox's own frames pass
  assertEquals(catchUp.releaseHeld(), []);
  await catchUp.inboxRead(inbox(false) as Extract<ServerMessage, { type: "inbox" }>);
  assertEquals(catchUp.releaseHeld(), []);
  await catchUp.inboxRead(inbox(true) as Extract<ServerMessage, { type: "inbox" }>);
  assertEquals(catchUp.releaseHeld().map((m) => (m as { payload: string }).payload), ["k1", "k2"]);
  assertEquals(catchUp.holdForInbox(keys("late")), false);
});

Deno.test("CatchUp stops holding when the inbox is refused, and past MAX_HELD_DURING_INBOX", async () => {
  const refused = new CatchUp(new MemoryCursors());
  await refused.start();
  assertEquals(refused.holdForInbox(keys("k1")), true);
  const error: ServerMessage = {
    type: "error",
    code: "store_unavailable",
    message: "no",
    fatal: false,
  };
  assertEquals(refused.holdForInbox(error), false);
  assertEquals(refused.releaseHeld().length, 1);

  const full = new CatchUp(new MemoryCursors());
  await full.start();
  for (let i = 0; i < MAX_HELD_DURING_INBOX; i++) assertEquals(full.holdForInbox(keys("k")), true);
  assertEquals(full.holdForInbox(keys("one more")), false);
});
