import { assertEquals } from "../../tests/support/assert.ts";
import { checkEvent, type JoinEvent } from "./room_events.ts";

const member = { id: "c2Vzc2lvbg", user: "alice", device: "main", server: "c2VydmVy" };
const join: JoinEvent = {
  k: "join",
  log: 3,
  ver: 2,
  added: [],
  sessions: [{
    user: "alice",
    device: "main",
    session: "c2Vzc2lvbg",
    announce: "YW5ub3VuY2U",
    server: "c2VydmVy",
  }],
  opened: ["alice/main"],
  members: [member],
};

Deno.test("checkEvent() takes each kind of well-formed event", () => {
  assertEquals(checkEvent(join), join);
  const left = { k: "left", log: 3, ver: 3, user: "alice", sessions: [member.id], members: [] };
  assertEquals(checkEvent(left), left);
  const end = { k: "end", log: 3, ver: 3, ends: [{ id: member.id, reason: "quit" }], members: [] };
  assertEquals(checkEvent(end), end);
  const device = {
    k: "device",
    log: 3,
    ver: 3,
    changes: [{ address: "alice/phone", state: "removed" }],
    opened: [],
    members: [member],
  };
  assertEquals(checkEvent(device), device);
});

Deno.test("checkEvent() refuses malformed events instead of applying them half-way", () => {
  const bad: Record<string, unknown>[] = [
    { ...join, k: "kick" },
    { ...join, members: [{ ...member, user: "Alice" }] },
    { ...join, members: "everyone" },
    { ...join, sessions: [{ ...join.sessions[0], announce: "" }] },
    { ...join, sessions: [{ ...join.sessions[0], announce: "a".repeat(8193) }] },
    { ...join, opened: ["alice"] },
    { ...join, added: [{ user: "bob", device: "x" }] },
    { k: "left", log: 1, ver: 1, user: "bob", sessions: ["has space"], members: [] },
    { k: "end", log: 1, ver: 1, ends: [{ id: member.id, reason: "r".repeat(65) }], members: [] },
    {
      k: "device",
      log: 1,
      ver: 1,
      changes: [{ address: "a/b", state: "gone" }],
      opened: [],
      members: [],
    },
  ];
  for (const event of bad) {
    assertEquals(checkEvent(event as never), undefined, JSON.stringify(event).slice(0, 80));
  }
  // At the edge: a reason of 64 characters and a description of 8192 are taken.
  const longest = {
    k: "end",
    log: 1,
    ver: 1,
    ends: [{ id: member.id, reason: "r".repeat(64) }],
    members: [],
  };
  assertEquals(checkEvent(longest)?.k, "end");
  const described = { ...join, sessions: [{ ...join.sessions[0]!, announce: "a".repeat(8192) }] };
  assertEquals(checkEvent(described)?.k, "join");
});
