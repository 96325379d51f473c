import { assertEquals, assertStringIncludes } from "../../tests/support/assert.ts";
import type { ClientEvent } from "../events.ts";
import { formatEvent } from "../format.ts";
import {
  type LineContext,
  mentions,
  type PendingMessage,
  renderEvent,
  wantsBell,
} from "./event_lines.ts";
import { createStyle } from "./style.ts";
import { stripAnsi } from "./width.ts";

const NOW = new Date(2030, 0, 2, 3, 4, 5);
const TS = new Date(2030, 0, 2, 9, 8, 7).toISOString();

function context(colour = false, pending: [string, PendingMessage][] = []): LineContext {
  return { style: createStyle(colour), me: "alice", pending: new Map(pending), now: NOW };
}

const message = (
  text: string,
  overrides: Partial<Extract<ClientEvent, { type: "message" }>> = {},
) =>
  ({
    type: "message",
    room: "lobby",
    from: "bob",
    device: "main",
    text,
    ts: TS,
    verified: true,
    trust: "first_seen",
    ...overrides,
  }) as ClientEvent;

const dm = (
  text: string,
  overrides: Partial<Extract<ClientEvent, { type: "dm" }>> = {},
) =>
  ({
    type: "dm",
    from: "bob",
    device: "main",
    to: "alice",
    text,
    ts: TS,
    verified: true,
    trust: "first_seen",
    ...overrides,
  }) as ClientEvent;

Deno.test("messages read exactly as formatEvent() words them when colour is off", () => {
  const events: ClientEvent[] = [
    message("hello"),
    message("waves", { action: true }),
    message("hi alice", { verified: false }),
    message("two\nlines"),
    dm("psst"),
    dm("nods", { verified: false, trust: "not_accepted", action: true }),
  ];
  for (const event of events) assertEquals(renderEvent(event, context()), formatEvent(event));
  assertEquals(renderEvent(message("hello"), context()), "[09:08:07] #lobby <bob> hello");
});

Deno.test("text from others is sanitized: no escape sequence reaches the terminal", () => {
  const evil = "hi\x1b]0;owned\x07\x1b[2J\rthere\u009b31m";
  for (const colour of [false, true]) {
    for (
      const event of [
        message(evil),
        dm(evil),
      ] as ClientEvent[]
    ) {
      const line = stripAnsi(renderEvent(event, context(colour))!);
      // deno-lint-ignore no-control-regex
      assertEquals(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/.test(line), false, JSON.stringify(line));
      assertStringIncludes(line, "there");
    }
  }
});

Deno.test("lines without a time of their own get the current one", () => {
  assertEquals(
    renderEvent({ type: "error", code: "x", message: "broken" }, context()),
    "[03:04:05] !! broken",
  );
  assertEquals(
    renderEvent({ type: "notice", message: "/help  list commands" }, context()),
    "[03:04:05] -- /help  list commands",
  );
});

Deno.test("our queued messages show at once; delivered shows nothing", () => {
  assertEquals(
    renderEvent({ type: "queued", id: "m1", room: "lobby", text: "hi\nall" }, context()),
    "[03:04:05] #lobby <alice> hi\n  all",
  );
  assertEquals(
    renderEvent({ type: "queued", id: "m2", to: "bob", text: "psst", action: true }, context()),
    "[03:04:05] -> *bob* * psst",
  );
  assertEquals(renderEvent({ type: "delivered", id: "m1", recipients: 1 }, context()), undefined);
});

Deno.test("an undelivered message is named by what it said", () => {
  const ctx = context(false, [["m7", { room: "lobby", text: "the meeting is at 3" }]]);
  assertEquals(
    renderEvent({ type: "undelivered", id: "m7", reason: "no keys" }, ctx),
    '[03:04:05] !! NOT delivered to #lobby: "the meeting is at 3" (no keys)',
  );
  const long = context(false, [["m8", { to: "bob", text: "x".repeat(200) }]]);
  assertStringIncludes(
    renderEvent({ type: "undelivered", id: "m8", reason: "offline" }, long)!,
    `to bob: "${"x".repeat(59)}…" (offline)`,
  );
  assertEquals(
    renderEvent({ type: "undelivered", id: "m9", reason: "lost" }, context()),
    "[03:04:05] !! message m9 was NOT delivered: lost",
  );
});

