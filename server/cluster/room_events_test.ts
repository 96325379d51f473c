import { assertEquals } from "../../tests/support/assert.ts";
import { MAX_MODERATION_TEXT_CHARS } from "../../protocol/moderation/limits.ts";
import { checkEvent, type JoinEvent, type ModeratedEvent } from "./room_events.ts";

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

const ban: ModeratedEvent = {
  k: "mod",
  log: 3,
  ver: 4,
  event: {
    action: "ban",
    room: "lobby",
    actor: "alice",
    ts: 1_735_689_600_000,
    target: "bob",
    until: null,
    reason: "spam",
  },
  reason: "banned",
  removed: [{ user: "bob", sessions: [member.id], devices: [] }],
  members: [member],
};

Deno.test("checkEvent() takes a moderator's event as a client would decode it", () => {
  assertEquals(checkEvent(ban), ban);
  const offline = { ...ban, removed: [{ user: "bob", sessions: [], devices: ["bob/phone"] }] };
  assertEquals(checkEvent(offline), offline);
  const topic = {
    ...ban,
    event: { action: "topic", room: "lobby", actor: "alice", ts: 1, topic: "" },
    reason: "kicked",
    removed: [],
  };
  assertEquals(checkEvent(topic), topic);
  // At the edge: the longest text the frame takes.
  const longest = {
    ...topic,
    event: { ...topic.event, topic: "t".repeat(MAX_MODERATION_TEXT_CHARS) },
  };
  assertEquals(checkEvent(longest)?.k, "mod");
  // Fields a client would not be sent are dropped, not passed on.
  const extra = { ...topic, event: { ...topic.event, secret: "x" } };
  assertEquals((checkEvent(extra) as ModeratedEvent).event, topic.event);
});

Deno.test("checkEvent() refuses a malformed moderator's event instead of telling anyone", () => {
  const bad: Record<string, unknown>[] = [
    { ...ban, event: null },
    { ...ban, event: [] },
    { ...ban, event: "ban bob" },
    { ...ban, event: { ...ban.event, action: "smite" } },
    { ...ban, event: { ...ban.event, room: "Lobby" } },
    { ...ban, event: { ...ban.event, target: undefined } },
    { ...ban, event: { ...ban.event, reason: "line\nbreak" } },
    { ...ban, event: { ...ban.event, reason: "r".repeat(MAX_MODERATION_TEXT_CHARS + 1) } },
    { ...ban, reason: "left" },
    { ...ban, reason: undefined },
    { ...ban, removed: "bob" },
    { ...ban, removed: [{ user: "bob", sessions: ["has space"], devices: [] }] },
    { ...ban, removed: [{ user: "bob", sessions: [], devices: ["carol/main"] }] },
    { ...ban, removed: [{ user: "Bob", sessions: [], devices: [] }] },
    { ...ban, members: [{ ...member, server: "" }] },
  ];
  for (const event of bad) {
    assertEquals(checkEvent(event as never), undefined, JSON.stringify(event).slice(0, 120));
  }
});
