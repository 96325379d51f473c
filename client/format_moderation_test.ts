import { assertEquals } from "../tests/support/assert.ts";
import type { ClientEvent, ModerationNotice } from "./events.ts";
import { formatEvent } from "./format.ts";
import { describeModes } from "./format_moderation.ts";
import { banListing, moderationNotice } from "./moderation_events.ts";

// Noon today: times on the day they are shown read as HH:MM:SS.
const T0 = new Date().setHours(12, 0, 0, 0);
const at = (ms: number) => new Date(T0 + ms).toISOString();

function notice(fields: Partial<ModerationNotice> & Pick<ModerationNotice, "action">): ClientEvent {
  return { type: "moderation", room: "lobby", actor: "carol", ts: at(0), ...fields };
}

Deno.test("formatEvent(): every moderation action says who did what to whom, how long and why", () => {
  const cases: [ClientEvent, string][] = [
    [notice({ action: "kick", target: "bob" }), "-- carol kicked bob from lobby"],
    [
      notice({ action: "kick", target: "bob", reason: "spamming links" }),
      "-- carol kicked bob from lobby: spamming links",
    ],
    [
      notice({ action: "ban", target: "bob", until: at(7_200_000), reason: "flooding" }),
      "-- carol banned bob from lobby for 2h (until 14:00:00): flooding",
    ],
    [
      notice({ action: "ban", target: "bob", until: null }),
      "-- carol banned bob from lobby for good",
    ],
    [notice({ action: "unban", target: "bob" }), "-- carol lifted the ban on bob in lobby"],
    [
      notice({ action: "mute", target: "bob", until: at(600_000) }),
      "-- carol muted bob in lobby for 10m (until 12:10:00)",
    ],
    [
      notice({ action: "mute", target: "bob", until: null }),
      "-- carol muted bob in lobby for good",
    ],
    [notice({ action: "unmute", target: "bob" }), "-- carol unmuted bob in lobby"],
    [notice({ action: "op", target: "bob" }), "-- carol made bob an operator of lobby"],
    [notice({ action: "deop", target: "bob" }), "-- carol took lobby's operator rights from bob"],
    [
      notice({ action: "voice", target: "bob" }),
      "-- carol gave bob a voice in lobby (they may speak while it is +m)",
    ],
    [notice({ action: "devoice", target: "bob" }), "-- carol took bob's voice in lobby"],
    [
      notice({ action: "invite", target: "dave", until: at(3_600_000) }),
      "-- carol invited dave into lobby (once, until 13:00:00)",
    ],
    [notice({ action: "topic", topic: "Be kind" }), "-- carol set the topic of lobby: Be kind"],
    [notice({ action: "topic", topic: "" }), "-- carol cleared the topic of lobby"],
    [
      notice({ action: "mode", modes: "imt", changes: "+i" }),
      "-- carol set mode +i on lobby; modes now +imt (invite-only, moderated, topic by operators)",
    ],
    [
      notice({ action: "mode", modes: "", changes: "-m" }),
      "-- carol set mode -m on lobby; modes now none",
    ],
  ];
  for (const [event, line] of cases) assertEquals(formatEvent(event), line);
});

Deno.test("formatEvent(): reasons and topics from others cannot drive the terminal", () => {
  const line = formatEvent(notice({ action: "kick", target: "bob", reason: "x\u001b[2Jy" }));
  assertEquals(line, "-- carol kicked bob from lobby: x\ufffd[2Jy");
  assertEquals(
    formatEvent({ type: "topic", room: "lobby", topic: "\u009b31m", modes: "" }),
    "-- topic of lobby: \ufffd31m (modes: none)",
  );
});

Deno.test("formatEvent(): the answers to /banned, /topic, /mode, /motd and /who with roles", () => {
  const bans = [
    banListing({ user: "bob", by: "carol", reason: "spam", at: T0, until: T0 + 60_000 }),
    banListing({ user: "dave", by: "alice", reason: "", at: T0, until: null }),
  ];
  assertEquals(
    formatEvent({ type: "bans", room: "lobby", bans }),
    "-- bans in lobby:\n   bob, by carol at 12:00:00, until 12:01:00: spam\n   dave, by alice at 12:00:00, for good",
  );
  assertEquals(
    formatEvent({ type: "bans", room: "lobby", bans: [] }),
    "-- nobody is banned from lobby",
  );
  assertEquals(
    formatEvent({ type: "topic", room: "lobby", topic: "", modes: "m" }),
    "-- lobby has no topic (modes: +m (moderated))",
  );
  assertEquals(
    formatEvent({ type: "modes", room: "lobby", modes: "it" }),
    "-- modes of lobby: +it (invite-only, topic by operators)",
  );
  assertEquals(
    formatEvent({ type: "motd", text: "Welcome!\nBe kind." }),
    "-- message of the day:\n  Welcome!\n  Be kind.",
  );
  assertEquals(
    formatEvent({ type: "motd", text: null }),
    "-- this server has no message of the day",
  );
  assertEquals(
    formatEvent({
      type: "who",
      room: "lobby",
      members: [
        { user: "alice", verified: true, role: "owner" },
        { user: "bob", verified: false, role: "member", muted: true },
        { user: "carol", verified: true, role: "operator" },
        { user: "root", verified: true, role: "admin" },
        { user: "zed", verified: null },
      ],
    }),
    "-- lobby: alice (owner), bob (muted) [UNVERIFIED], carol (operator), root (admin), zed",
  );
  assertEquals(describeModes(""), "none");
});

Deno.test("moderationNotice(): times as ISO 8601, until null kept, only the fields of the action", () => {
  assertEquals(
    moderationNotice({
      action: "ban",
      room: "lobby",
      actor: "carol",
      ts: T0,
      target: "bob",
      until: null,
      reason: "spam",
    }),
    {
      type: "moderation",
      action: "ban",
      room: "lobby",
      actor: "carol",
      ts: at(0),
      target: "bob",
      reason: "spam",
      until: null,
    },
  );
  assertEquals(
    moderationNotice({
      action: "mode",
      room: "lobby",
      actor: "carol",
      ts: T0,
      modes: "m",
      changes: "+m",
    }),
    {
      type: "moderation",
      action: "mode",
      room: "lobby",
      actor: "carol",
      ts: at(0),
      modes: "m",
      changes: "+m",
    },
  );
  assertEquals(
    moderationNotice({
      action: "invite",
      room: "lobby",
      actor: "carol",
      ts: T0,
      target: "d",
      until: T0 + 1,
    }),
    {
      type: "moderation",
      action: "invite",
      room: "lobby",
      actor: "carol",
      ts: at(0),
      target: "d",
      until: at(1),
    },
  );
});