Deno.test("colour: names by hash, times dim, errors red, key changes loud", () => {
  const line = renderEvent(message("hello"), context(true))!;
  assertStringIncludes(line, "\x1b[2m[09:08:07]\x1b[22m");
  assertStringIncludes(line, createStyle(true).user("bob"));
  assertEquals(stripAnsi(line), "[09:08:07] #lobby <bob> hello");
  const error = renderEvent({ type: "error", code: "x", message: "bad" }, context(true))!;
  assertStringIncludes(error, "\x1b[31m!! bad");
  const changed = renderEvent(
    { type: "key_changed", user: "bob", device: "main", fingerprint: "AA", trusted: ["BB"] },
    context(true),
  )!;
  assertStringIncludes(
    changed,
    "\x1b[1m\x1b[33m!! WARNING: a device key of bob that you do not accept: bob/main AA",
  );
  const unverified = renderEvent(message("hi", { verified: false }), context(true))!;
  assertStringIncludes(unverified, "\x1b[1m\x1b[33m[UNVERIFIED]");
});

Deno.test("mentions() matches the user name as a word, in any case", () => {
  const YES = ["alice", "hi alice", "Alice: hi", "@alice", "(alice)", "ALICE!", "bye, alice."];
  const NO = ["malice", "alice_b", "alice-b", "alice2", "al ice", "", "xalice"];
  for (const text of YES) assertEquals(mentions(text, "alice"), true, text);
  for (const text of NO) assertEquals(mentions(text, "alice"), false, text);
  assertEquals(mentions("hi a-b", "a-b"), true);
  assertEquals(mentions("hi a.b", "a-b"), false, "not a regular expression");
});

Deno.test("wantsBell(): direct messages, mentions and moderation of us, from others only", () => {
  assertEquals(wantsBell(message("hi alice"), "alice"), true);
  assertEquals(wantsBell(message("hi bob"), "alice"), false);
  assertEquals(wantsBell(message("note to self: alice", { from: "alice" }), "alice"), false);
  assertEquals(
    wantsBell(dm("x"), "alice"),
    true,
  );
  assertEquals(wantsBell({ type: "notice", message: "alice" }, "alice"), false);
  const mute = (target: string): ClientEvent => ({
    type: "moderation",
    action: "mute",
    room: "lobby",
    actor: "carol",
    ts: TS,
    target,
    until: null,
  });
  assertEquals(wantsBell(mute("alice"), "alice"), true);
  assertEquals(wantsBell(mute("bob"), "alice"), false);
});

