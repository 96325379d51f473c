import { assert, assertEquals, assertThrows } from "../../tests/support/assert.ts";
import { E2EError } from "./errors.ts";
import { KEPT_EPOCHS, RoomState } from "./room_state.ts";

const key = () => crypto.getRandomValues(new Uint8Array(32));

Deno.test("a room is ready only when joined, with a chain, and no member pending", () => {
  const room = new RoomState("lobby");
  assertEquals(room.ready, false);
  room.joined = true;
  room.members.set("s1", { user: "bob", session: "s1", status: "pending" });
  room.rotate();
  assertEquals(room.ready, false);
  room.members.get("s1")!.status = "failed"; // a member whose keys cannot verify does not block the room
  assertEquals(room.ready, true);
  assertEquals(room.readyMembers(), []);
});

Deno.test("rotation numbers epochs upwards and hands out a fresh key each time", () => {
  const room = new RoomState("lobby");
  const first = room.rotate();
  const second = room.rotate();
  assertEquals([first.chain.epoch, second.chain.epoch], [1, 2]);
  assert(first.initialKey.toHex() !== second.initialKey.toHex());
});

Deno.test("received chains: only newer epochs are accepted, and only the last few are kept", () => {
  const room = new RoomState("lobby");
  room.addReceived("s1", 2, key());
  const old = assertThrows(() => room.addReceived("s1", 2, key()), E2EError, "old epoch");
  assertEquals(old.code, "replay");
  assertThrows(() => room.addReceived("s1", 1, key()), E2EError);
  for (let epoch = 3; epoch < 3 + KEPT_EPOCHS + 2; epoch++) room.addReceived("s1", epoch, key());
  assertEquals(room.receivedChains("s1").length, KEPT_EPOCHS);
  assertEquals(room.received("s1", 2), undefined);
  room.remove("s1");
  assertEquals(room.receivedChains("s1").length, 0);
});
