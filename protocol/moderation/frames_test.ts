import { assertEquals, assertThrows } from "../../tests/support/assert.ts";
import { ProtocolError } from "../errors.ts";
import { decodeClientMessage, decodeServerMessage } from "../messages.ts";
import {
  MAX_COMMAND_CHARS,
  MAX_LISTED_BANS,
  MAX_MODE_CHANGES_CHARS,
  MAX_MODERATION_TEXT_CHARS,
  MAX_MOTD_BYTES,
  MAX_TARGET_CHARS,
} from "./limits.ts";

const body = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const client = (value: unknown) => decodeClientMessage(body(value));
const server = (value: unknown) => decodeServerMessage(body(value));

/** Asserts `decode` refuses `value` as bad_field, naming `field`. */
function badField(decode: (value: unknown) => unknown, value: unknown, field: string): void {
  const error = assertThrows(() => decode(value), ProtocolError);
  assertEquals((error as ProtocolError).code, "bad_field", JSON.stringify(value));
  assertEquals((error as Error).message.includes(`"${field}"`), true, (error as Error).message);
}

Deno.test("decodeClientMessage() reads a moderate frame loosely: the values are the server's to judge", () => {
  const request = {
    type: "moderate",
    id: "k1",
    room: "lobby",
    command: "NUKE",
    target: "Bob!",
    reason: "\u0007 a bell",
    durationMs: -1.5,
    text: "t",
    changes: "+x",
    extra: "ignored",
  };
  const { extra: _extra, ...decoded } = request;
  assertEquals(client(request), decoded);
  assertEquals(client({ type: "moderate", id: "k2", command: "motd" }), {
    type: "moderate",
    id: "k2",
    command: "motd",
  });
});

Deno.test("decodeClientMessage() refuses a moderate frame past the wire's bounds, at and past each edge", () => {
  const base = { type: "moderate", id: "k1", room: "lobby", command: "kick" };
  const edges: [string, number][] = [
    ["command", MAX_COMMAND_CHARS],
    ["target", MAX_TARGET_CHARS],
    ["reason", MAX_MODERATION_TEXT_CHARS],
    ["text", MAX_MODERATION_TEXT_CHARS],
    ["changes", MAX_MODE_CHANGES_CHARS],
  ];
  for (const [field, max] of edges) {
    assertEquals(
      (client({ ...base, [field]: "x".repeat(max) }) as Record<string, unknown>)[field],
      "x".repeat(max),
    );
    badField(client, { ...base, [field]: "x".repeat(max + 1) }, field);
    badField(client, { ...base, [field]: 5 }, field);
  }
  badField(client, { ...base, command: undefined }, "command");
  badField(client, { ...base, durationMs: "2h" }, "durationMs");
  badField(client, { ...base, room: "Lobby" }, "room");
  badField(client, { ...base, id: "" }, "id");
});

Deno.test("decodeServerMessage() reads every moderation event, and refuses ill-formed ones", () => {
  const base = { type: "moderation", room: "lobby", actor: "alice", ts: 5 };
  const events = [
    { action: "kick", target: "bob" },
    { action: "kick", target: "bob", reason: "spam" },
    { action: "ban", target: "bob", until: null },
    { action: "ban", target: "bob", until: 9, reason: "spam" },
    { action: "mute", target: "bob", until: 9 },
    { action: "invite", target: "dave", until: 9 },
    { action: "unban", target: "bob" },
    { action: "unmute", target: "bob" },
    { action: "op", target: "bob" },
    { action: "deop", target: "bob" },
    { action: "voice", target: "bob" },
    { action: "devoice", target: "bob" },
    { action: "topic", topic: "" },
    { action: "mode", modes: "imt", changes: "+i-m" },
  ];
  for (const event of events) assertEquals(server({ ...base, ...event }), { ...base, ...event });
  badField(server, { ...base, action: "smite", target: "bob" }, "action");
  badField(server, { ...base, action: "kick" }, "target");
  badField(server, { ...base, action: "ban", target: "bob" }, "until");
  badField(server, { ...base, action: "invite", target: "bob", until: null }, "until");
  badField(server, { ...base, action: "topic", topic: "\u001b[2J" }, "topic");
  badField(server, { ...base, action: "kick", target: "bob", reason: "\n" }, "reason");
  badField(server, { ...base, action: "mode", modes: "IM", changes: "+i" }, "modes");
  badField(server, { ...base, action: "mode", modes: "i", changes: "i" }, "changes");
  badField(server, { ...base, actor: "../x", action: "op", target: "bob" }, "actor");
});

Deno.test("decodeServerMessage() reads every moderated answer; a banned list is bounded", () => {
  const done = {
    type: "moderated",
    id: "k1",
    kind: "done",
    event: { action: "op", room: "lobby", actor: "alice", ts: 1, target: "bob" },
  };
  assertEquals(server(done), done);
  const ban = { user: "bob", by: "alice", reason: "", at: 1, until: null };
  const banned = { type: "moderated", id: "k2", kind: "banned", room: "lobby", bans: [ban] };
  assertEquals(server({ ...banned, more: true }), { ...banned, more: true });
  const full = { ...banned, bans: Array(MAX_LISTED_BANS).fill(ban) };
  assertEquals(server(full), full);
  badField(server, { ...banned, bans: Array(MAX_LISTED_BANS + 1).fill(ban) }, "bans");
  badField(server, { ...banned, bans: [{ ...ban, until: "never" }] }, "until");
  const topic = {
    type: "moderated",
    id: "k3",
    kind: "topic",
    room: "lobby",
    topic: "t",
    modes: "",
  };
  assertEquals(server(topic), topic);
  const modes = { type: "moderated", id: "k4", kind: "modes", room: "lobby", modes: "m" };
  assertEquals(server(modes), modes);
  badField(server, { ...modes, kind: "motd" }, "kind");
  badField(server, { ...done, event: "kick" }, "event");
});

Deno.test("decodeServerMessage() reads motd: lines and tabs pass, other controls and bidi overrides do not, at and past its size", () => {
  assertEquals(server({ type: "motd", text: null }), { type: "motd", text: null });
  assertEquals(server({ type: "motd", id: "k1", text: "a\n\tb" }), {
    type: "motd",
    id: "k1",
    text: "a\n\tb",
  });
  const longest = "x".repeat(MAX_MOTD_BYTES);
  assertEquals(server({ type: "motd", text: longest }), { type: "motd", text: longest });
  for (const text of [longest + "x", "a\u001bb", "a\rb", "a\u202eb", "a\u2066b", 5, undefined]) {
    badField(server, { type: "motd", text }, "text");
  }
});

Deno.test("decodeServerMessage() reads who with roles, one per member, and refuses unknown roles", () => {
  const who = {
    type: "who",
    room: "lobby",
    members: ["alice", "bob", "root"],
    roles: [
      { user: "alice", role: "owner" },
      { user: "bob", role: "member", muted: true },
      { user: "root", role: "admin" },
    ],
  };
  assertEquals(server(who), who);
  const { roles: _roles, ...plain } = who;
  assertEquals(server(plain), plain);
  badField(server, { ...who, roles: [{ user: "bob", role: "king" }] }, "role");
  badField(server, { ...who, roles: [{ user: "bob", role: "member", muted: false }] }, "muted");
});