Deno.test("every event type renders (or is deliberately silent) without throwing", () => {
  const events: ClientEvent[] = [
    { type: "ready", user: "alice", room: "lobby" },
    { type: "members", room: "lobby", members: ["alice", "bob"] },
    { type: "join", room: "lobby", user: "bob" },
    { type: "leave", room: "lobby", user: "bob", reason: "kicked" },
    { type: "trusted", user: "bob", device: "main", fingerprint: "AA" },
    { type: "rooms", rooms: [{ name: "lobby", members: 2 }] },
    { type: "who", room: "lobby", members: [{ user: "bob", verified: false }] },
    {
      type: "whois",
      user: "bob",
      online: true,
      devices: [
        { device: "main", fingerprint: "AA", trust: "first_seen", online: true },
        { device: "evil", fingerprint: "CC", trust: "not_accepted", online: true },
      ],
    },
    { type: "gap", room: "lobby", from: "bob", device: "main", count: 2, reason: "missing" },
    {
      type: "roster_mismatch",
      room: "lobby",
      version: 4,
      from: "bob",
      device: "main",
      ours: ["alice/main", "bob/main"],
    },
    {
      type: "device_accepted",
      user: "bob",
      device: "phone",
      fingerprint: "DD",
      trust: "vouched",
      by: "main",
    },
    { type: "status", state: "reconnecting", message: "Lost; reconnecting in 1.0 s", retryInMs: 1 },
    { type: "status", state: "closed", message: "Disconnected" },
    {
      type: "moderation",
      action: "ban",
      room: "lobby",
      actor: "carol",
      ts: TS,
      target: "bob",
      until: null,
      reason: "spam",
    },
    {
      type: "moderation",
      action: "mode",
      room: "lobby",
      actor: "carol",
      ts: TS,
      modes: "m",
      changes: "+m",
    },
    { type: "bans", room: "lobby", bans: [] },
    { type: "topic", room: "lobby", topic: "Be kind", modes: "t" },
    { type: "modes", room: "lobby", modes: "" },
    { type: "motd", text: "Welcome\nBe kind" },
    {
      type: "who",
      room: "lobby",
      members: [{ user: "bob", verified: true, role: "operator", muted: true }],
    },
  ];
  for (const event of events) {
    const plain = renderEvent(event, context())!;
    // Same words as the pipe interface, after the time stamp.
    assertEquals(plain, `[03:04:05] ${formatEvent(event)}`);
    assertEquals(stripAnsi(renderEvent(event, context(true))!), plain);
  }
});

Deno.test("a moderation event about us names us 'you', in the warning colour", () => {
  const kick: ClientEvent = {
    type: "moderation",
    action: "kick",
    room: "lobby",
    actor: "carol",
    ts: TS,
    target: "alice",
    reason: "calm down",
  };
  assertEquals(
    renderEvent(kick, context()),
    "[03:04:05] -- carol kicked you from lobby: calm down",
  );
  assertEquals(formatEvent(kick), "-- carol kicked alice from lobby: calm down");
  assertEquals(renderEvent(kick, context(true)) !== renderEvent(kick, context()), true);
});

Deno.test("history messages show ↶ and their date when it is not today", () => {
  const old = new Date(2029, 11, 31, 23, 58, 0).toISOString();
  assertEquals(
    renderEvent(message("from before", { ts: old, history: true, seq: 4 }), context()),
    "[2029-12-31 23:58] ↶ #lobby <bob> from before",
  );
  assertEquals(
    renderEvent(message("from today", { history: true }), context()),
    "[09:08:07] ↶ #lobby <bob> from today",
  );
  assertEquals(
    renderEvent(dm("later", { ts: old, history: true }), context()),
    "[2029-12-31 23:58] ↶ *bob* later",
  );
  // Scrollback and search show dates without the history mark.
  assertEquals(
    renderEvent(message("scrolled to", { ts: old }), { ...context(), dated: true }),
    "[2029-12-31 23:58] #lobby <bob> scrolled to",
  );
  assertEquals(
    renderEvent(message("live", { ts: old }), context()),
    "[23:58:00] #lobby <bob> live",
  );
  const coloured = renderEvent(message("x", { history: true }), context(true))!;
  assertStringIncludes(coloured, "\x1b[2m↶\x1b[22m");
});

Deno.test("our own direct messages read as sent to the other user", () => {
  assertEquals(
    renderEvent(dm("see you", { from: "alice", device: "laptop", to: "bob" }), context()),
    "[09:08:07] -> *bob* see you",
  );
  assertEquals(
    renderEvent(
      dm("from my phone", { from: "alice", device: "phone", to: "bob", copy: true }),
      context(),
    ),
    "[09:08:07] -> *bob* (from your phone) from my phone",
  );
});

Deno.test("/rooms shows unread counts when the screen knows them", () => {
  const event: ClientEvent = {
    type: "rooms",
    rooms: [{ name: "dev", members: 3 }, { name: "lobby", members: 2 }],
  };
  const unread = new Map([["dev", 4]]);
  assertEquals(
    renderEvent(event, { ...context(), unreadIn: (room) => unread.get(room) ?? 0 }),
    "[03:04:05] -- rooms: dev (3, 4 unread), lobby (2)",
  );
});
