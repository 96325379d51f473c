import { assertEquals } from "../tests/support/assert.ts";
import type { ClientEvent } from "./events.ts";
import { formatEvent, HISTORY_MARK, messageClock } from "./format.ts";

Deno.test("messageClock(): the time today, the date and time on another day", () => {
  const now = new Date(2030, 5, 15, 12, 0, 0);
  assertEquals(messageClock(new Date(2030, 5, 15, 0, 0, 1), now), "00:00:01");
  assertEquals(messageClock(new Date(2030, 5, 14, 23, 59, 59), now), "2030-06-14 23:59");
  assertEquals(messageClock(new Date(2029, 5, 15, 9, 5, 0).toISOString(), now), "2029-06-15 09:05");
});

Deno.test("formatEvent(): history messages are marked, live ones read as before", () => {
  const ts = new Date(2001, 0, 2, 3, 4, 5).toISOString();
  const event: ClientEvent = {
    type: "message",
    room: "lobby",
    from: "bob",
    device: "main",
    text: "hi",
    ts,
    verified: true,
    trust: "verified",
    seq: 12,
  };
  assertEquals(formatEvent(event), "[03:04:05] #lobby <bob> hi");
  assertEquals(
    formatEvent({ ...event, history: true }),
    `[2001-01-02 03:04] ${HISTORY_MARK} #lobby <bob> hi`,
  );
  assertEquals(
    formatEvent({
      type: "dm",
      from: "bob",
      device: "main",
      to: "alice",
      text: "psst",
      ts,
      verified: true,
      trust: "verified",
      history: true,
    }),
    `[2001-01-02 03:04] ${HISTORY_MARK} *bob* psst`,
  );
});

Deno.test("formatEvent(): a member who went offline is not shown as having left", () => {
  const left: ClientEvent = { type: "leave", room: "lobby", user: "bob", reason: "quit" };
  assertEquals(formatEvent(left), "-- bob left lobby");
  assertEquals(
    formatEvent({ ...left, offline: true }),
    "-- bob went offline (still a member of lobby: messages wait for them)",
  );
  assertEquals(formatEvent({ ...left, reason: "kicked" }), "-- bob left lobby (kicked)");
});
