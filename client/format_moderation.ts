/**
 * Moderation events as lines for people (`format.ts` and the chat screen use these): who did
 * what to whom in which room, for how long and why, and what a room's modes mean. Reasons and
 * topics come from other people and pass through `sanitize`.
 *
 * @module
 */

import { formatDuration } from "../protocol/duration.ts";
import type { Standing } from "../protocol/moderation/types.ts";
import type { BanListing, ModerationNotice } from "./events.ts";
import { messageClock, sanitize } from "./format_text.ts";

/** What each mode letter means. */
const MODE_WORDS: Readonly<Record<string, string>> = {
  i: "invite-only",
  m: "moderated",
  t: "topic by operators",
};

/** A room's mode letters with their meaning: `+mt (moderated, topic by operators)`, or `none`. */
export function describeModes(modes: string): string {
  if (modes === "") return "none";
  const words = [...modes].map((letter) => MODE_WORDS[letter] ?? letter);
  return `+${modes} (${words.join(", ")})`;
}

/** "for 2h (until 14:05:00)", or "for good" when `until` is null. */
function lasting(ts: string, until: string | null | undefined): string {
  if (until === null || until === undefined) return "for good";
  const ms = Math.max(0, Date.parse(until) - Date.parse(ts));
  return `for ${formatDuration(ms)} (until ${messageClock(until)})`;
}

/** `: why`, or nothing when no reason was given. */
function because(reason: string | undefined): string {
  return reason ? `: ${sanitize(reason)}` : "";
}

/**
 * A moderation event as one line (without the `-- ` prefix); `me` (our user name) is named
 * "you" when we are the target.
 */
export function formatModeration(event: ModerationNotice, me?: string): string {
  const { actor, room } = event;
  const target = event.target === me && me !== undefined ? "you" : event.target ?? "";
  switch (event.action) {
    case "kick":
      return `${actor} kicked ${target} from ${room}${because(event.reason)}`;
    case "ban":
      return `${actor} banned ${target} from ${room} ${lasting(event.ts, event.until)}${
        because(event.reason)
      }`;
    case "unban":
      return `${actor} lifted the ban on ${target} in ${room}`;
    case "mute":
      return `${actor} muted ${target} in ${room} ${lasting(event.ts, event.until)}`;
    case "unmute":
      return `${actor} unmuted ${target} in ${room}`;
    case "op":
      return `${actor} made ${target} an operator of ${room}`;
    case "deop":
      return `${actor} took ${room}'s operator rights from ${target}`;
    case "voice":
      return `${actor} gave ${target} a voice in ${room} (they may speak while it is +m)`;
    case "devoice":
      return `${actor} took ${target}'s voice in ${room}`;
    case "invite":
      return `${actor} invited ${target} into ${room} (once, until ${
        messageClock(event.until ?? event.ts)
      })`;
    case "topic":
      return event.topic
        ? `${actor} set the topic of ${room}: ${sanitize(event.topic)}`
        : `${actor} cleared the topic of ${room}`;
    case "mode":
      return `${actor} set mode ${event.changes} on ${room}; modes now ${
        describeModes(event.modes ?? "")
      }`;
  }
}

/** The answer to `/banned`, one ban a line. */
export function formatBans(room: string, bans: BanListing[]): string {
  if (bans.length === 0) return `-- nobody is banned from ${room}`;
  return [
    `-- bans in ${room}:`,
    ...bans.map((ban) =>
      `   ${ban.user}, by ${ban.by} at ${messageClock(ban.at)}, ${
        ban.until === null ? "for good" : `until ${messageClock(ban.until)}`
      }${because(ban.reason)}`
    ),
  ].join("\n");
}

/** A room member as `/who` lists it: `carol (operator)`, `bob (muted)`, `alice (owner)`. */
export function describeMember(member: { user: string; role?: Standing; muted?: true }): string {
  const notes = [
    ...(member.role && member.role !== "member" ? [member.role] : []),
    ...(member.muted ? ["muted"] : []),
  ];
  return notes.length ? `${member.user} (${notes.join(", ")})` : member.user;
}
